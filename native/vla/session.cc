#include "vla/session.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "engine/binding_names.h"
#include "vla/positions.h"

namespace tv::vla {

namespace names = engine::names;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Index of the first image-pad token, or count when there is none.
int firstImagePad(std::int32_t const* ids, int count, std::int32_t imagePad) {
  for (int i = 0; i < count; ++i) {
    if (ids[i] == imagePad) return i;
  }
  return count;
}

}  // namespace

VlaSession::VlaSession(std::shared_ptr<VlaModel const> model) : model_(std::move(model)) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  stream_ = m.memory->createStream();
  llm_ = m.llm->createExecutionContext();
  if (m.vision) vision_ = m.vision->createExecutionContext();
  std::size_t const kvBytes = static_cast<std::size_t>(2) * t.kvHeads * m.kvCapacity * t.headDim * sizeof(std::uint16_t);
  for (int l = 0; l < t.layers; ++l) kv_.emplace_back(*m.memory, kvBytes);
  rope_ = EngineBuffer(*m.memory, static_cast<std::size_t>(m.kvCapacity) * t.headDim * sizeof(float));
  embeds_ = EngineBuffer(*m.memory, static_cast<std::size_t>(m.maxInputLength) * t.hiddenSize * sizeof(std::uint16_t));
  contextLengths_ = EngineBuffer(*m.memory, sizeof(std::int32_t));
  lastTokenIds_ = EngineBuffer(*m.memory, sizeof(std::int64_t));
  startIndex_ = EngineBuffer(*m.memory, sizeof(std::int32_t));
  dummy_ = EngineBuffer(*m.memory, 16);  // non-null address for zero-size tensors
  logits_ = EngineBuffer(*m.memory, static_cast<std::size_t>(m.logitsWidth()) * sizeof(float));
  ropeHost_.resize(static_cast<std::size_t>(m.kvCapacity) * t.headDim);
  // Tokens a reduced vocabulary lacks stay at -inf for good: only mapped entries are ever written.
  logitsHost_.assign(static_cast<std::size_t>(t.vocabSize), m.vocabMap ? -std::numeric_limits<float>::infinity() : 0.0f);
  if (m.vocabMap) reducedHost_.resize(static_cast<std::size_t>(m.logitsWidth()));
}

VlaSession::~VlaSession() = default;

void VlaSession::selectLogitRows(TokenConstraint const* constraint, int state) {
  rows_.clear();
  if (constraint != nullptr && state >= 0) constraint->allowedList(state, rows_);
  if (model_->vocabMap) {
    // Engine rows are reduced ids; allowed tokens the engine cannot produce have no row.
    std::size_t kept = 0;
    for (std::int32_t id : rows_) {
      std::int32_t const r = model_->vocabMap->toReduced(id);
      if (r >= 0) rows_[kept++] = r;
    }
    rows_.resize(kept);
  }
  std::sort(rows_.begin(), rows_.end());
  llm_->setOutputRows(names::kLogits, rows_.data(), static_cast<int>(rows_.size()));
}

void VlaSession::checkAbort() const {
  TV_CHECK(abortRequest_.load(std::memory_order_relaxed) != runningRequest_, ErrorCode::kAborted, "the operation was aborted");
}

VisionInputs VlaSession::preprocess(std::vector<FrameView> const& frames, bool keepPixelValues) const {
  std::vector<RgbImage> images;
  images.reserve(frames.size());
  for (FrameView const& f : frames) images.push_back(frameToRgb(f));
  return preprocessImages(images, model_->preprocess, keepPixelValues);
}

