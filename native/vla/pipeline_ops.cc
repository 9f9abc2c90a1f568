#include "vla/pipeline_ops.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>

#include "core/error.h"

namespace tv::vla {

namespace {

using Clock = std::chrono::steady_clock;

// The CPU path, for engines whose memory is host memory (the CPU engines, which finish with their
// buffers before enqueue returns): steps read and write engine buffers in place; the patches and the
// logits (whole, every step) are copied.
class HostPipelineOps final : public PipelineOps {
 public:
  HostPipelineOps(VlaModel const& model, engine::Stream& stream) : model_(model), stream_(stream) {
    TV_CHECK_INTERNAL(model.memory->location() == engine::MemoryLocation::kHost, "the host pipeline needs host engine memory");
    TextModelInfo const& t = model.text;
    // Tokens a reduced vocabulary lacks stay at -inf for good: only mapped entries are ever written.
    logitsHost_.assign(static_cast<std::size_t>(t.vocabSize), model.vocabMap ? -std::numeric_limits<float>::infinity() : 0.0f);
    if (model.vocabMap) reducedHost_.resize(static_cast<std::size_t>(model.logitsWidth()));
  }

  VisionInputs preprocess(std::vector<FrameView> const& frames, EngineBuffer& patches) override {
    VisionInputs inputs = preprocessFrames(frames, model_.preprocess, false);
    std::size_t const bytes = inputs.patches.size() * sizeof(std::uint16_t);
    model_.memory->upload(reserve(patches, *model_.memory, bytes), inputs.patches.data(), bytes, stream_);
    inputs.patches = {};
    return inputs;
  }

  // Host engine memory is plain memory that the engines finish with before enqueue returns, so the
  // vision output is read and inputs_embeds written in place.
  void embed(std::int32_t const* ids, int count, void const* image, int imageRows, void* out) override {
    model_.embedding.embed(ids, count, model_.tokens.imagePad, static_cast<std::uint16_t const*>(image), imageRows,
                           static_cast<std::uint16_t*>(out));
  }

  void ropeTable(MropePositions const& positions, void* table) override {
    TextModelInfo const& t = model_.text;
    mropeCosSin(positions, 0, model_.kvCapacity, t.headDim, t.mropeSection, t.ropeTheta, static_cast<float*>(table));
  }

  std::int32_t sample(void* logits, SampleStep const& step, Sampler& sampler) override {
    VlaModel const& m = model_;
    int const vocab = m.text.vocabSize;
    if (m.vocabMap) {
      m.memory->download(reducedHost_.data(), logits, reducedHost_.size() * sizeof(float), stream_);
      stream_.synchronize();
      m.vocabMap->expandLogits(reducedHost_.data(), logitsHost_.data());
    } else {
      m.memory->download(logitsHost_.data(), logits, logitsHost_.size() * sizeof(float), stream_);
      stream_.synchronize();
    }
    return sampleHostLogits(logitsHost_.data(), vocab, m.vocabMap.get(), step, sampler, allowed_);
  }

  void mark(Mark point) override { marks_[static_cast<std::size_t>(point)] = Clock::now(); }
  double elapsedMs(Mark from, Mark to) override {
    return std::chrono::duration<double, std::milli>(marks_[static_cast<std::size_t>(to)] - marks_[static_cast<std::size_t>(from)]).count();
  }

 private:
  VlaModel const& model_;
  engine::Stream& stream_;
  std::vector<float> logitsHost_;   // full vocabulary
  std::vector<float> reducedHost_;  // the engine's reduced logits, when the model has a vocabulary map
  std::vector<std::int32_t> allowed_;
  std::array<Clock::time_point, static_cast<std::size_t>(Mark::kCount)> marks_{};
};

class HostPipelineOpsFactory final : public PipelineOpsFactory {
 public:
  char const* name() const override { return "host"; }
  std::unique_ptr<PipelineOps> create(VlaModel const& model, engine::Stream& stream) const override {
    return std::make_unique<HostPipelineOps>(model, stream);
  }
};

}  // namespace

std::shared_ptr<PipelineOpsFactory const> hostPipelineOps() { return std::make_shared<HostPipelineOpsFactory>(); }

void keepProducible(engine::VocabMap const* vocabMap, std::vector<std::int32_t>& allowed) {
  if (vocabMap == nullptr) return;
  auto const outside = [&](std::int32_t id) { return vocabMap->toReduced(id) < 0; };
  allowed.erase(std::remove_if(allowed.begin(), allowed.end(), outside), allowed.end());
  TV_CHECK_ARG(!allowed.empty(), "the grammar allows only tokens that the engine's reduced vocabulary lacks "
                                 "(vocab_map.safetensors); rebuild the engine with those tokens kept");
}

std::int32_t sampleHostLogits(float* logits, int vocab, engine::VocabMap const* vocabMap, SampleStep const& step,
                              Sampler& sampler, std::vector<std::int32_t>& allowed) {
  if (step.vocabLimit > 0) vocab = std::min(vocab, step.vocabLimit);
  if (step.biasToken >= 0) logits[static_cast<std::size_t>(step.biasToken)] += step.biasValue;
  allowed.clear();
  bool const listed = step.constraint != nullptr && step.constraint->restrict(step.state, allowed, logits, vocab);
  if (listed) keepProducible(vocabMap, allowed);
  return sampler.sample(logits, vocab, listed ? allowed.data() : nullptr, listed ? static_cast<int>(allowed.size()) : 0,
                        step.draft);
}

void* reserve(EngineBuffer& buffer, EngineMemory& memory, std::size_t bytes) {
  if (buffer.data() == nullptr || buffer.bytes() < bytes) {
    buffer.reset();  // free first: the old contents are not kept
    buffer = EngineBuffer(memory, std::max<std::size_t>(bytes, 16));
  }
  return buffer.data();
}

}  // namespace tv::vla
