// Checks an engine's I/O against the model's config before anything runs, and reports every mismatch
// in one error (ERR_ENGINE_INCOMPATIBLE), the way a user can fix a wrong engine build. Works on any
// engine::Engine: TensorRT engines at load, and the CPU engines (which must pass too).
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"
#include "vla/session.h"

namespace tv::vla {

// What the LLM engine's profiles allow (Edge-LLM's --maxBatchSize / --maxInputLen / --maxKVCacheCapacity).
struct LlmEngineLimits {
  int maxBatch = 0;
  int maxInputLength = 0;
  int kvCapacity = 0;
  int vocabSize = 0;  // the logits width (reduced when the engine has a reduced vocabulary)
  // EAGLE-base engines (llm_build --eagleBase --maxVerifyTreeSize N): the most tokens one verification
  // call (profile 1) takes, N; 0 for vanilla engines, whose decode profile takes one token.
  int maxVerifyTokens = 0;
  bool eagleBase() const { return maxVerifyTokens > 0; }
};

// Mismatches between an LLM engine and the model config (empty when compatible); fills limits.
// logitsWidth: vocab_size, or the reduced vocabulary's size when the bundle has a vocab_map.
std::vector<std::string> checkLlmEngine(engine::Engine const& engine, TextModelInfo const& text, int logitsWidth, LlmEngineLimits& limits);

// visual_build's flags as it records them in visual/config.json "builder_config" (Edge-LLM 0.6.1
// cpp/builder/visualBuilder.h:46-53, written by builderUtils.cpp:324-331).
struct VisualBuildFlags {
  bool present = false;
  int minImageTokens = 0;          // "min_image_tokens"
  int maxImageTokens = 0;          // "max_image_tokens"
  int maxImageTokensPerImage = 0;  // "max_image_tokens_per_image"
};

// What the visual engine's profile admits, in image tokens (rows of `input` / 4).
struct VisionEngineLimits {
  int minImageTokens = 0;          // input min rows / 4 (= --minImageTokens)
  int maxImageTokens = 0;          // input max rows / 4 (= --maxImageTokens)
  int maxImageTokensPerImage = 0;  // max_seqlen_carrier max / 4 (= --maxImageTokensPerImage)
  int maxImages = 0;               // cu_seqlens max - 1
  int maxWindows = 0;              // cu_window_seqlens max - 1
  ImageTokenLimits tokens() const { return {minImageTokens, maxImageTokensPerImage, maxImageTokens, maxImages, maxWindows}; }
};

// Mismatches between a visual engine and the model config (empty when compatible); fills limits from
// the engine's profile. When the config has visual_build's builder_config, the profile must be the one
// visual_build makes from those flags (a config.json from another build is a problem).
std::vector<std::string> checkVisionEngine(engine::Engine const& engine, int patchDim, int rotaryAngles, int outHidden,
                                           VisualBuildFlags const& build, VisionEngineLimits& limits);

// Throws ERR_ENGINE_INCOMPATIBLE listing every problem, when there are any.
void requireCompatible(std::vector<std::string> const& problems, std::string const& what);

}  // namespace tv::vla