std::vector<std::uint16_t> VlaSession::runVision(VisionInputs const& in) {
  VlaModel const& m = *model_;
  TV_CHECK(vision_ != nullptr, ErrorCode::kInvalidArgument, "this model has no vision encoder");
  EngineMemory& mem = *m.memory;
  int const patches = in.totalPatches();
  int const units = patches / 4;
  int const patchDim = m.preprocess.patchDim();
  int const angles = m.preprocess.visionHeadDim / 2;
  engine::TensorDesc const& outDesc = m.vision->requireTensor(names::kVisualOutput);
  int const outHidden = static_cast<int>(outDesc.shape[1]);
  TV_CHECK(outHidden == m.text.hiddenSize, ErrorCode::kEngineIncompatible, "the vision encoder outputs ", outHidden,
           "-wide embeddings but the language model's hidden size is ", m.text.hiddenSize);

  auto upload = [&](std::vector<EngineBuffer>& keep, void const* data, std::size_t bytes) {
    keep.emplace_back(mem, std::max<std::size_t>(bytes, 16));
    mem.upload(keep.back().data(), data, bytes, *stream_);
    return keep.back().data();
  };
  std::vector<EngineBuffer> buffers;
  engine::ExecutionContext& ctx = *vision_;
  ctx.setOptimizationProfile(0, *stream_);
  auto bind = [&](char const* name, engine::Shape shape, void const* data, std::size_t bytes) {
    ctx.setInputShape(name, shape);
    ctx.setTensorAddress(name, upload(buffers, data, bytes));
  };
  bind(names::kVisualInput, {patches, patchDim}, in.patches.data(), in.patches.size() * sizeof(std::uint16_t));
  bind(names::kVisualRotaryPosEmb, {patches, angles}, in.rotaryPosEmb.data(), in.rotaryPosEmb.size() * sizeof(float));
  bind(names::kVisualCuSeqlens, {static_cast<std::int64_t>(in.cuSeqlens.size())}, in.cuSeqlens.data(),
       in.cuSeqlens.size() * sizeof(std::int32_t));
  std::vector<std::int32_t> carrier(static_cast<std::size_t>(in.maxSeqlen), 0);
  bind(names::kVisualMaxSeqlenCarrier, {in.maxSeqlen}, carrier.data(), carrier.size() * sizeof(std::int32_t));
  bind(names::kVisualCuWindowSeqlens, {static_cast<std::int64_t>(in.cuWindowSeqlens.size())}, in.cuWindowSeqlens.data(),
       in.cuWindowSeqlens.size() * sizeof(std::int32_t));
  bind(names::kVisualWindowIndex, {units}, in.windowIndex.data(), in.windowIndex.size() * sizeof(std::int64_t));
  bind(names::kVisualReverseWindowIndex, {units}, in.reverseWindowIndex.data(), in.reverseWindowIndex.size() * sizeof(std::int64_t));
  std::size_t const outBytes = static_cast<std::size_t>(units) * outHidden * sizeof(std::uint16_t);
  buffers.emplace_back(mem, outBytes);
  void* output = buffers.back().data();
  ctx.setTensorAddress(names::kVisualOutput, output);
  ctx.enqueue(*stream_);
  std::vector<std::uint16_t> host(static_cast<std::size_t>(units) * outHidden);
  mem.download(host.data(), output, outBytes, *stream_);
  stream_->synchronize();
  return host;
}

