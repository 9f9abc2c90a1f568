#include "engine/cpu/qwen_config.h"

#include "core/error.h"

namespace tv::engine::cpu {

namespace {
// Upper bounds for the dimensions of a config.json. They are far above any Qwen2.5-VL (72B: hidden
// 8192, 80 layers, 64 heads, head_dim 128, intermediate 29568, vocabulary 152064; vision: hidden 1280,
// 32 blocks, patch 14, window 112), and low enough that every size computed from them, in 64-bit
// below, stays far from overflowing an int or a size_t: a config is untrusted input.
constexpr std::int64_t kMaxWidth = 1 << 16;         // hidden sizes
constexpr std::int64_t kMaxIntermediate = 1 << 18;  // MLP widths
constexpr std::int64_t kMaxLayers = 1024;           // decoder layers, vision blocks
constexpr std::int64_t kMaxHeads = 1024;
constexpr std::int64_t kMaxHeadDim = 1024;
constexpr std::int64_t kMaxVocab = 1 << 22;
constexpr std::int64_t kMaxPatchSize = 256;          // pixels
constexpr std::int64_t kMaxTemporalPatch = 16;
constexpr std::int64_t kMaxWindowSize = 1 << 14;     // pixels: windows bigger than any image the limits allow
constexpr std::int64_t kMaxMatrixElements = std::int64_t{1} << 34;

int positive(JsonFields const& f, char const* key, std::int64_t max) { return static_cast<int>(f.integerIn(key, 1, max)); }

// A weight matrix of rows x cols must stay addressable (64-bit products of checked factors).
void checkMatrix(std::string const& what, char const* name, std::int64_t rows, std::int64_t cols) {
  TV_CHECK(rows * cols <= kMaxMatrixElements, ErrorCode::kModelLoad, what, ": the ", name, " matrix (", rows, " x ", cols,
           ") is implausibly large");
}
}  // namespace

QwenTextConfig parseQwenTextConfig(JsonValue const& config, std::string const& what) {
  JsonFields top(config, what);
  JsonValue const* nested = config.find("text_config");
  // Newer Hugging Face configs nest the text model; fields there win over the top level.
  JsonValue const& source = nested != nullptr && nested->isObject() && nested->find("hidden_size") != nullptr ? *nested : config;
  JsonFields f(source, source.isObject() && &source != &config ? what + " text_config" : what);
  QwenTextConfig c;
  c.hiddenSize = positive(f, "hidden_size", kMaxWidth);
  c.intermediateSize = positive(f, "intermediate_size", kMaxIntermediate);
  c.layers = positive(f, "num_hidden_layers", kMaxLayers);
  c.heads = positive(f, "num_attention_heads", kMaxHeads);
  c.kvHeads = static_cast<int>(f.integerIn("num_key_value_heads", 1, c.heads, c.heads));
  c.headDim = static_cast<int>(f.integerIn("head_dim", 2, kMaxHeadDim, c.hiddenSize / c.heads));
  c.vocabSize = positive(f, "vocab_size", kMaxVocab);
  c.rmsNormEps = f.numberIn("rms_norm_eps", 1e-12, 1.0, top.numberIn("rms_norm_eps", 1e-12, 1.0, 1e-6));
  c.ropeTheta = f.numberIn("rope_theta", 1.0, 1e12, top.numberIn("rope_theta", 1.0, 1e12, 1e6));
  c.tieWordEmbeddings = f.boolean("tie_word_embeddings", top.boolean("tie_word_embeddings", true));
  JsonFields const& ropeSource = f.has("rope_scaling") ? f : top;
  if (ropeSource.has("rope_scaling")) {
    JsonFields rope = ropeSource.object("rope_scaling");
    if (rope.has("mrope_section")) {
      std::vector<std::int64_t> s = rope.integers("mrope_section");
      if (s.size() != 3) rope.fail("mrope_section", "three integers");
      for (std::int64_t v : s) {
        if (v < 0 || v > kMaxHeadDim) rope.fail("mrope_section", "three integers in [0, " + std::to_string(kMaxHeadDim) + "]");
      }
      c.mropeSection = {static_cast<int>(s[0]), static_cast<int>(s[1]), static_cast<int>(s[2])};
    }
  }
  std::int64_t const qWidth = std::int64_t{c.heads} * c.headDim;
  TV_CHECK(qWidth <= kMaxWidth * 4, ErrorCode::kModelLoad, what, ": num_attention_heads x head_dim (", c.heads, " x ", c.headDim,
           ") is implausibly large");
  checkMatrix(what, "embedding", c.vocabSize, c.hiddenSize);
  checkMatrix(what, "MLP", c.intermediateSize, c.hiddenSize);
  TV_CHECK(c.kvHeads > 0 && c.heads % c.kvHeads == 0, ErrorCode::kModelLoad, what, ": num_attention_heads (", c.heads,
           ") must be a multiple of num_key_value_heads (", c.kvHeads, ")");
  TV_CHECK(c.headDim > 0 && c.headDim % 2 == 0, ErrorCode::kModelLoad, what, ": head_dim must be even, got ", c.headDim);
  int const sectionSum = c.mropeSection[0] + c.mropeSection[1] + c.mropeSection[2];
  TV_CHECK(sectionSum * 2 == c.headDim, ErrorCode::kModelLoad, what, ": mrope_section sums to ", sectionSum,
           " but head_dim / 2 is ", c.headDim / 2);
  return c;
}

QwenVisionConfig parseQwenVisionConfig(JsonValue const& config, std::string const& what) {
  JsonValue const* nested = config.find("vision_config");
  bool const isNested = nested != nullptr && nested->isObject();
  JsonFields f(isNested ? *nested : config, isNested ? what + " vision_config" : what);
  QwenVisionConfig c;
  c.depth = positive(f, "depth", kMaxLayers);
  c.hiddenSize = positive(f, "hidden_size", kMaxWidth);
  c.heads = positive(f, "num_heads", kMaxHeads);
  c.intermediateSize = positive(f, "intermediate_size", kMaxIntermediate);
  c.outHiddenSize = positive(f, "out_hidden_size", kMaxWidth);
  c.patchSize = static_cast<int>(f.integerIn("patch_size", 1, kMaxPatchSize, f.integerIn("spatial_patch_size", 1, kMaxPatchSize, 14)));
  c.temporalPatchSize = static_cast<int>(f.integerIn("temporal_patch_size", 1, kMaxTemporalPatch, 2));
  c.spatialMergeSize = static_cast<int>(f.integerIn("spatial_merge_size", 1, kMaxPatchSize, 2));
  // The image preprocessing always produces RGB patches.
  c.inChannels = static_cast<int>(f.integerIn("in_chans", 3, 3, f.integerIn("in_channels", 3, 3, 3)));
  c.windowSize = static_cast<int>(f.integerIn("window_size", 1, kMaxWindowSize, 112));
  if (f.has("fullatt_block_indexes")) {
    for (std::int64_t i : f.integers("fullatt_block_indexes")) {
      if (i < 0 || i >= c.depth) f.fail("fullatt_block_indexes", "block indexes below depth");
      c.fullAttentionBlocks.push_back(static_cast<int>(i));
    }
  }
  c.rmsNormEps = f.numberIn("rms_norm_eps", 1e-12, 1.0, 1e-6);
  TV_CHECK(c.hiddenSize % c.heads == 0 && c.headDim() % 4 == 0 && c.headDim() <= kMaxHeadDim, ErrorCode::kModelLoad, f.what(),
           ": hidden_size / num_heads must be a multiple of 4 up to ", kMaxHeadDim, ", got ", c.hiddenSize, " / ", c.heads);
  TV_CHECK(c.spatialMergeSize == 2, ErrorCode::kModelLoad, f.what(), ": spatial_merge_size ", c.spatialMergeSize,
           " is not supported (Qwen2.5-VL uses 2)");
  TV_CHECK(c.windowSize % (c.patchSize * c.spatialMergeSize) == 0, ErrorCode::kModelLoad, f.what(), ": window_size ", c.windowSize,
           " must be a multiple of patch_size * spatial_merge_size (", c.patchSize * c.spatialMergeSize, ")");
  checkMatrix(f.what(), "patch embedding", c.hiddenSize, std::int64_t{c.inChannels} * c.temporalPatchSize * c.patchSize * c.patchSize);
  checkMatrix(f.what(), "MLP", c.intermediateSize, c.hiddenSize);
  checkMatrix(f.what(), "merger", std::int64_t{4} * c.hiddenSize, std::int64_t{4} * c.hiddenSize);
  return c;
}

}  // namespace tv::engine::cpu
