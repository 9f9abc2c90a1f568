#include "vla/session.h"

#include <algorithm>

#include "core/error.h"
#include "engine/binding_names.h"
#include "vla/drain_on_throw.h"
#include "vla/pipeline_ops.h"
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

// Forced runs (the sampled token plus the tokens a grammar forces after it) shorter than this are fed as
// decode steps (profile 1, one token each, each a replay of the one decode CUDA graph); longer ones as one
// chunked-prefill call (profile 0). What each costs on an Edge-LLM engine:
// - a decode step streams the weights once: T_w ~ 10 ms for the INT4 Qwen2.5-VL-3B (~1.6 GB incl. the
//   fp16 LM head) at Orin's ~160 GB/s;
// - a chunked call of k tokens streams them once too (the INT4 plugin stays on its GEMV kernel for
//   M <= 6, audit §5.4), plus: the plugin's CHUNKED_PREFILL converts the whole KV cache of every layer
//   before attention, O(Cap) not O(k): [B,2,Hkv,Cap,D] fp16 read and written, ~74 KB * Cap for 36 layers,
//   300 MB ~ 2 ms at Cap 4096 (Edge-LLM 0.6.1 cpp/plugins/attentionPlugin/attentionPlugin.cpp:744-772,
//   cpp/kernels/contextAttentionKernels/utilKernels.cu:55-101; audit finding #7); kernel-by-kernel
//   launches instead of a graph replay; and two profile switches, after each of which TensorRT performs
//   "layer resource updates" on the next enqueue (TensorRT 10.3 NvInferRuntime.h:3900) - Edge-LLM itself
//   never returns to profile 0 during generation (llmInferenceRuntime.cpp:764-788).
// Decode steps win while (k - 1) * T_w < T_kv(Cap) + launches + switches, i.e. for k = 2 only when the KV
// conversion and switches outweigh a whole weight pass: at the capacities README builds (4096) they do
// not (~2-5 ms against ~10 ms), from Cap ~ 20k or for much smaller models they would. So only the lone
// sampled token is a decode step and every run with a forced token goes in one call, which also keeps the
// CPU engine's jump-forward (one weight pass per run). Not measured on a Jetson (none here): re-measure
// with `trt-vla bench` on the device before raising it; VlaModel::decodeStepsBelow runs both paths in tests.
constexpr int kDecodeStepsBelow = 2;

std::size_t alignSlice(std::size_t bytes) { return (std::max<std::size_t>(bytes, 16) + 255) / 256 * 256; }

}  // namespace

VlaSession::VlaSession(std::shared_ptr<VlaModel const> model) : model_(std::move(model)) {
  TV_CHECK_INTERNAL(model_->pipeline != nullptr, "the model has no pipeline ops");
}