void VlaSession::runLlm(std::uint16_t const* embeds, int count, int start) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  EngineMemory& mem = *m.memory;
  engine::ExecutionContext& ctx = *llm_;
  bool const decode = start >= 0 && count == 1;
  ctx.setOptimizationProfile(decode ? names::kDecodeProfile : names::kPrefillProfile, *stream_);

  mem.upload(embeds_.data(), embeds, static_cast<std::size_t>(count) * t.hiddenSize * sizeof(std::uint16_t), *stream_);
  ctx.setInputShape(names::kInputsEmbeds, {1, count, t.hiddenSize});
  ctx.setTensorAddress(names::kInputsEmbeds, embeds_.data());

  std::int32_t const contextLength = decode ? start + 1 : count;
  mem.upload(contextLengths_.data(), &contextLength, sizeof contextLength, *stream_);
  ctx.setInputShape(names::kContextLengths, {1});
  ctx.setTensorAddress(names::kContextLengths, contextLengths_.data());

  std::int64_t const last = count - 1;
  mem.upload(lastTokenIds_.data(), &last, sizeof last, *stream_);
  ctx.setInputShape(names::kLastTokenIds, {1, 1});
  ctx.setTensorAddress(names::kLastTokenIds, lastTokenIds_.data());

  if (start < 0) {
    ctx.setInputShape(names::kKvCacheStartIndex, {0});
    ctx.setTensorAddress(names::kKvCacheStartIndex, dummy_.data());
  } else {
    std::int32_t const committed = start;
    mem.upload(startIndex_.data(), &committed, sizeof committed, *stream_);
    ctx.setInputShape(names::kKvCacheStartIndex, {1});
    ctx.setTensorAddress(names::kKvCacheStartIndex, startIndex_.data());
  }
  ctx.setInputShape(names::kRopeCosSin, {1, m.kvCapacity, t.headDim});
  ctx.setTensorAddress(names::kRopeCosSin, rope_.data());
  for (int l = 0; l < t.layers; ++l) {
    std::string const past = names::pastKeyValues(l);
    ctx.setInputShape(past, {1, 2, t.kvHeads, m.kvCapacity, t.headDim});
    ctx.setTensorAddress(past, kv_[static_cast<std::size_t>(l)].data());
    ctx.setTensorAddress(names::presentKeyValues(l), kv_[static_cast<std::size_t>(l)].data());
  }
  ctx.setTensorAddress(names::kLogits, logits_.data());
  ctx.enqueue(*stream_);
  if (m.vocabMap) {
    mem.download(reducedHost_.data(), logits_.data(), reducedHost_.size() * sizeof(float), *stream_);
    stream_->synchronize();
    for (std::size_t r = 0; r < reducedHost_.size(); ++r) logitsHost_[static_cast<std::size_t>(m.vocabMap->toFull(static_cast<int>(r)))] = reducedHost_[r];
  } else {
    mem.download(logitsHost_.data(), logits_.data(), logitsHost_.size() * sizeof(float), *stream_);
    stream_->synchronize();
  }
}

