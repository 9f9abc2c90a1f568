#include "vla/device_pipeline_ops.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <limits>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/preprocess.h"
#include "cuda/kernels/rope.h"
#include "cuda/kernels/sampling.h"
#include "cuda/stream.h"

namespace tv::vla {

namespace {

constexpr std::size_t kUploadChunkBytes = std::size_t{16} << 20;

cuda::FrameFormat cudaFormat(PixelFormat format) {
  switch (format) {
    case PixelFormat::kRgb8: return cuda::FrameFormat::kRgb8;
    case PixelFormat::kRgba8: return cuda::FrameFormat::kRgba8;
    case PixelFormat::kBgr8: return cuda::FrameFormat::kBgr8;
    case PixelFormat::kNv12: return cuda::FrameFormat::kNv12;
  }
  TV_THROW(ErrorCode::kInternal, "unknown pixel format ", static_cast<int>(format));
}

// The model-wide part: the token embedding table as fp16 [device, f16] [vocab, hidden] and a reduced
// vocabulary's reduced -> full map [device, i32] [reduced], in the model's DeviceEngineMemory (so the
// process's device-memory counters include them).
class DeviceFactory final : public PipelineOpsFactory {
 public:
  DeviceFactory(VlaModel const& model, DevicePipelineOptions options) : options_(options) {
    TV_CHECK_INTERNAL(model.memory != nullptr && model.memory->location() == engine::MemoryLocation::kDevice,
                      "the device pipeline needs device engine memory");
    EngineMemory& memory = *model.memory;
    std::unique_ptr<engine::Stream> stream = memory.createStream();
    EmbeddingTable const& e = model.embedding;
    std::size_t const rowBytes = static_cast<std::size_t>(e.hidden()) * sizeof(std::uint16_t);
    table_ = EngineBuffer(memory, rowBytes * static_cast<std::size_t>(e.vocab()));
    // In chunks, converting BF16 / F32 tables on the way: no host copy of the whole table.
    int const rows = static_cast<int>(std::max<std::size_t>(1, kUploadChunkBytes / rowBytes));
    std::vector<std::uint16_t> chunk(static_cast<std::size_t>(rows) * static_cast<std::size_t>(e.hidden()));
    for (int first = 0; first < e.vocab(); first += rows) {
      int const n = std::min(rows, e.vocab() - first);
      e.rows(first, n, chunk.data());
      memory.upload(static_cast<std::uint8_t*>(table_.data()) + static_cast<std::size_t>(first) * rowBytes, chunk.data(),
                    static_cast<std::size_t>(n) * rowBytes, *stream);
      stream->synchronize();  // the chunk is refilled next
    }
    if (model.vocabMap) {
      std::vector<std::int32_t> const& map = model.vocabMap->reducedToFull();
      map_ = EngineBuffer(memory, map.size() * sizeof(std::int32_t));
      memory.upload(map_.data(), map.data(), map.size() * sizeof(std::int32_t), *stream);
      stream->synchronize();
    }
  }

  char const* name() const override { return "device"; }
  std::unique_ptr<PipelineOps> create(VlaModel const& model, engine::Stream& stream) const override;

  std::uint16_t const* table() const { return static_cast<std::uint16_t const*>(table_.data()); }
  std::int32_t const* vocabMap() const { return static_cast<std::int32_t const*>(map_.data()); }
  DevicePipelineOptions const& options() const { return options_; }

