#include "vla/engine_check.h"

#include <algorithm>

#include "core/error.h"
#include "engine/binding_names.h"

namespace tv::vla {

namespace names = engine::names;

namespace {

class Checker {
 public:
  Checker(engine::Engine const& engine, std::vector<std::string>& problems) : engine_(engine), problems_(problems) {}

  // The tensor, checked for direction, dtype and rank; null (and a problem) when absent or wrong.
  engine::TensorDesc const* tensor(std::string const& name, engine::TensorIOMode mode, DType dtype, int rank) {
    engine::TensorDesc const* t = engine_.findTensor(name);
    if (t == nullptr) {
      problems_.push_back("missing " + std::string(mode == engine::TensorIOMode::kInput ? "input" : "output") + " '" + name + "'");
      return nullptr;
    }
    bool ok = true;
    if (t->mode != mode) ok = fail(name + " is an " + (t->mode == engine::TensorIOMode::kInput ? "input" : "output") + ", expected the other");
    if (t->dtype != dtype) ok = fail(name + " is " + dtypeName(t->dtype) + ", expected " + dtypeName(dtype));
    if (t->shape.rank() != rank) ok = fail(name + " has rank " + std::to_string(t->shape.rank()) + ", expected " + std::to_string(rank));
    return ok ? t : nullptr;
  }

  // A static dimension must equal the expected value (dynamic -1 dims are checked via profiles).
  void dim(engine::TensorDesc const* t, int index, std::int64_t expected, char const* meaning) {
    if (t == nullptr) return;
    std::int64_t const d = t->shape[index];
    if (d != -1 && d != expected) {
      fail(t->name + " dimension " + std::to_string(index) + " (" + meaning + ") is " + std::to_string(d) + " in the engine, " +
           std::to_string(expected) + " in the config");
    }
  }

  engine::ProfileShapes profile(std::string const& name, int p) { return engine_.profileShapes(name, p); }

  bool fail(std::string message) {
    problems_.push_back(std::move(message));
    return false;
  }

