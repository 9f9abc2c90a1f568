#include "engine/cpu/vision_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "engine/binding_names.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/ops.h"

namespace tv::engine::cpu {

namespace {

// Tokens are grouped in 2x2 merge units (spatial_merge_size^2) throughout the window reordering.
constexpr int kMergeUnit = 4;

std::string visualPrefix(SafetensorsSet const& set) {
  for (char const* prefix : {"visual.", "model.visual."}) {
    std::string const p = prefix;
    if (set.find(p + "patch_embed.proj.weight") != nullptr) return p;
  }
  TV_THROW(ErrorCode::kModelLoad, "no Qwen2.5-VL vision weights found (expected 'visual.patch_embed.proj.weight' in ",
           set.describeFiles(), ")");
}

QwenVisionWeights loadVision(QwenVisionConfig const& c, SafetensorsSet const& set, ThreadPool& pool) {
  std::string const p = visualPrefix(set);
  QwenVisionWeights w;
  TensorView patch = set.require(p + "patch_embed.proj.weight");
  std::vector<std::int64_t> const conv{c.hiddenSize, c.inChannels, c.temporalPatchSize, c.patchSize, c.patchSize};
  TV_CHECK(patch.shape == conv, ErrorCode::kModelLoad, "tensor '", patch.name, "' has shape ", formatShape(patch.shape),
           " but the config implies ", formatShape(conv));
  patch.shape = {c.hiddenSize, c.patchDim()};  // the Conv3d with kernel == stride is a matmul over flattened patches
  w.patchEmbed = loadDenseMatrix(patch, nullptr, c.hiddenSize, c.patchDim());
  int const h = c.hiddenSize;
  for (int i = 0; i < c.depth; ++i) {
    std::string const b = p + "blocks." + std::to_string(i) + ".";
    QwenVisionWeights::Block block;
    block.norm1 = readFloatVector(set.require(b + "norm1.weight"), h);
    block.norm2 = readFloatVector(set.require(b + "norm2.weight"), h);
    block.qkv = loadLinear(set, {b + "attn.qkv"}, {3 * h}, h, true, &pool);
    block.proj = loadLinear(set, {b + "attn.proj"}, {h}, h, true, &pool);
    block.gateUp = loadLinear(set, {b + "mlp.gate_proj", b + "mlp.up_proj"}, {c.intermediateSize, c.intermediateSize}, h, true,
                              &pool);
    block.down = loadLinear(set, {b + "mlp.down_proj"}, {h}, c.intermediateSize, true, &pool);
    w.blocks.push_back(std::move(block));
  }
  TV_CHECK(set.find(p + "blocks." + std::to_string(c.depth) + ".norm1.weight") == nullptr, ErrorCode::kModelLoad,
           "the checkpoint has more vision blocks than depth = ", c.depth);
  w.mergerNorm = readFloatVector(set.require(p + "merger.ln_q.weight"), h);
  w.mergerFc1 = loadLinear(set, {p + "merger.mlp.0"}, {kMergeUnit * h}, kMergeUnit * h, true, &pool);
  w.mergerFc2 = loadLinear(set, {p + "merger.mlp.2"}, {c.outHiddenSize}, kMergeUnit * h, true, &pool);
  return w;
}

// Checks a cumulative-length array: starts at 0, never decreases, ends at total, segments <= maxSegment.
void checkCumulative(BoundTensor const& t, char const* name, std::int64_t total, std::int64_t maxSegment) {
  std::int32_t const* v = t.as<std::int32_t const>();
  std::int64_t const n = t.shape[0];
  TV_CHECK_ARG(n >= 2 && v[0] == 0, name, " must start with 0 and have at least 2 entries");
  for (std::int64_t i = 1; i < n; ++i) {
    TV_CHECK_ARG(v[i] >= v[i - 1], name, " must not decrease (entry ", i, ")");
    TV_CHECK_ARG(v[i] - v[i - 1] <= maxSegment, name, " segment ", i - 1, " has ", v[i] - v[i - 1],
                 " patches, more than the limit ", maxSegment);
  }
  TV_CHECK_ARG(v[n - 1] == total, name, " ends at ", v[n - 1], " but the input has ", total, " patches");
}

class CpuVisionContext final : public HostExecutionContext {
 public:
  explicit CpuVisionContext(CpuVisionEngine const& engine) : HostExecutionContext(engine), engine_(engine) {}

 protected:
  Shape inferOutputShape(std::string_view name) const override {
    return Shape{inputShape(names::kVisualInput)[0] / kMergeUnit, engine_.config().outHiddenSize};
  }
  void execute() override;

 private:
  void attention(std::int32_t const* cu, std::int64_t segments, int tokens);