 private:
  DevicePipelineOptions options_;
  EngineBuffer table_;
  EngineBuffer map_;
};

}  // namespace

cuda::PreprocessPlan devicePreprocessPlan(cuda::FrameSource const& frame, PreprocessConfig const& c) {
  cuda::PreprocessPlan plan;
  plan.frame = frame;
  plan.resizes = resizePlan(frame.width, frame.height, c);
  plan.patchSize = c.patchSize;
  plan.temporalPatchSize = c.temporalPatchSize;
  plan.mergeSize = c.mergeSize;
  plan.rescaleFactor = c.rescaleFactor;
  plan.mean = c.mean;
  plan.std = c.std;
  return plan;
}

namespace {

class DevicePipelineOps final : public PipelineOps {
 public:
  DevicePipelineOps(VlaModel const& model, DeviceFactory const& shared, engine::Stream& stream)
      : model_(model), shared_(shared), stream_(stream), cuda_(static_cast<cudaStream_t>(stream.handle())), memory_(*model.memory) {
    TV_CHECK_INTERNAL(cuda_ != nullptr, "the device pipeline needs a CUDA stream");
    embedStatus_ = EngineBuffer(memory_, sizeof(cuda::EmbedStatus));
    if (model.vocabMap) {
      // Ids the reduced vocabulary lacks stay at -inf for good: the expansion writes only mapped ids.
      std::vector<float> const minusInf(static_cast<std::size_t>(model.text.vocabSize), -std::numeric_limits<float>::infinity());
      fullLogits_ = EngineBuffer(memory_, minusInf.size() * sizeof(float));
      memory_.upload(fullLogits_.data(), minusInf.data(), minusInf.size() * sizeof(float), stream_);
      stream_.synchronize();
    }
  }

  VisionInputs preprocess(std::vector<FrameView> const& frames, EngineBuffer& patches) override {
    PreprocessConfig const& c = model_.preprocess;
    std::vector<cuda::PreprocessPlan> plans;
    std::vector<ImageGrid> grids;
    for (FrameView const& f : frames) {
      cuda::FrameSource frame;
      frame.format = cudaFormat(f.layout.format);
      frame.width = f.layout.width;
      frame.height = f.layout.height;
      frame.stride = f.layout.stride;
      frame.byteLength = f.layout.byteLength;
      plans.push_back(devicePreprocessPlan(frame, c));
      grids.push_back(modelGrid(f.layout.width, f.layout.height, c));
    }
    VisionInputs inputs = visionLayout(grids, c);
    std::size_t const patchDim = static_cast<std::size_t>(c.patchDim());
    std::size_t const values = static_cast<std::size_t>(inputs.totalPatches()) * patchDim;
    auto* out = static_cast<std::uint16_t*>(reserve(patches, memory_, values * sizeof(std::uint16_t)));
    for (std::size_t i = 0; i < frames.size(); ++i) {
      FrameView const& f = frames[i];
      cuda::PreprocessPlan& plan = plans[i];
      if (f.deviceData != nullptr && shared_.options().mappedFrames) {
        plan.frame.data = f.deviceData;  // mapped pinned memory: read in place, once
      } else {
        plan.frame.data = reserve(frame_, memory_, f.layout.byteLength);
        memory_.upload(frame_.data(), f.data, f.layout.byteLength, stream_);
      }
      void* workspace = reserve(preprocessWorkspace_, memory_, cuda::preprocessWorkspaceBytes(plan));
      cuda::launchPreprocess(plan, workspace, preprocessWorkspace_.bytes(), out, cuda_);
      out += static_cast<std::size_t>(grids[i].patches()) * patchDim;
    }
    return inputs;
  }

  void embed(std::int32_t const* ids, int count, void const* image, int imageRows, void* out) override {
    // The CPU path's checks and messages, before the GPU sees the ids: the kernel's own status
    // (cuda/kernels/embedding.h) then has nothing to report, and is not read back.
    model_.embedding.check(ids, count, model_.tokens.imagePad, imageRows);
    if (count == 0) return;
    std::size_t const idBytes = static_cast<std::size_t>(count) * sizeof(std::int32_t);
    memory_.upload(reserve(ids_, memory_, idBytes), ids, idBytes, stream_);
    cuda::EmbedArgs a;
    a.table = shared_.table();
    a.vocab = model_.embedding.vocab();
    a.hidden = model_.embedding.hidden();
    a.ids = static_cast<std::int32_t const*>(ids_.data());
    a.count = count;
    a.imageTokenId = model_.tokens.imagePad;
    a.image = imageRows > 0 ? static_cast<std::uint16_t const*>(image) : nullptr;
    a.imageRows = imageRows;
    a.out = static_cast<std::uint16_t*>(out);
    void* workspace = reserve(embedWorkspace_, memory_, cuda::embedWorkspaceBytes(count));
    cuda::launchEmbed(a, workspace, embedWorkspace_.bytes(), static_cast<cuda::EmbedStatus*>(embedStatus_.data()), cuda_);
  }