// The session's engine contexts and buffers (KV cache, embeddings, rope table: tens of MB, zero-filled)
// are made by its first request, on the worker thread that runs it, not when JavaScript creates the
// session: that allocation stalled the event loop for 15-30 ms on the tiny model, more on larger ones.
void VlaSession::ensureResources() {
  if (stream_ != nullptr) return;
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  stream_ = m.memory->createStream();
  llm_ = m.llm->createExecutionContext();
  if (m.vision) vision_ = m.vision->createExecutionContext();
  // Long CPU inferences stop between layers when the request is aborted or the model disposed.
  llm_->setInterruptCheck([this] { checkAbort(); });
  if (vision_) vision_->setInterruptCheck([this] { checkAbort(); });
  std::size_t const kvBytes = static_cast<std::size_t>(2) * t.kvHeads * m.kvCapacity * t.headDim * sizeof(std::uint16_t);
  for (int l = 0; l < t.layers; ++l) kv_.emplace_back(*m.memory, kvBytes);
  rope_ = EngineBuffer(*m.memory, static_cast<std::size_t>(m.kvCapacity) * t.headDim * sizeof(float));
  embeds_ = EngineBuffer(*m.memory, static_cast<std::size_t>(m.kvCapacity) * t.hiddenSize * sizeof(std::uint16_t));
  decodeEmbeds_ = EngineBuffer(*m.memory, static_cast<std::size_t>(t.hiddenSize) * sizeof(std::uint16_t));
  contextLengths_ = EngineBuffer(*m.memory, sizeof(std::int32_t));
  startIndex_ = EngineBuffer(*m.memory, sizeof(std::int32_t));
  // A non-null, zero-filled address for zero-size tensors and EAGLE-base prefill dummies (Edge-LLM binds
  // one dummy buffer for all of them, llmEngineRunner.cpp:356-359,1142-1148,1186-1197).
  dummy_ = EngineBuffer(*m.memory, 16);
  // Verify calls (EAGLE-base engines) take up to maxVerifyTokens tokens: a position and a packed mask row
  // each, and as many logits rows and selected-row indexes.
  std::size_t const verify = static_cast<std::size_t>(std::max(1, m.maxVerifyTokens));
  std::size_t const maskBytes = verify * ((verify + 31) / 32) * sizeof(std::int32_t);
  lastTokenIds_ = EngineBuffer(*m.memory, verify * sizeof(std::int64_t));
  if (m.maxVerifyTokens > 0) {
    positionId_ = EngineBuffer(*m.memory, verify * sizeof(std::int32_t));
    treeMask_ = EngineBuffer(*m.memory, maskBytes);
    // Grown by the calls that need more rows (the prompt's prefill), not sized for maxInputLength up
    // front: that would be 50 MB per session for a 3B model.
    hiddenStates_ = EngineBuffer(*m.memory, verify * 3 * t.hiddenSize * sizeof(std::uint16_t));
  }
  scalars_ = m.memory->createScalarUploads(std::max({sizeof(std::int64_t), verify * sizeof(std::int64_t), maskBytes}));
  logits_ = EngineBuffer(*m.memory, verify * static_cast<std::size_t>(m.logitsWidth()) * sizeof(float));
  ops_ = m.pipeline->create(m, *stream_);
}

VlaSession::~VlaSession() = default;

void VlaSession::selectLogitRows(TokenConstraint const* constraint, int state) {
  selectLogitRows(constraint, std::vector<std::int32_t>{state});
}

// The rows of a call are sampled in these grammar states (a verify call's rows in different ones): the
// engine computes the union of their allowed tokens, or every logit when one of them is free text; each row
// is then masked by its own state.
void VlaSession::selectLogitRows(TokenConstraint const* constraint, std::vector<std::int32_t> const& states) {
  rows_.clear();
  std::vector<std::int32_t> allowed;
  for (std::int32_t state : states) {
    allowed.clear();
    if (constraint == nullptr || state < 0 || !constraint->allowedList(state, allowed)) {
      llm_->setOutputRows(names::kLogits, nullptr, 0);
      return;
    }
    rows_.insert(rows_.end(), allowed.begin(), allowed.end());
  }
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
  rows_.erase(std::unique(rows_.begin(), rows_.end()), rows_.end());
  llm_->setOutputRows(names::kLogits, rows_.data(), static_cast<int>(rows_.size()));
}

void VlaSession::checkAbort() const {
  TV_CHECK(!model_->disposed.load(std::memory_order_relaxed), ErrorCode::kDisposed, "the model was disposed while this request ran");
  TV_CHECK(runningRequest_ == 0 || abortRequest_.load(std::memory_order_relaxed) != runningRequest_, ErrorCode::kAborted, "the operation was aborted");
}

VisionInputs VlaSession::preprocess(std::vector<FrameView> const& frames, bool keepPixelValues) const {
  checkFrameTokens(frames);
  return preprocessFrames(frames, model_->preprocess, keepPixelValues);
}

// The vision engine's limits, checked from the frames' sizes alone: before any pixel is touched or any
// work is enqueued (the device pipeline enqueues its preprocessing).
void VlaSession::checkFrameTokens(std::vector<FrameView> const& frames) const {
  std::vector<ImageGrid> grids;
  grids.reserve(frames.size());
  for (FrameView const& f : frames) grids.push_back(modelGrid(f.layout.width, f.layout.height, model_->preprocess));
  checkImageTokens(grids, model_->preprocess);
}

