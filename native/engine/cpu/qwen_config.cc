#include "engine/cpu/qwen_config.h"

#include "core/error.h"

namespace tv::engine::cpu {

namespace {
int positive(JsonFields const& f, char const* key) {
  std::int64_t const v = f.integer(key);
  if (v <= 0 || v > (1 << 24)) f.fail(key, "a positive integer");
  return static_cast<int>(v);
}
}  // namespace

QwenTextConfig parseQwenTextConfig(JsonValue const& config, std::string const& what) {
  JsonFields top(config, what);
  JsonValue const* nested = config.find("text_config");
  // Newer Hugging Face configs nest the text model; fields there win over the top level.
  JsonValue const& source = nested != nullptr && nested->isObject() && nested->find("hidden_size") != nullptr ? *nested : config;
  JsonFields f(source, source.isObject() && &source != &config ? what + " text_config" : what);
  QwenTextConfig c;
  c.hiddenSize = positive(f, "hidden_size");
  c.intermediateSize = positive(f, "intermediate_size");
  c.layers = positive(f, "num_hidden_layers");
  c.heads = positive(f, "num_attention_heads");
  c.kvHeads = static_cast<int>(f.integer("num_key_value_heads", c.heads));
  c.headDim = static_cast<int>(f.integer("head_dim", c.hiddenSize / c.heads));
  c.vocabSize = positive(f, "vocab_size");
  c.rmsNormEps = f.number("rms_norm_eps", top.number("rms_norm_eps", 1e-6));
  c.ropeTheta = f.number("rope_theta", top.number("rope_theta", 1e6));
  c.tieWordEmbeddings = f.boolean("tie_word_embeddings", top.boolean("tie_word_embeddings", true));
  JsonFields const& ropeSource = f.has("rope_scaling") ? f : top;
  if (ropeSource.has("rope_scaling")) {
    JsonFields rope = ropeSource.object("rope_scaling");
    if (rope.has("mrope_section")) {
      std::vector<std::int64_t> s = rope.integers("mrope_section");
      if (s.size() != 3) rope.fail("mrope_section", "three integers");
      c.mropeSection = {static_cast<int>(s[0]), static_cast<int>(s[1]), static_cast<int>(s[2])};
    }
  }
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
  c.depth = positive(f, "depth");
  c.hiddenSize = positive(f, "hidden_size");
  c.heads = positive(f, "num_heads");
  c.intermediateSize = positive(f, "intermediate_size");
  c.outHiddenSize = positive(f, "out_hidden_size");
  c.patchSize = static_cast<int>(f.integer("patch_size", f.integer("spatial_patch_size", 14)));
  c.temporalPatchSize = static_cast<int>(f.integer("temporal_patch_size", 2));
  c.spatialMergeSize = static_cast<int>(f.integer("spatial_merge_size", 2));
  c.inChannels = static_cast<int>(f.integer("in_chans", f.integer("in_channels", 3)));
  c.windowSize = static_cast<int>(f.integer("window_size", 112));
  if (f.has("fullatt_block_indexes")) {
    for (std::int64_t i : f.integers("fullatt_block_indexes")) {
      if (i < 0 || i >= c.depth) f.fail("fullatt_block_indexes", "block indexes below depth");
      c.fullAttentionBlocks.push_back(static_cast<int>(i));
    }
  }
  c.rmsNormEps = f.number("rms_norm_eps", 1e-6);
  TV_CHECK(c.hiddenSize % c.heads == 0 && c.headDim() % 4 == 0, ErrorCode::kModelLoad, what,
           ": hidden_size / num_heads must be a multiple of 4, got ", c.hiddenSize, " / ", c.heads);
  TV_CHECK(c.spatialMergeSize == 2, ErrorCode::kModelLoad, what, ": spatial_merge_size ", c.spatialMergeSize,
           " is not supported (Qwen2.5-VL uses 2)");
  TV_CHECK(c.windowSize % (c.patchSize * c.spatialMergeSize) == 0, ErrorCode::kModelLoad, what,
           ": window_size must be a multiple of patch_size * spatial_merge_size");
  return c;
}

}  // namespace tv::engine::cpu