  void ropeTable(MropePositions const& positions, void* table) override {
    TextModelInfo const& t = model_.text;
    int const capacity = model_.kvCapacity;
    std::size_t const rowBytes = static_cast<std::size_t>(capacity) * sizeof(std::int32_t);
    auto* p = static_cast<std::int32_t*>(reserve(positions_, memory_, 3 * rowBytes));
    memory_.upload(p, positions.t.data(), rowBytes, stream_);
    memory_.upload(p + capacity, positions.h.data(), rowBytes, stream_);
    memory_.upload(p + 2 * static_cast<std::size_t>(capacity), positions.w.data(), rowBytes, stream_);
    cuda::MropeTableArgs a;
    a.t = p;
    a.h = p + capacity;
    a.w = p + 2 * static_cast<std::size_t>(capacity);
    a.capacity = capacity;
    a.rowBegin = 0;
    a.rowEnd = capacity;
    a.headDim = t.headDim;
    a.mropeSection = t.mropeSection;
    a.theta = t.ropeTheta;
    a.table = static_cast<float*>(table);
    cuda::launchMropeCosSin(a, cuda_);
  }

  std::int32_t sample(void* logits, SampleStep const& step, Sampler& sampler) override {
    int const vocab = step.vocabLimit > 0 ? std::min(model_.text.vocabSize, step.vocabLimit) : model_.text.vocabSize;
    float* full = fullLogits(logits);
    allowedHost_.clear();
    bool const listed = step.constraint != nullptr && step.constraint->allowedList(step.state, allowedHost_);
    if (step.constraint != nullptr && !listed) {
      // A state without a token list (free text) restricts the whole vocabulary on the host
      // (TokenConstraint::restrict on full logits), so these steps download the logits, as the host
      // pipeline does every step, and sample there.
      logitsHost_.resize(static_cast<std::size_t>(vocab));
      memory_.download(logitsHost_.data(), full, logitsHost_.size() * sizeof(float), stream_);
      stream_.synchronize();
      return sampleHostLogits(logitsHost_.data(), vocab, model_.vocabMap.get(), step, sampler, allowedHost_);
    }
    if (listed) {
      keepProducible(model_.vocabMap.get(), allowedHost_);
      TV_CHECK_INTERNAL(!allowedHost_.empty(), "the grammar allows no token");
    }
    if (step.biasToken >= 0) addBias(full, step.biasToken, step.biasValue);

    cuda::SamplingArgs a;
    a.logits = full;
    a.vocab = vocab;
    if (listed) {
      std::size_t const bytes = allowedHost_.size() * sizeof(std::int32_t);
      memory_.upload(reserve(allowed_, memory_, bytes), allowedHost_.data(), bytes, stream_);
      a.allowed = static_cast<std::int32_t const*>(allowed_.data());
      a.allowedCount = static_cast<int>(allowedHost_.size());
    }
    SamplingConfig const& config = sampler.config();
    a.repetitionPenalty = static_cast<float>(config.repetitionPenalty);
    if (config.repetitionPenalty != 1.0 && !sampler.penalized().empty()) {
      std::vector<std::int32_t> const& ids = sampler.penalized();
      std::size_t const bytes = ids.size() * sizeof(std::int32_t);
      memory_.upload(reserve(penalized_, memory_, bytes), ids.data(), bytes, stream_);
      a.penalized = static_cast<std::int32_t const*>(penalized_.data());
      a.penalizedCount = static_cast<int>(ids.size());
    }
    a.greedy = sampler.greedy();
    a.topK = config.topK;
    void* workspace = reserve(samplingWorkspace_, memory_, cuda::samplingWorkspaceBytes(a));
    std::size_t const outputBytes = cuda::samplingOutputBytes(cuda::samplingCandidateCapacity(a));
    void* output = reserve(samplingOutput_, memory_, outputBytes);
    cuda::launchSampling(a, workspace, samplingWorkspace_.bytes(), output, outputBytes, cuda_);
    outputHost_.resize(outputBytes);
    memory_.download(outputHost_.data(), output, outputBytes, stream_);
    stream_.synchronize();
    cuda::SamplingResult const result = cuda::readSamplingOutput(outputHost_.data(), outputBytes);
    cuda::checkSamplingResult(result, a);
    return a.greedy ? result.header.token : sampler.drawSorted(result.candidates.data(), result.candidates.size(), step.draft);
  }