  CpuVisionEngine const& engine_;
  std::vector<float> input_, x_, norm_, qkv_, attn_, tmp_, gateUp_, act_, cos_, sin_, merged_, fc1_;
  std::vector<std::uint16_t> keys_, values_;
  std::vector<std::vector<float>> scores_;
  Q8Scratch quantScratch_;
};

void CpuVisionContext::execute() {
  QwenVisionConfig const& c = engine_.config();
  QwenVisionWeights const& w = engine_.weights();
  ThreadPool& pool = engine_.pool();
  BoundTensor const& input = bound(names::kVisualInput);
  BoundTensor const& rotary = bound(names::kVisualRotaryPosEmb);
  BoundTensor const& cuSeqlens = bound(names::kVisualCuSeqlens);
  BoundTensor const& cuWindow = bound(names::kVisualCuWindowSeqlens);
  BoundTensor const& windowIndex = bound(names::kVisualWindowIndex);
  BoundTensor const& reverseIndex = bound(names::kVisualReverseWindowIndex);
  BoundTensor const& output = bound(names::kVisualOutput);

  int const tokens = static_cast<int>(input.shape[0]);
  int const units = tokens / kMergeUnit;
  int const hidden = c.hiddenSize;
  int const half = c.headDim() / 2;
  TV_CHECK_ARG(tokens % kMergeUnit == 0, "the visual input has ", tokens, " patches, not a multiple of ", kMergeUnit);
  TV_CHECK_ARG(rotary.shape[0] == tokens, "rotary_pos_emb has ", rotary.shape[0], " rows for ", tokens, " patches");
  TV_CHECK_ARG(windowIndex.shape[0] == units && reverseIndex.shape[0] == units, "window_index and reverse_window_index need ",
               units, " entries");
  std::int64_t const perImage = static_cast<std::int64_t>(engine_.limits().maxImageTokensPerImage) * kMergeUnit;
  checkCumulative(cuSeqlens, names::kVisualCuSeqlens, tokens, perImage);
  checkCumulative(cuWindow, names::kVisualCuWindowSeqlens, tokens, perImage);
  std::int64_t const* window = windowIndex.as<std::int64_t const>();
  std::int64_t const* reverse = reverseIndex.as<std::int64_t const>();
  for (int u = 0; u < units; ++u) {
    TV_CHECK_ARG(window[u] >= 0 && window[u] < units, "window_index[", u, "] = ", window[u], " is out of range");
    TV_CHECK_ARG(reverse[u] >= 0 && reverse[u] < units && window[reverse[u]] == u, "reverse_window_index[", u,
                 "] is not the inverse of window_index");
  }

  std::size_t const n = static_cast<std::size_t>(tokens);
  input_.resize(n * c.patchDim());
  tv::cpu::kernels().halfToFloat(input.as<std::uint16_t const>(), input_.data(), input_.size());
  tmp_.resize(n * hidden);
  w.patchEmbed.forward(pool, input_.data(), static_cast<std::size_t>(c.patchDim()), tokens, tmp_.data(), hidden, quantScratch_);

  // Reorder merge units into window order; rotary angles move with their patches.
  x_.resize(n * hidden);
  cos_.resize(n * half);
  sin_.resize(n * half);
  float const* angles = rotary.as<float const>();
  TV_CHECK_ARG(rotary.shape[1] == half, "rotary_pos_emb has ", rotary.shape[1], " angles per patch; the model needs ", half);
  for (int u = 0; u < units; ++u) {
    for (int j = 0; j < kMergeUnit; ++j) {
      std::size_t const to = static_cast<std::size_t>(u) * kMergeUnit + j;
      std::size_t const from = static_cast<std::size_t>(window[u]) * kMergeUnit + j;
      std::memcpy(&x_[to * hidden], &tmp_[from * hidden], sizeof(float) * hidden);
      for (int i = 0; i < half; ++i) {
        cos_[to * half + i] = std::cos(angles[from * half + i]);
        sin_[to * half + i] = std::sin(angles[from * half + i]);
      }
    }
  }

  norm_.resize(n * hidden);
  qkv_.resize(n * 3 * hidden);
  attn_.resize(n * hidden);
  gateUp_.resize(n * 2 * c.intermediateSize);
  act_.resize(n * c.intermediateSize);
  for (int i = 0; i < c.depth; ++i) {
    checkInterrupt();
    QwenVisionWeights::Block const& block = w.blocks[static_cast<std::size_t>(i)];
    bool const full = std::find(c.fullAttentionBlocks.begin(), c.fullAttentionBlocks.end(), i) != c.fullAttentionBlocks.end();
    BoundTensor const& cu = full ? cuSeqlens : cuWindow;
    rmsNorm(pool, x_.data(), block.norm1.data(), tokens, hidden, c.rmsNormEps, norm_.data());
    block.qkv.forward(pool, norm_.data(), hidden, tokens, qkv_.data(), 3 * static_cast<std::size_t>(hidden), quantScratch_);
    attention(cu.as<std::int32_t const>(), cu.shape[0] - 1, tokens);
    block.proj.forward(pool, attn_.data(), hidden, tokens, tmp_.data(), hidden, quantScratch_);
    addInPlace(x_.data(), tmp_.data(), n * hidden);
    rmsNorm(pool, x_.data(), block.norm2.data(), tokens, hidden, c.rmsNormEps, norm_.data());
    block.gateUp.forward(pool, norm_.data(), hidden, tokens, gateUp_.data(), 2 * static_cast<std::size_t>(c.intermediateSize),
                         quantScratch_);
    siluMultiply(pool, gateUp_.data(), tokens, c.intermediateSize, act_.data());
    block.down.forward(pool, act_.data(), c.intermediateSize, tokens, tmp_.data(), hidden, quantScratch_);
    addInPlace(x_.data(), tmp_.data(), n * hidden);
  }

  // Patch merger: RMSNorm, then each 2x2 unit's four vectors side by side through a GELU MLP.
  rmsNorm(pool, x_.data(), w.mergerNorm.data(), tokens, hidden, c.rmsNormEps, norm_.data());
  std::size_t const unitWidth = static_cast<std::size_t>(kMergeUnit) * hidden;
  fc1_.resize(static_cast<std::size_t>(units) * unitWidth);
  w.mergerFc1.forward(pool, norm_.data(), unitWidth, units, fc1_.data(), unitWidth, quantScratch_);
  geluInPlace(pool, fc1_.data(), fc1_.size());
  merged_.resize(static_cast<std::size_t>(units) * c.outHiddenSize);
  w.mergerFc2.forward(pool, fc1_.data(), unitWidth, units, merged_.data(), static_cast<std::size_t>(c.outHiddenSize),
                      quantScratch_);

  auto* out = output.as<std::uint16_t>();
  for (int u = 0; u < units; ++u) {
    tv::cpu::kernels().floatToHalf(&merged_[static_cast<std::size_t>(reverse[u]) * c.outHiddenSize],
                                   out + static_cast<std::size_t>(u) * c.outHiddenSize,
                                   static_cast<std::size_t>(c.outHiddenSize));
  }
}

// Rotary on q and k, fp16 k/v, then bidirectional attention within each segment [cu[s], cu[s+1]).
void CpuVisionContext::attention(std::int32_t const* cu, std::int64_t segments, int tokens) {
  QwenVisionConfig const& c = engine_.config();
  ThreadPool& pool = engine_.pool();
  int const hidden = c.hiddenSize;
  int const heads = c.heads;
  int const d = c.headDim();
  int const half = d / 2;
  std::size_t const n = static_cast<std::size_t>(tokens);
  keys_.resize(n * hidden);
  values_.resize(n * hidden);
  auto toHalf = tv::cpu::kernels().floatToHalf;
  pool.parallelFor(tokens, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      float* row = &qkv_[static_cast<std::size_t>(t) * 3 * hidden];
      float const* cs = &cos_[static_cast<std::size_t>(t) * half];
      float const* sn = &sin_[static_cast<std::size_t>(t) * half];
      applyRotary(row, 2 * heads, d, cs, sn);  // q heads then k heads
      toHalf(row + hidden, &keys_[static_cast<std::size_t>(t) * hidden], static_cast<std::size_t>(hidden));
      toHalf(row + 2 * hidden, &values_[static_cast<std::size_t>(t) * hidden], static_cast<std::size_t>(hidden));
    }
  });
  float const scale = 1.0f / std::sqrt(static_cast<float>(d));
  // A work item is one head and up to kQueryBlock consecutive tokens of one segment: they attend to the same
  // keys and values, which the kernels then convert once for several queries (each query's result is the
  // same whatever its block).
  constexpr int kQueryBlock = 8;
  struct Block {
    int first;  // token
    int count;
    int segment;
  };
  std::vector<Block> blocks;
  for (std::int64_t s = 0; s < segments; ++s) {
    for (int t = cu[s]; t < cu[s + 1]; t += kQueryBlock) blocks.push_back({t, std::min(kQueryBlock, cu[s + 1] - t), static_cast<int>(s)});
  }
  if (static_cast<int>(scores_.size()) < pool.size()) scores_.resize(static_cast<std::size_t>(pool.size()));
  std::int64_t const items = static_cast<std::int64_t>(blocks.size()) * heads;
  pool.run([&](int thread, int threads) {
    std::vector<float>& scores = scores_[static_cast<std::size_t>(thread)];
    for (std::int64_t item = thread; item < items; item += threads) {
      Block const& block = blocks[static_cast<std::size_t>(item / heads)];
      int const h = static_cast<int>(item % heads);
      int const begin = cu[block.segment];
      int const length = cu[block.segment + 1] - begin;
      std::size_t const need = static_cast<std::size_t>(length) * static_cast<std::size_t>(block.count);
      if (scores.size() < need) scores.resize(need);
      float const* q = &qkv_[static_cast<std::size_t>(block.first) * 3 * hidden + static_cast<std::size_t>(h) * d];
      std::size_t const offset = static_cast<std::size_t>(begin) * hidden + static_cast<std::size_t>(h) * d;
      attendHalf(q, 3 * static_cast<std::size_t>(hidden), block.count, &keys_[offset], &values_[offset], static_cast<std::size_t>(hidden),
                 length, d, scale, &attn_[static_cast<std::size_t>(block.first) * hidden + static_cast<std::size_t>(h) * d],
                 static_cast<std::size_t>(hidden), scores.data());
    }
  });
}

}  // namespace

