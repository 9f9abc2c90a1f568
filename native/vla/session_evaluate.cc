// VlaSession::evaluate and encodeImages: what the model computes, for parity checks between backends
// (trt-vla parity). They drive the engines through the same steps as generate (session.cc): the
// pipeline ops for preprocessing, embeddings and the rope table, runVision, runRows / runLlm.
#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/fp16.h"
#include "engine/binding_names.h"
#include "vla/drain_on_throw.h"
#include "vla/pipeline_ops.h"
#include "vla/positions.h"
#include "vla/session.h"

namespace tv::vla {

void VlaSession::readLogits(std::vector<float>& full) {
  VlaModel const& m = *model_;
  EngineMemory& mem = *m.memory;
  if (m.vocabMap) {
    std::vector<float> reduced(static_cast<std::size_t>(m.logitsWidth()));
    mem.download(reduced.data(), logits_.data(), reduced.size() * sizeof(float), *stream_);
    stream_->synchronize();
    full.assign(static_cast<std::size_t>(m.text.vocabSize), -std::numeric_limits<float>::infinity());
    m.vocabMap->expandLogits(reduced.data(), full.data());
  } else {
    full.resize(static_cast<std::size_t>(m.text.vocabSize));
    mem.download(full.data(), logits_.data(), full.size() * sizeof(float), *stream_);
    stream_->synchronize();
  }
}

std::vector<float> VlaSession::readImageEmbeddings(int imageTokens) {
  std::size_t const n = static_cast<std::size_t>(imageTokens) * static_cast<std::size_t>(model_->text.hiddenSize);
  std::vector<std::uint16_t> halves(n);
  model_->memory->download(halves.data(), visionOutput_.data(), n * sizeof(std::uint16_t), *stream_);
  stream_->synchronize();
  std::vector<float> out(n);
  std::transform(halves.begin(), halves.end(), out.begin(), halfToFloat);
  return out;
}

ImageEmbeddings VlaSession::encodeImages(std::vector<FrameView> const& frames) {
  TV_CHECK_ARG(!frames.empty(), "encodeImages needs at least one frame");
  TV_CHECK(model_->vision != nullptr, ErrorCode::kInvalidArgument, "this model has no vision encoder");
  checkFrameTokens(frames);
  ensureResources();
  DrainOnThrow const drain(*stream_);
  VisionInputs const inputs = ops_->preprocess(frames, visionInput_);
  runVision(inputs);
  return ImageEmbeddings{inputs.grids, readImageEmbeddings(inputs.imageTokens()), model_->text.hiddenSize};
}

EvaluateResult VlaSession::evaluate(EvaluateRequest const& request, std::uint64_t requestId) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  runningRequest_ = requestId;
  ensureResources();
  DrainOnThrow const drain(*stream_);
  EvaluateResult result;
  std::vector<std::int32_t> const& ids = request.inputIds;
  int const promptLength = static_cast<int>(ids.size());
  result.promptTokens = promptLength;
  TV_CHECK_ARG(promptLength >= 1, "the prompt is empty");
  TV_CHECK_ARG(request.steps >= 0, "steps must not be negative");
  // The last step's token is chosen, not fed: the cache holds the prompt and steps - 1 tokens.
  int const fed = promptLength + std::max(request.steps - 1, 0);
  TV_CHECK_ARG(promptLength < m.kvCapacity && fed <= m.kvCapacity, "the prompt has ", promptLength, " tokens and ", request.steps,
               " steps were asked for; the KV cache holds ", m.kvCapacity, " (raise maxKvCapacity)");
  for (std::size_t i = 0; i < request.positions.size(); ++i) {
    int const p = request.positions[i];
    TV_CHECK_ARG(p >= 0 && p < promptLength, "position ", p, " is outside the prompt (", promptLength, " tokens)");
    TV_CHECK_ARG(i == 0 || p > request.positions[i - 1], "positions must be strictly increasing");
  }
  TV_CHECK_ARG(static_cast<int>(request.forcedTokens.size()) <= request.steps, request.forcedTokens.size(),
               " forced tokens for ", request.steps, " steps");
  for (std::int32_t id : request.forcedTokens) TV_CHECK_ARG(id >= 0 && id < t.vocabSize, "forced token id ", id, " is outside the vocabulary");
  checkAbort();

  PipelineOps& ops = *ops_;
  bool const images = !request.frames.empty();
  if (images) {
    TV_CHECK(m.vision != nullptr, ErrorCode::kInvalidArgument, "this model has no vision encoder");
    checkFrameTokens(request.frames);
    VisionInputs const inputs = ops.preprocess(request.frames, visionInput_);
    result.grids = inputs.grids;
    result.imageTokens = inputs.imageTokens();
    checkAbort();
    runVision(inputs);
    if (request.imageEmbeddings) result.imageEmbeddings = readImageEmbeddings(result.imageTokens);
  }
  MropePositions const positions =
      mropePositions(ids.data(), promptLength, m.kvCapacity, m.tokens.imagePad, result.grids, m.preprocess.mergeSize);
  ops.embed(ids.data(), promptLength, images ? visionOutput_.data() : nullptr, result.imageTokens, embeds_.data());
  ops.ropeTable(positions, rope_.data());

  // The whole prompt from position 0 (no prefix reuse: every chosen position needs its call), in
  // chunks that end at each chosen position and are at most maxInputLength long.
  cachedIds_.clear();
  selectLogitRows(nullptr, -1);
  std::size_t next = 0;
  for (int start = 0; start < promptLength;) {
    checkAbort();
    int const end = next < request.positions.size() ? request.positions[next] + 1 : promptLength;
    int const count = std::min(m.maxInputLength, end - start);
    runRows(start, count, start == 0 ? -1 : start);
    ++result.llmCalls;
    cachedIds_.insert(cachedIds_.end(), ids.begin() + start, ids.begin() + start + count);
    start += count;
    if (start == end && next < request.positions.size()) {
      readLogits(result.positionLogits.emplace_back());
      ++next;
    }
  }

  // Greedy steps (argmax, ties to the lowest id, as the sampler's greedy choice).
  Sampler greedy{SamplingConfig{}};
  int committed = promptLength;
  for (int step = 0; step < request.steps; ++step) {
    if (step > 0) {
      checkAbort();
      std::int32_t const token = result.tokens.back();
      ops.embed(&token, 1, nullptr, 0, decodeEmbeds_.data());
      runLlm(decodeEmbeds_.data(), 1, committed);
      ++result.llmCalls;
      ++committed;
      cachedIds_.push_back(token);
    }
    std::vector<float>& logits = result.stepLogits.emplace_back();
    readLogits(logits);
    std::size_t const s = static_cast<std::size_t>(step);
    std::int32_t const token = s < request.forcedTokens.size() ? request.forcedTokens[s] : greedy.sample(logits.data(), t.vocabSize);
    result.tokens.push_back(token);
    if (std::find(request.stopTokens.begin(), request.stopTokens.end(), token) != request.stopTokens.end()) break;
  }
  return result;
}

}  // namespace tv::vla