GenerateResult VlaSession::generate(GenerateRequest const& request, std::uint64_t requestId, TokenObserver* observer) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  runningRequest_ = requestId;
  auto const started = Clock::now();
  GenerateResult result;
  std::vector<std::int32_t> const& ids = request.inputIds;
  int const promptLength = static_cast<int>(ids.size());
  result.promptTokens = promptLength;
  TV_CHECK_ARG(promptLength >= 1, "the prompt is empty");
  TV_CHECK_ARG(promptLength < m.kvCapacity, "the prompt has ", promptLength, " tokens; the KV cache holds ", m.kvCapacity,
               " (raise maxKvCapacity)");
  TV_CHECK_ARG(request.maxNewTokens >= 1, "maxNewTokens must be at least 1");
  for (std::int32_t id : request.biasTokens) TV_CHECK_ARG(id >= 0 && id < t.vocabSize, "bias token id ", id, " is outside the vocabulary");
  checkAbort();

  // Images: preprocess, then the vision engine.
  std::vector<std::uint16_t> imageEmbeddings;
  std::vector<ImageGrid> grids;
  if (!request.frames.empty()) {
    auto const t0 = Clock::now();
    VisionInputs const inputs = preprocess(request.frames, false);
    result.timings.preprocessMs = msSince(t0);
    grids = inputs.grids;
    result.imageTokens = inputs.imageTokens();
    checkAbort();
    auto const t1 = Clock::now();
    imageEmbeddings = runVision(inputs);
    result.timings.visionMs = msSince(t1);
  }

  // Embeddings, positions, RoPE table.
  auto const t2 = Clock::now();
  MropePositions const positions =
      mropePositions(ids.data(), promptLength, m.kvCapacity, m.tokens.imagePad, grids, m.preprocess.mergeSize);
  std::vector<std::uint16_t> embeds(static_cast<std::size_t>(promptLength) * t.hiddenSize);
  m.embedding.embed(ids.data(), promptLength, m.tokens.imagePad, imageEmbeddings.data(), result.imageTokens, embeds.data());
  mropeCosSin(positions, 0, m.kvCapacity, t.headDim, t.mropeSection, t.ropeTheta, ropeHost_.data());
  m.memory->upload(rope_.data(), ropeHost_.data(), ropeHost_.size() * sizeof(float), *stream_);
  result.timings.embedMs = msSince(t2);

  // Prefix cache: reuse the KV of the longest common prefix before the first image (image pads carry
  // per-frame content, and text positions equal indexes there, so the cached rows are exact).
  int reuse = 0;
  if (request.usePrefixCache) {
    int const limit = std::min({static_cast<int>(cachedIds_.size()), promptLength - 1,
                                firstImagePad(ids.data(), promptLength, m.tokens.imagePad)});
    while (reuse < limit && cachedIds_[static_cast<std::size_t>(reuse)] == ids[static_cast<std::size_t>(reuse)]) ++reuse;
  }
  result.cachedPromptTokens = reuse;
  cachedIds_.resize(static_cast<std::size_t>(reuse));

  TokenConstraint const* constraint = request.constraint.get();
  selectLogitRows(constraint, constraint != nullptr ? constraint->startState() : -1);
  auto const t3 = Clock::now();
  for (int start = reuse; start < promptLength;) {
    checkAbort();
    int const count = std::min(m.maxInputLength, promptLength - start);
    runLlm(embeds.data() + static_cast<std::size_t>(start) * t.hiddenSize, count, start == 0 ? -1 : start);
    cachedIds_.insert(cachedIds_.end(), ids.begin() + start, ids.begin() + start + count);
    start += count;
  }
  result.timings.prefillMs = msSince(t3);

  // Decode loop.
  auto const t4 = Clock::now();
  Sampler sampler(request.sampling);
  sampler.resetHistory(ids.data(), promptLength, t.vocabSize);
  int state = constraint != nullptr ? constraint->startState() : 0;
  std::vector<std::int32_t> allowed;
  std::vector<std::int32_t> feed;
  std::vector<std::uint16_t> feedEmbeds;
  int committed = promptLength;
  auto const isStop = [&](std::int32_t token) {
    return std::find(request.stopTokens.begin(), request.stopTokens.end(), token) != request.stopTokens.end();
  };
  bool firstToken = true;
  auto const emit = [&](std::int32_t const* tokens, int count, bool forced) {
    if (firstToken && count > 0) {
      result.timings.firstTokenMs = msSince(started);
      firstToken = false;
    }
    result.tokens.insert(result.tokens.end(), tokens, tokens + count);
    for (int i = 0; i < count; ++i) sampler.noteToken(tokens[i]);
    if (forced) result.forcedTokens += count;
    if (observer != nullptr && count > 0) observer->onTokens(tokens, count, forced);
  };
  // Feeds tokens to the model (one decode step, or one chunked-prefill call for several).
  // nextState: the grammar state the logits of this call will be sampled in.
  auto const feedTokens = [&](std::vector<std::int32_t> const& tokens, int nextState) {
    selectLogitRows(constraint, nextState);
    int const n = static_cast<int>(tokens.size());
    feedEmbeds.resize(static_cast<std::size_t>(n) * t.hiddenSize);
    m.embedding.embed(tokens.data(), n, m.tokens.imagePad, nullptr, 0, feedEmbeds.data());
    for (int done = 0; done < n;) {
      int const count = std::min(m.maxInputLength, n - done);
      runLlm(feedEmbeds.data() + static_cast<std::size_t>(done) * t.hiddenSize, count, committed);
      ++result.forwardPasses;
      committed += count;
      done += count;
    }
    cachedIds_.insert(cachedIds_.end(), tokens.begin(), tokens.end());
  };

  // A grammar whose start state forces tokens (the PLANNING preamble) gets them in one call.
  if (constraint != nullptr) {
    int end = state;
    feed.clear();
    constraint->forcedRun(state, feed, end);
    if (!feed.empty()) {
      int const room = std::min(request.maxNewTokens, m.kvCapacity - committed);
      if (static_cast<int>(feed.size()) > room) feed.resize(static_cast<std::size_t>(std::max(room, 0)));
      emit(feed.data(), static_cast<int>(feed.size()), true);
      feedTokens(feed, end);
      state = end;
    }
  }

  for (;;) {
    if (static_cast<int>(result.tokens.size()) >= request.maxNewTokens) {
      result.stopReason = StopReason::kMaxTokens;
      break;
    }
    checkAbort();
    if (std::size_t const step = result.tokens.size(); step < request.biasTokens.size()) {
      logitsHost_[static_cast<std::size_t>(request.biasTokens[step])] += request.biasValue;
    }
    allowed.clear();
    bool const listed = constraint != nullptr && constraint->restrict(state, allowed, logitsHost_.data(), t.vocabSize);
    if (listed && m.vocabMap) {
      auto const outside = [&](std::int32_t id) { return m.vocabMap->toReduced(id) < 0; };
      allowed.erase(std::remove_if(allowed.begin(), allowed.end(), outside), allowed.end());
      TV_CHECK_ARG(!allowed.empty(), "the grammar allows only tokens that the engine's reduced vocabulary lacks "
                                     "(vocab_map.safetensors); rebuild the engine with those tokens kept");
    }
    std::int32_t const token = sampler.sample(logitsHost_.data(), t.vocabSize, listed ? allowed.data() : nullptr,
                                              listed ? static_cast<int>(allowed.size()) : 0);
    emit(&token, 1, false);
    if (constraint != nullptr) {
      state = constraint->next(state, token);
      TV_CHECK_INTERNAL(state >= 0, "the sampler picked token ", token, " that the grammar does not allow");
    }
    if (isStop(token)) {
      result.stopReason = StopReason::kStopToken;
      break;
    }
    if (constraint != nullptr && constraint->accepting(state)) {
      result.stopReason = StopReason::kGrammarComplete;
      break;
    }
    // Jump forward: the sampled token and every token the grammar forces after it, in one call.
    feed.assign(1, token);
    int end = state;
    std::vector<std::int32_t> forced;
    if (constraint != nullptr) constraint->forcedRun(state, forced, end);
    int const budget = request.maxNewTokens - static_cast<int>(result.tokens.size());
    if (static_cast<int>(forced.size()) > budget) {
      forced.resize(static_cast<std::size_t>(budget));
      end = -1;  // cut short: the grammar state is no longer meaningful; we stop below
    }
    bool const forcedToEnd = end >= 0 && !forced.empty() && constraint->accepting(end);
    if (!forced.empty()) emit(forced.data(), static_cast<int>(forced.size()), true);
    if (forcedToEnd) {
      result.stopReason = StopReason::kGrammarComplete;  // nothing left to decide: no engine call
      break;
    }
    if (static_cast<int>(result.tokens.size()) >= request.maxNewTokens) {
      result.stopReason = StopReason::kMaxTokens;
      break;
    }
    feed.insert(feed.end(), forced.begin(), forced.end());
    if (committed + static_cast<int>(feed.size()) > m.kvCapacity) {
      result.stopReason = StopReason::kMaxTokens;  // the KV cache is full
      break;
    }
    if (constraint != nullptr && !forced.empty()) state = end;
    feedTokens(feed, state);
  }
  result.timings.decodeMs = msSince(t4);
  result.timings.totalMs = msSince(started);
  return result;
}

}  // namespace tv::vla