void VlaSession::runVision(VisionInputs const& in) {
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

  engine::ExecutionContext& ctx = *vision_;
  ctx.setOptimizationProfile(0, *stream_);
  ctx.setInputShape(names::kVisualInput, {patches, patchDim});
  ctx.setTensorAddress(names::kVisualInput, visionInput_.data());

  // The small inputs, each a slice of one buffer.
  struct Slice {
    char const* name;
    engine::Shape shape;
    void const* data;
    std::size_t bytes;
  };
  std::vector<std::int32_t> const carrier(static_cast<std::size_t>(in.maxSeqlen), 0);
  Slice const slices[] = {
      {names::kVisualRotaryPosEmb, {patches, angles}, in.rotaryPosEmb.data(), in.rotaryPosEmb.size() * sizeof(float)},
      {names::kVisualCuSeqlens, {static_cast<std::int64_t>(in.cuSeqlens.size())}, in.cuSeqlens.data(),
       in.cuSeqlens.size() * sizeof(std::int32_t)},
      {names::kVisualMaxSeqlenCarrier, {in.maxSeqlen}, carrier.data(), carrier.size() * sizeof(std::int32_t)},
      {names::kVisualCuWindowSeqlens, {static_cast<std::int64_t>(in.cuWindowSeqlens.size())}, in.cuWindowSeqlens.data(),
       in.cuWindowSeqlens.size() * sizeof(std::int32_t)},
      {names::kVisualWindowIndex, {units}, in.windowIndex.data(), in.windowIndex.size() * sizeof(std::int64_t)},
      {names::kVisualReverseWindowIndex, {units}, in.reverseWindowIndex.data(), in.reverseWindowIndex.size() * sizeof(std::int64_t)},
  };
  std::size_t total = 0;
  for (Slice const& s : slices) total += alignSlice(s.bytes);
  auto* base = static_cast<std::uint8_t*>(reserve(visionSmall_, mem, total));
  for (Slice const& s : slices) {
    mem.upload(base, s.data, s.bytes, *stream_);
    ctx.setInputShape(s.name, s.shape);
    ctx.setTensorAddress(s.name, base);
    base += alignSlice(s.bytes);
  }
  std::size_t const outBytes = static_cast<std::size_t>(units) * outHidden * sizeof(std::uint16_t);
  ctx.setTensorAddress(names::kVisualOutput, reserve(visionOutput_, mem, outBytes));
  ctx.enqueue(*stream_);
}

void VlaSession::runLlm(void const* embeds, int count, int start) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  engine::ExecutionContext& ctx = *llm_;
  bool const decode = start >= 0 && count == 1;
  TV_CHECK_INTERNAL(!decode || embeds == decodeEmbeds_.data(), "a decode step must read the fixed decode buffer");
  ctx.setOptimizationProfile(decode ? names::kDecodeProfile : names::kPrefillProfile, *stream_);

  ctx.setInputShape(names::kInputsEmbeds, {1, count, t.hiddenSize});
  ctx.setTensorAddress(names::kInputsEmbeds, const_cast<void*>(embeds));

  std::int32_t const contextLength = decode ? start + 1 : count;
  scalars_->upload(contextLengths_.data(), &contextLength, sizeof contextLength, *stream_);
  ctx.setInputShape(names::kContextLengths, {1});
  ctx.setTensorAddress(names::kContextLengths, contextLengths_.data());

  std::int64_t const last = count - 1;
  scalars_->upload(lastTokenIds_.data(), &last, sizeof last, *stream_);
  ctx.setInputShape(names::kLastTokenIds, {1, 1});
  ctx.setTensorAddress(names::kLastTokenIds, lastTokenIds_.data());

  if (start < 0) {
    ctx.setInputShape(names::kKvCacheStartIndex, {0});
    ctx.setTensorAddress(names::kKvCacheStartIndex, dummy_.data());
  } else {
    std::int32_t const committed = start;
    scalars_->upload(startIndex_.data(), &committed, sizeof committed, *stream_);
    ctx.setInputShape(names::kKvCacheStartIndex, {1});
    ctx.setTensorAddress(names::kKvCacheStartIndex, startIndex_.data());
  }
  if (m.maxVerifyTokens > 0) {
    // EAGLE-base engines: prefill binds [B, 1, 1] / [B, 1] dummies and a hidden_states buffer, as Edge-LLM
    // (llmEngineRunner.cpp:1179-1197); with one position id and S > 1 the plugin runs chunked prefill
    // (attentionPlugin.cpp:140-143). A decode step is a one-token tree: its position and a one-bit mask
    // (with S = 1 the plugin decodes as a vanilla engine, attentionPlugin.cpp:131-135).
    void* position = dummy_.data();
    void* mask = dummy_.data();
    if (decode) {
      std::int32_t const pos = start;
      std::int32_t const bit = 1;
      scalars_->upload(positionId_.data(), &pos, sizeof pos, *stream_);
      scalars_->upload(treeMask_.data(), &bit, sizeof bit, *stream_);
      position = positionId_.data();
      mask = treeMask_.data();
    }
    ctx.setInputShape(names::kAttentionMask, {1, 1, 1});
    ctx.setTensorAddress(names::kAttentionMask, mask);
    ctx.setInputShape(names::kAttentionPosId, {1, 1});
    ctx.setTensorAddress(names::kAttentionPosId, position);
  }
  bindCacheAndOutputs(count);
  ctx.enqueue(*stream_);
}