  void mark(Mark point) override { TV_CUDA_CHECK(cudaEventRecord(events_[static_cast<std::size_t>(point)].get(), cuda_)); }

  double elapsedMs(Mark from, Mark to) override {
    cuda::Event const& end = events_[static_cast<std::size_t>(to)];
    end.synchronize();
    return cuda::Event::elapsedMs(events_[static_cast<std::size_t>(from)], end);
  }

 private:
  // The logits by full id: the engine's own, or a reduced vocabulary's expanded into fullLogits_.
  float* fullLogits(void* logits) {
    if (!model_.vocabMap) return static_cast<float*>(logits);
    cuda::ExpandLogitsArgs a;
    a.reduced = static_cast<float const*>(logits);
    a.reducedCount = model_.logitsWidth();
    a.reducedToFull = shared_.vocabMap();
    a.full = static_cast<float*>(fullLogits_.data());
    a.fullCount = model_.text.vocabSize;
    cuda::launchExpandLogits(a, cuda_);
    return a.full;
  }

  // Tests only (GenerateRequest::biasTokens): one logit read, changed with the host's float addition,
  // and written back.
  void addBias(float* logits, std::int32_t id, float value) {
    float v = 0;
    memory_.download(&v, logits + id, sizeof v, stream_);
    stream_.synchronize();
    v += value;
    memory_.upload(logits + id, &v, sizeof v, stream_);
    stream_.synchronize();  // v is a local
  }

  VlaModel const& model_;
  DeviceFactory const& shared_;
  engine::Stream& stream_;
  cudaStream_t cuda_;
  EngineMemory& memory_;
  // Device buffers, grown as requests need: an uploaded frame, the preprocessing scratch, the ids to
  // embed, the gather's scratch and status, the three position rows, full-vocabulary logits (reduced
  // vocabularies), the grammar's list, the penalised ids, the sampling scratch and output.
  EngineBuffer frame_, preprocessWorkspace_, ids_, embedWorkspace_, embedStatus_, positions_, fullLogits_, allowed_, penalized_,
      samplingWorkspace_, samplingOutput_;
  std::vector<float> logitsHost_;
  std::vector<std::int32_t> allowedHost_;
  std::vector<std::uint8_t> outputHost_;
  std::array<cuda::Event, static_cast<std::size_t>(Mark::kCount)> events_;
};

std::unique_ptr<PipelineOps> DeviceFactory::create(VlaModel const& model, engine::Stream& stream) const {
  return std::make_unique<DevicePipelineOps>(model, *this, stream);
}

}  // namespace

std::shared_ptr<PipelineOpsFactory const> devicePipelineOps(VlaModel const& model, DevicePipelineOptions options) {
  return std::make_shared<DeviceFactory>(model, options);
}

}  // namespace tv::vla