std::unique_ptr<CpuVisionEngine> CpuVisionEngine::load(VisionLoadSpec spec) {
  TV_CHECK_INTERNAL(spec.pool != nullptr, "VisionLoadSpec needs a thread pool");
  std::unique_ptr<CpuVisionEngine> engine(new CpuVisionEngine());
  engine->config_ = parseQwenVisionConfig(spec.config, spec.configName);
  engine->limits_ = spec.limits;
  engine->pool_ = spec.pool;
  VisionLimits const& lim = spec.limits;
  TV_CHECK_ARG(lim.minImageTokens >= 1 && lim.maxImageTokens >= lim.minImageTokens && lim.maxImageTokensPerImage >= 1,
               "invalid vision limits");
  TV_CHECK(!spec.weightFiles.empty(), ErrorCode::kModelLoad, "no vision weight files (model*.safetensors) were found");
  for (std::string const& path : spec.weightFiles) engine->files_.add(std::make_shared<SafetensorsFile>(path));
  engine->weights_ = loadVision(engine->config_, engine->files_, *engine->pool_);
  engine->describeTensors();
  return engine;
}

void CpuVisionEngine::describeTensors() {
  QwenVisionConfig const& c = config_;
  std::int64_t const minHW = static_cast<std::int64_t>(limits_.minImageTokens) * kMergeUnit;
  std::int64_t const maxHW = static_cast<std::int64_t>(limits_.maxImageTokens) * kMergeUnit;
  std::int64_t const optHW = (limits_.minImageTokens + limits_.maxImageTokens) / 2 * kMergeUnit;
  std::int64_t const maxImages = std::max(1, limits_.maxImageTokens / limits_.minImageTokens);
  std::int64_t const maxSeq = static_cast<std::int64_t>(limits_.maxImageTokensPerImage) * kMergeUnit;
  std::int64_t const half = c.headDim() / 2;
  addInput(names::kVisualInput, DType::kF16, {-1, c.patchDim()});
  addInput(names::kVisualRotaryPosEmb, DType::kF32, {-1, half});
  addInput(names::kVisualCuSeqlens, DType::kI32, {-1});
  addInput(names::kVisualMaxSeqlenCarrier, DType::kI32, {-1});
  addInput(names::kVisualCuWindowSeqlens, DType::kI32, {-1});
  addInput(names::kVisualWindowIndex, DType::kI64, {-1});
  addInput(names::kVisualReverseWindowIndex, DType::kI64, {-1});
  addOutput(names::kVisualOutput, DType::kF16, {-1, c.outHiddenSize});
  // The profile of Edge-LLM's visual_build (0.6.1 cpp/builder/visualBuilder.cpp:229-284), bound for
  // bound: requests outside it are refused before they reach an engine (vla checkImageTokens).
  setProfile(0, names::kVisualInput, {minHW, c.patchDim()}, {optHW, c.patchDim()}, {maxHW, c.patchDim()});
  setProfile(0, names::kVisualRotaryPosEmb, {minHW, half}, {optHW, half}, {maxHW, half});
  setProfile(0, names::kVisualCuSeqlens, {2}, {maxImages + 1}, {maxImages + 1});
  setProfile(0, names::kVisualMaxSeqlenCarrier, {1}, {std::max<std::int64_t>(1, maxSeq / 2)}, {maxSeq});
  setProfile(0, names::kVisualCuWindowSeqlens, {2}, {limits_.maxImageTokens}, {limits_.maxImageTokens});
  setProfile(0, names::kVisualWindowIndex, {minHW / kMergeUnit}, {optHW / kMergeUnit}, {maxHW / kMergeUnit});
  setProfile(0, names::kVisualReverseWindowIndex, {minHW / kMergeUnit}, {optHW / kMergeUnit}, {maxHW / kMergeUnit});
}

std::unique_ptr<ExecutionContext> CpuVisionEngine::createExecutionContext() {
  return std::make_unique<CpuVisionContext>(*this);
}

}  // namespace tv::engine::cpu