void VlaSession::bindCacheAndOutputs(int tokens) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  engine::ExecutionContext& ctx = *llm_;
  if (m.maxVerifyTokens > 0) {
    std::size_t const bytes = static_cast<std::size_t>(tokens) * 3 * t.hiddenSize * sizeof(std::uint16_t);
    ctx.setTensorAddress(names::kHiddenStates, reserve(hiddenStates_, *m.memory, bytes));
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
}

// Bound as Edge-LLM 0.6.1 binds an EAGLE-base engine's tree step (cpp/runtime/llmEngineRunner.cpp:1500-1664;
// shared/docs/edgellm-audit.md §5.4): profile 1, kvcache_start_index = committed, context_lengths =
// committed + S, attention_pos_id[j] = committed + j and mask row j = bits 0..j (a linear chain: token j's
// depth is j, its K/V land at committed + j as a decode step would put them), last_token_ids the rows whose
// logits are wanted. The call commits nothing; the caller keeps the accepted prefix and later calls
// overwrite the rest.
void VlaSession::runVerify(int count, int start, int firstSelected) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  engine::ExecutionContext& ctx = *llm_;
  TV_CHECK_INTERNAL(count >= 2 && count <= m.maxVerifyTokens && firstSelected >= 0 && firstSelected < count,
                    "a verify call of ", count, " tokens selecting from ", firstSelected);
  ctx.setOptimizationProfile(names::kDecodeProfile, *stream_);
  ctx.setInputShape(names::kInputsEmbeds, {1, count, t.hiddenSize});
  ctx.setTensorAddress(names::kInputsEmbeds, embeds_.data());

  std::int32_t const contextLength = start + count;
  scalars_->upload(contextLengths_.data(), &contextLength, sizeof contextLength, *stream_);
  ctx.setInputShape(names::kContextLengths, {1});
  ctx.setTensorAddress(names::kContextLengths, contextLengths_.data());

  std::int32_t const committed = start;
  scalars_->upload(startIndex_.data(), &committed, sizeof committed, *stream_);
  ctx.setInputShape(names::kKvCacheStartIndex, {1});
  ctx.setTensorAddress(names::kKvCacheStartIndex, startIndex_.data());

  int const selected = count - firstSelected;
  std::vector<std::int64_t> rows(static_cast<std::size_t>(selected));
  for (int k = 0; k < selected; ++k) rows[static_cast<std::size_t>(k)] = firstSelected + k;
  scalars_->upload(lastTokenIds_.data(), rows.data(), rows.size() * sizeof(std::int64_t), *stream_);
  ctx.setInputShape(names::kLastTokenIds, {1, selected});
  ctx.setTensorAddress(names::kLastTokenIds, lastTokenIds_.data());

  int const words = (count + 31) / 32;
  std::vector<std::int32_t> positions(static_cast<std::size_t>(count));
  std::vector<std::int32_t> mask(static_cast<std::size_t>(count) * words, 0);
  for (int j = 0; j < count; ++j) {
    positions[static_cast<std::size_t>(j)] = start + j;
    for (int i = 0; i <= j; ++i) mask[static_cast<std::size_t>(j) * words + i / 32] |= static_cast<std::int32_t>(1u << (i % 32));
  }
  scalars_->upload(positionId_.data(), positions.data(), positions.size() * sizeof(std::int32_t), *stream_);
  scalars_->upload(treeMask_.data(), mask.data(), mask.size() * sizeof(std::int32_t), *stream_);
  ctx.setInputShape(names::kAttentionPosId, {1, count});
  ctx.setTensorAddress(names::kAttentionPosId, positionId_.data());
  ctx.setInputShape(names::kAttentionMask, {1, count, words});
  ctx.setTensorAddress(names::kAttentionMask, treeMask_.data());
  bindCacheAndOutputs(count);
  ctx.enqueue(*stream_);
}