 private:
  engine::Engine const& engine_;
  std::vector<std::string>& problems_;
};

}  // namespace

// The LLM contract of Edge-LLM 0.6.1, vanilla (llm.engine) and EAGLE-base (eagle_base.engine) exports with
// the AttentionPlugin: names llm_export.py:723-749, dtypes/ranks of the dummy inputs :309-392, dynamic axes
// :751-828, profiles cpp/builder/llmBuilder.cpp:289-421,635-652.
std::vector<std::string> checkLlmEngine(engine::Engine const& engine, TextModelInfo const& text, int logitsWidth, LlmEngineLimits& limits) {
  std::vector<std::string> problems;
  Checker c(engine, problems);
  using M = engine::TensorIOMode;
  if (engine.optimizationProfiles() != 2) {
    c.fail("the engine has " + std::to_string(engine.optimizationProfiles()) + " optimization profiles; Edge-LLM LLM engines have 2 (prefill, decode)");
  }
  // An EAGLE-base engine is recognised by its extra tensors (llm_export.py:735-736,744-746); all three
  // must then be right.
  bool const eagle = engine.findTensor(names::kAttentionMask) != nullptr || engine.findTensor(names::kAttentionPosId) != nullptr ||
                     engine.findTensor(names::kHiddenStates) != nullptr;
  auto const* embeds = c.tensor(names::kInputsEmbeds, M::kInput, DType::kF16, 3);
  c.dim(embeds, 2, text.hiddenSize, "hidden_size");
  c.tensor(names::kContextLengths, M::kInput, DType::kI32, 1);
  auto const* lastTokenIds = c.tensor(names::kLastTokenIds, M::kInput, DType::kI64, 2);
  // Static 1 in a vanilla export, dynamic in an EAGLE one (llm_export.py:778-783).
  if (!eagle) c.dim(lastTokenIds, 1, 1, "one selected token per sequence");
  c.tensor(names::kKvCacheStartIndex, M::kInput, DType::kI32, 1);
  auto const* rope = c.tensor(names::kRopeCosSin, M::kInput, DType::kF32, 3);
  c.dim(rope, 2, text.headDim, "rotary dim = head_dim");
  // Rank 3 [B, num_tokens, V]: lm_head on GatherND(hidden, last_token_ids) (llm_model.py:464-470); Edge-LLM's
  // runtime reads V from dim 2 (llmEngineRunner.cpp:800-803).
  auto const* logits = c.tensor(names::kLogits, M::kOutput, DType::kF32, 3);
  limits.vocabSize = logits != nullptr && logits->shape[2] > 0 ? static_cast<int>(logits->shape[2]) : 0;
  if (logits != nullptr && limits.vocabSize != logitsWidth) {
    c.fail("logits have " + std::to_string(limits.vocabSize) + " entries per token, expected " + std::to_string(logitsWidth) +
           (logitsWidth == text.vocabSize ? " (vocab_size; a reduced-vocabulary engine needs its vocab_map.safetensors)"
                                          : " (the reduced vocabulary of vocab_map.safetensors)"));
  }
  if (eagle) {
    c.tensor(names::kAttentionMask, M::kInput, DType::kI32, 3);
    c.tensor(names::kAttentionPosId, M::kInput, DType::kI32, 2);
    // Three layers' hidden states concatenated (llm_model.py:472-485).
    auto const* hidden = c.tensor(names::kHiddenStates, M::kOutput, DType::kF16, 3);
    c.dim(hidden, 2, 3 * static_cast<std::int64_t>(text.hiddenSize), "3 * hidden_size");
  }
  for (int l = 0; l < text.layers; ++l) {
    for (bool past : {true, false}) {
      auto const* kv = c.tensor(past ? names::pastKeyValues(l) : names::presentKeyValues(l), past ? M::kInput : M::kOutput, DType::kF16, 5);
      c.dim(kv, 1, 2, "K and V");
      c.dim(kv, 2, text.kvHeads, "num_key_value_heads");
      c.dim(kv, 4, text.headDim, "head_dim");
    }
  }
  if (engine.findTensor(names::pastKeyValues(text.layers)) != nullptr) {
    c.fail("the engine has more KV-cache layers than num_hidden_layers = " + std::to_string(text.layers));
  }
  for (engine::TensorDesc const& t : engine.ioTensors()) {
    bool const known = t.name == names::kInputsEmbeds || t.name == names::kContextLengths || t.name == names::kLastTokenIds ||
                       t.name == names::kKvCacheStartIndex || t.name == names::kRopeCosSin || t.name == names::kLogits ||
                       t.name == names::kAttentionMask || t.name == names::kAttentionPosId || t.name == names::kHiddenStates ||
                       t.name.rfind("past_key_values_", 0) == 0 || t.name.rfind("present_key_values_", 0) == 0;
    if (!known) {
      c.fail("unsupported tensor '" + t.name +
             "' (EAGLE draft, LoRA, Qwen3-VL deepstack and TRT-native-attention engines are not supported)");
    }
  }
  if (!problems.empty() || engine.optimizationProfiles() != 2) return problems;

  engine::ProfileShapes const prefill = c.profile(names::kInputsEmbeds, names::kPrefillProfile);
  engine::ProfileShapes const decode = c.profile(names::kInputsEmbeds, names::kDecodeProfile);
  limits.maxBatch = static_cast<int>(prefill.max[0]);
  limits.maxInputLength = static_cast<int>(prefill.max[1]);
  std::string const decodeWhat = "the decode profile (1)";
  if (decode.min[1] != 1) c.fail(decodeWhat + " does not take single tokens (inputs_embeds min " + decode.min.str() + ")");
  // Prefill selects one token per sequence in both kinds of engine (llmBuilder.cpp:349-352,373-377).
  if (c.profile(names::kLastTokenIds, names::kPrefillProfile).max[1] != 1) {
    c.fail("the prefill profile's last_token_ids select more than one token per sequence");
  }
  if (!eagle) {
    if (decode.max[1] != 1) c.fail(decodeWhat + " takes " + std::to_string(decode.max[1]) + " tokens per step; expected 1");
    if (c.profile(names::kLastTokenIds, names::kDecodeProfile).max[1] != 1) {
      c.fail(decodeWhat + "'s last_token_ids select more than one token per sequence (an EAGLE-base engine without its tensors?)");
    }
  } else {
    // --maxVerifyTreeSize N: profile 1 takes N tokens and selects N logits rows; the tree mask and position
    // ids cover N tokens; profile 0 binds [B, 1, 1] / [B, 1] dummies (llmBuilder.cpp:357-421).
    int const n = static_cast<int>(decode.max[1]);
    std::int64_t const maskWords = (n + 31) / 32 * 32;
    auto expectMax = [&](char const* name, int p, int dim, std::int64_t expected, char const* meaning) {
      std::int64_t const got = c.profile(name, p).max[dim];
      if (got != expected) {
        c.fail(std::string(name) + " profile " + std::to_string(p) + " max dimension " + std::to_string(dim) + " is " + std::to_string(got) +
               ", expected " + std::to_string(expected) + " (" + meaning + ")");
      }
    };
    expectMax(names::kLastTokenIds, names::kDecodeProfile, 1, n, "maxVerifyTreeSize, as inputs_embeds");
    expectMax(names::kAttentionPosId, names::kDecodeProfile, 1, n, "maxVerifyTreeSize, as inputs_embeds");
    expectMax(names::kAttentionMask, names::kDecodeProfile, 1, n, "maxVerifyTreeSize, as inputs_embeds");
    expectMax(names::kAttentionMask, names::kDecodeProfile, 2, maskWords, "maxVerifyTreeSize rounded up to 32");
    expectMax(names::kAttentionPosId, names::kPrefillProfile, 1, 1, "a dummy in prefill");
    expectMax(names::kAttentionMask, names::kPrefillProfile, 1, 1, "a dummy in prefill");
    expectMax(names::kAttentionMask, names::kPrefillProfile, 2, 1, "a dummy in prefill");
    // The plugin's tree attention handles at most 128 tokens (cpp/plugins/attentionPlugin/attentionPlugin.cpp:80-82).
    if (n > 128) c.fail("the engine verifies up to " + std::to_string(n) + " tokens; Edge-LLM's tree attention handles at most 128");
    limits.maxVerifyTokens = n;
  }
  if (c.profile(names::kKvCacheStartIndex, names::kPrefillProfile).min[0] != 0) {
    c.fail("the prefill profile does not allow an empty kvcache_start_index (fresh prefill)");
  }
  int capacity = -1;
  for (int l = 0; l < text.layers && problems.empty(); ++l) {
    for (int p : {names::kPrefillProfile, names::kDecodeProfile}) {
      std::int64_t const cap = c.profile(names::pastKeyValues(l), p).max[3];
      if (capacity < 0) capacity = static_cast<int>(cap);
      if (cap != capacity) c.fail(names::pastKeyValues(l) + " has KV capacity " + std::to_string(cap) + " in profile " + std::to_string(p) +
                                  ", other layers " + std::to_string(capacity));
    }
  }
  limits.kvCapacity = capacity;
  // The session binds a table of Cap rows (dim 1 is dynamic in the engine, llm_export.py:771-774; llm_build pins
  // it to Cap in both profiles, llmBuilder.cpp:303-310).
  if (rope != nullptr && rope->shape[1] != -1 && rope->shape[1] != capacity) {
    c.fail("rope_rotary_cos_sin covers " + std::to_string(rope->shape[1]) + " positions but the KV capacity is " + std::to_string(capacity));
  }
  for (int p : {names::kPrefillProfile, names::kDecodeProfile}) {
    engine::ProfileShapes const r = c.profile(names::kRopeCosSin, p);
    if (capacity >= 0 && (r.min[1] > capacity || r.max[1] < capacity)) {
      c.fail("rope_rotary_cos_sin profile " + std::to_string(p) + " allows " + r.min.str() + " .. " + r.max.str() + ", not the " +
             std::to_string(capacity) + " positions of the KV capacity");
    }
  }
  if (limits.maxInputLength > capacity) c.fail("the prefill profile takes more tokens than the KV cache holds");
  return problems;
}

std::vector<std::string> checkVisionEngine(engine::Engine const& engine, int patchDim, int rotaryAngles, int outHidden,
                                           VisualBuildFlags const& build, VisionEngineLimits& limits) {
  std::vector<std::string> problems;
  Checker c(engine, problems);
  using M = engine::TensorIOMode;
  // Names, dtypes and ranks: Edge-LLM 0.6.1 tensorrt_edgellm/visual_models/qwen2_5_vl_model.py:335-426.
  auto const* input = c.tensor(names::kVisualInput, M::kInput, DType::kF16, 2);
  c.dim(input, 1, patchDim, "channels * temporal_patch_size * patch_size^2");
  auto const* rotary = c.tensor(names::kVisualRotaryPosEmb, M::kInput, DType::kF32, 2);
  c.dim(rotary, 1, rotaryAngles, "vision head_dim / 2");
  c.tensor(names::kVisualCuSeqlens, M::kInput, DType::kI32, 1);
  c.tensor(names::kVisualMaxSeqlenCarrier, M::kInput, DType::kI32, 1);
  c.tensor(names::kVisualCuWindowSeqlens, M::kInput, DType::kI32, 1);
  c.tensor(names::kVisualWindowIndex, M::kInput, DType::kI64, 1);
  c.tensor(names::kVisualReverseWindowIndex, M::kInput, DType::kI64, 1);
  auto const* output = c.tensor(names::kVisualOutput, M::kOutput, DType::kF16, 2);
  c.dim(output, 1, outHidden, "out_hidden_size = the LLM's hidden_size");
  for (engine::TensorDesc const& t : engine.ioTensors()) {
    bool const known = t.name == names::kVisualInput || t.name == names::kVisualRotaryPosEmb || t.name == names::kVisualCuSeqlens ||
                       t.name == names::kVisualMaxSeqlenCarrier || t.name == names::kVisualCuWindowSeqlens ||
                       t.name == names::kVisualWindowIndex || t.name == names::kVisualReverseWindowIndex || t.name == names::kVisualOutput;
    if (!known) c.fail("unsupported visual tensor '" + t.name + "' (an Edge-LLM 0.5 dense-mask or a newer ViT engine?)");
  }
  if (engine.optimizationProfiles() != 1) {
    c.fail("the visual engine has " + std::to_string(engine.optimizationProfiles()) + " optimization profiles; visual_build makes 1");
  }
  if (!problems.empty()) return problems;

  // The profile, as visualBuilder.cpp:229-284 sets it: input rows 4*tokens; rotary rows the same;
  // window indexes one per token; cu_seqlens [2 .. images+1]; the carrier up to 4*per-image tokens.
  constexpr int kUnit = 4;  // patches per image token: spatial_merge_size^2 (visualBuilder.cpp:229)
  engine::ProfileShapes const rows = c.profile(names::kVisualInput, 0);
  engine::ProfileShapes const carrier = c.profile(names::kVisualMaxSeqlenCarrier, 0);
  engine::ProfileShapes const seqlens = c.profile(names::kVisualCuSeqlens, 0);
  engine::ProfileShapes const windows = c.profile(names::kVisualCuWindowSeqlens, 0);
  if (rows.min[0] % kUnit != 0 || rows.max[0] % kUnit != 0) {
    c.fail("input's profile rows [" + std::to_string(rows.min[0]) + ", " + std::to_string(rows.max[0]) + "] are not whole image tokens of " +
           std::to_string(kUnit) + " patches");
  }
  limits.minImageTokens = static_cast<int>(rows.min[0] / kUnit);
  limits.maxImageTokens = static_cast<int>(rows.max[0] / kUnit);
  limits.maxImageTokensPerImage = static_cast<int>(carrier.max[0] / kUnit);
  limits.maxImages = static_cast<int>(seqlens.max[0] - 1);
  limits.maxWindows = static_cast<int>(windows.max[0] - 1);
  auto sameRows = [&](char const* name, std::int64_t divisor) {
    engine::ProfileShapes const p = c.profile(name, 0);
    if (p.min[0] * divisor != rows.min[0] || p.max[0] * divisor != rows.max[0]) {
      c.fail(std::string(name) + "'s profile [" + std::to_string(p.min[0]) + ", " + std::to_string(p.max[0]) + "] does not match input's [" +
             std::to_string(rows.min[0]) + ", " + std::to_string(rows.max[0]) + "] patches");
    }
  };
  sameRows(names::kVisualRotaryPosEmb, 1);
  sameRows(names::kVisualWindowIndex, kUnit);
  sameRows(names::kVisualReverseWindowIndex, kUnit);
  if (limits.minImageTokens < 1) c.fail("the visual engine's profile admits requests without image tokens (input min rows 0)");
  if (seqlens.min[0] > 2 || limits.maxImages < 1) c.fail("cu_seqlens's profile does not admit a single image");
  if (limits.maxImageTokensPerImage < limits.minImageTokens || limits.maxImageTokensPerImage > limits.maxImageTokens) {
    c.fail("max_seqlen_carrier admits " + std::to_string(limits.maxImageTokensPerImage) + " image tokens per image, outside the request's [" +
           std::to_string(limits.minImageTokens) + ", " + std::to_string(limits.maxImageTokens) + "]");
  }
  if (limits.maxWindows < 1) c.fail("cu_window_seqlens's profile admits no attention window");
  if (build.present) {
    auto agree = [&](char const* field, char const* flag, int configured, int engineValue) {
      if (configured != engineValue) {
        c.fail(std::string("builder_config.") + field + " is " + std::to_string(configured) + " (visual_build " + flag + ") but the engine's profile was built for " +
               std::to_string(engineValue) + ": config.json and visual.engine come from different builds");
      }
    };
    agree("min_image_tokens", "--minImageTokens", build.minImageTokens, limits.minImageTokens);
    agree("max_image_tokens", "--maxImageTokens", build.maxImageTokens, limits.maxImageTokens);
    agree("max_image_tokens_per_image", "--maxImageTokensPerImage", build.maxImageTokensPerImage, limits.maxImageTokensPerImage);
  }
  return problems;
}

void requireCompatible(std::vector<std::string> const& problems, std::string const& what) {
  if (problems.empty()) return;
  std::string message = what + " does not match the model config (" + std::to_string(problems.size()) + " problem" +
                        (problems.size() > 1 ? "s" : "") + "):";
  for (std::string const& p : problems) message += "\n  - " + p;
  TV_THROW(ErrorCode::kEngineIncompatible, message);
}

}  // namespace tv::vla
