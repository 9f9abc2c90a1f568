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

struct VisionEngineLimits {
  int maxImageTokens = 0;
};

std::vector<std::string> checkVisionEngine(engine::Engine const& engine, int patchDim, int rotaryAngles, int outHidden,
                                           VisionEngineLimits& limits);

// Throws ERR_ENGINE_INCOMPATIBLE listing every problem, when there are any.
void requireCompatible(std::vector<std::string> const& problems, std::string const& what);

}  // namespace tv::vla