void VlaSession::runRows(int row, int count, int start) {
  std::size_t const rowBytes = static_cast<std::size_t>(model_->text.hiddenSize) * sizeof(std::uint16_t);
  void const* rows = static_cast<std::uint8_t const*>(embeds_.data()) + static_cast<std::size_t>(row) * rowBytes;
  if (start >= 0 && count == 1) {
    model_->memory->copy(decodeEmbeds_.data(), rows, rowBytes, *stream_);
    rows = decodeEmbeds_.data();
  }
  runLlm(rows, count, start);
}

GenerateResult VlaSession::generate(GenerateRequest const& request, std::uint64_t requestId, TokenObserver* observer) {
  VlaModel const& m = *model_;
  TextModelInfo const& t = m.text;
  runningRequest_ = requestId;
  ensureResources();
  DrainOnThrow const drain(*stream_);
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
  PipelineOps& ops = *ops_;
  bool const images = !request.frames.empty();
  ops.mark(Mark::kStart);
  std::vector<ImageGrid> grids;
  if (images) {
    checkFrameTokens(request.frames);
    VisionInputs const inputs = ops.preprocess(request.frames, visionInput_);
    ops.mark(Mark::kPreprocessed);
    grids = inputs.grids;
    result.imageTokens = inputs.imageTokens();
    checkAbort();
    runVision(inputs);
    ops.mark(Mark::kVisionDone);
  }

  // Embeddings (the image spliced in), positions, RoPE table.
  MropePositions const positions =
      mropePositions(ids.data(), promptLength, m.kvCapacity, m.tokens.imagePad, grids, m.preprocess.mergeSize);
  ops.embed(ids.data(), promptLength, images ? visionOutput_.data() : nullptr, result.imageTokens, embeds_.data());
  ops.ropeTable(positions, rope_.data());
  ops.mark(Mark::kEmbedded);

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
  for (int start = reuse; start < promptLength;) {
    checkAbort();
    int const count = std::min(m.maxInputLength, promptLength - start);
    runRows(start, count, start == 0 ? -1 : start);
    cachedIds_.insert(cachedIds_.end(), ids.begin() + start, ids.begin() + start + count);
    start += count;
  }
  ops.mark(Mark::kPrefilled);

  // Decode loop.
  Sampler sampler(request.sampling);
  sampler.resetHistory(ids.data(), promptLength, t.vocabSize);
  int state = constraint != nullptr ? constraint->startState() : 0;
  std::vector<std::int32_t> feed;
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
  // Feeds tokens to the model: a run (or the rest of a long run after full chunks) of fewer than
  // kDecodeStepsBelow tokens as decode steps from the fixed decode buffer, more in chunked-prefill calls of
  // at most maxInputLength. nextState: the grammar state the logits of the last call are sampled in.
  int const decodeStepsBelow = m.decodeStepsBelow > 0 ? m.decodeStepsBelow : kDecodeStepsBelow;
  auto const feedTokens = [&](std::vector<std::int32_t> const& tokens, int nextState) {
    int const n = static_cast<int>(tokens.size());
    bool const chunked = n >= decodeStepsBelow;
    if (chunked) ops.embed(tokens.data(), n, nullptr, 0, embeds_.data());
    int calls = 0;
    for (int done = 0; done < n;) {
      int const count = std::min(m.maxInputLength, n - done);
      calls += count < decodeStepsBelow ? count : 1;
      done += count;
    }
    // Only the last call's logits are sampled: the others may compute a single row (CPU engines).
    std::int32_t const anyRow = 0;
    if (calls > 1) llm_->setOutputRows(names::kLogits, &anyRow, 1);
    auto const call = [&](int row, int count) {
      if (--calls == 0) selectLogitRows(constraint, nextState);
      if (chunked) {
        runRows(row, count, committed);
      } else {
        ops.embed(&tokens[static_cast<std::size_t>(row)], 1, nullptr, 0, decodeEmbeds_.data());
        runLlm(decodeEmbeds_.data(), 1, committed);
      }
      ++result.forwardPasses;
      committed += count;
    };
    for (int done = 0; done < n;) {
      int const count = std::min(m.maxInputLength, n - done);
      if (count < decodeStepsBelow) {
        for (int i = 0; i < count; ++i) call(done + i, 1);
      } else {
        call(done, count);
      }
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

  // Speculative decoding: after each sampled token and its forced run, the drafter's guess of what follows
  // is verified in the same engine call (runVerify); accepted drafts cost no call of their own.
  bool const speculate = request.drafter != nullptr && request.maxDraft > 0 && m.maxVerifyTokens >= 2;
  std::vector<std::int32_t> drafts, draftStates, rowForced, sampledStates, forcedHere;
  std::int32_t chosen = -1;  // a token a verify call already decided (its correction or bonus row), next to emit
  bool chosenForced = false;  // ... which the grammar forced there
  int const width = m.logitsWidth();
  auto const logitsRow = [&](int row) {
    return static_cast<void*>(static_cast<float*>(logits_.data()) + static_cast<std::size_t>(row) * width);
  };
  auto const sampleStep = [&](int stateNow, std::int32_t draft) {
    SampleStep step;
    step.constraint = constraint;
    step.state = stateNow;
    step.draft = draft;
    step.vocabLimit = request.vocabLimit;
    if (std::size_t const i = result.tokens.size(); i < request.biasTokens.size()) {
      step.biasToken = request.biasTokens[i];
      step.biasValue = request.biasValue;
    }
    return step;
  };
  // After a token is emitted: whether generation ends there (stop token, grammar complete, budget).
  auto const finished = [&](std::int32_t token) {
    if (isStop(token)) {
      result.stopReason = StopReason::kStopToken;
      return true;
    }
    if (constraint != nullptr && constraint->accepting(state)) {
      result.stopReason = StopReason::kGrammarComplete;
      return true;
    }
    return false;
  };

  for (;;) {
    if (static_cast<int>(result.tokens.size()) >= request.maxNewTokens) {
      result.stopReason = StopReason::kMaxTokens;
      break;
    }
    checkAbort();
    std::int32_t const token = chosen >= 0 ? chosen : ops.sample(logits_.data(), sampleStep(state, -1), sampler);
    emit(&token, 1, chosen >= 0 && chosenForced);
    chosen = -1;
    if (constraint != nullptr) {
      state = constraint->next(state, token);
      TV_CHECK_INTERNAL(state >= 0, "the sampler picked token ", token, " that the grammar does not allow");
    }
    if (finished(token)) break;
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

    // Drafts: as many as fit the verify call, the KV cache and the token budget.
    drafts.clear();
    int const feedCount = static_cast<int>(feed.size());
    if (speculate) {
      int const room = std::min({request.maxDraft, m.maxVerifyTokens - feedCount, m.kvCapacity - committed - feedCount,
                                 request.maxNewTokens - static_cast<int>(result.tokens.size())});
      if (room > 0) request.drafter->draft(result.tokens.data(), static_cast<int>(result.tokens.size()), state, room, drafts);
      if (static_cast<int>(drafts.size()) > room) drafts.resize(static_cast<std::size_t>(room));
    }
    // The grammar state each verified row is sampled in: row i follows drafts[0, i). A draft the grammar
    // refuses is cut off there (drafters promise not to send one; the grammar has the last word).
    draftStates.assign(1, state);
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      int const after = constraint != nullptr ? constraint->next(draftStates.back(), drafts[i]) : 0;
      if (after < 0) {
        drafts.resize(i);
        break;
      }
      draftStates.push_back(after);
    }
    if (drafts.empty()) {
      feedTokens(feed, state);
      continue;
    }
    int const draftCount = static_cast<int>(drafts.size());
    std::vector<std::int32_t> chain = feed;
    chain.insert(chain.end(), drafts.begin(), drafts.end());
    // Rows in a state with a forced run take its first token, as plain decoding's jump-forward does (a
    // grammar may list other spellings there, which the model is never asked about); the others are sampled.
    rowForced.clear();
    sampledStates.clear();
    for (int row : draftStates) {
      forcedHere.clear();
      int forcedEnd = row;
      if (constraint != nullptr) constraint->forcedRun(row, forcedHere, forcedEnd);
      rowForced.push_back(forcedHere.empty() ? -1 : forcedHere.front());
      if (forcedHere.empty()) sampledStates.push_back(row);
    }
    if (sampledStates.empty()) {
      std::int32_t const anyRow = 0;  // nothing is sampled: one row, not the whole vocabulary
      llm_->setOutputRows(names::kLogits, &anyRow, 1);
    } else {
      selectLogitRows(constraint, sampledStates);
    }
    ops.embed(chain.data(), static_cast<int>(chain.size()), nullptr, 0, embeds_.data());
    runVerify(static_cast<int>(chain.size()), committed, feedCount - 1);
    ++result.forwardPasses;
    ++result.verifyCalls;
    result.draftedTokens += draftCount;
    committed += feedCount;
    cachedIds_.insert(cachedIds_.end(), feed.begin(), feed.end());
    // Row i checks drafts[i] (and row draftCount, after every draft, picks a bonus token): the first token the
    // model does not agree with is the next one to emit.
    bool stopped = false;
    for (int i = 0; i <= draftCount; ++i) {
      if (i > 0) checkAbort();
      std::int32_t const draft = i < draftCount ? drafts[static_cast<std::size_t>(i)] : -1;
      std::int32_t const forcedToken = rowForced[static_cast<std::size_t>(i)];
      bool const forcedRow = forcedToken >= 0;
      std::int32_t const picked =
          forcedRow ? forcedToken : ops.sample(logitsRow(i), sampleStep(draftStates[static_cast<std::size_t>(i)], draft), sampler);
      if (picked != draft) {
        chosen = picked;
        chosenForced = forcedRow;
        break;
      }
      ++result.acceptedDraftTokens;
      emit(&picked, 1, forcedRow);
      state = draftStates[static_cast<std::size_t>(i) + 1];
      ++committed;
      cachedIds_.push_back(picked);
      if (finished(picked)) {
        stopped = true;
        break;
      }
      if (static_cast<int>(result.tokens.size()) >= request.maxNewTokens) {
        result.stopReason = StopReason::kMaxTokens;
        stopped = true;
        break;
      }
    }
    if (stopped) break;
  }
  ops.mark(Mark::kDecoded);
  StageTimings& timings = result.timings;
  if (images) {
    timings.preprocessMs = ops.elapsedMs(Mark::kStart, Mark::kPreprocessed);
    timings.visionMs = ops.elapsedMs(Mark::kPreprocessed, Mark::kVisionDone);
  }
  timings.embedMs = ops.elapsedMs(images ? Mark::kVisionDone : Mark::kStart, Mark::kEmbedded);
  timings.prefillMs = ops.elapsedMs(Mark::kEmbedded, Mark::kPrefilled);
  timings.decodeMs = ops.elapsedMs(Mark::kPrefilled, Mark::kDecoded);
  timings.totalMs = msSince(started);
  return result;
}

}  // namespace tv::vla
