// Model dimensions of Qwen2.5-VL, read from Hugging Face / Edge-LLM config.json files.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/json.h"

namespace tv::engine::cpu {

struct QwenTextConfig {
  int hiddenSize = 0;
  int intermediateSize = 0;
  int layers = 0;
  int heads = 0;
  int kvHeads = 0;
  int headDim = 0;
  int vocabSize = 0;
  double rmsNormEps = 1e-6;
  double ropeTheta = 1e6;
  std::array<int, 3> mropeSection{16, 24, 24};
  bool tieWordEmbeddings = true;
};

struct QwenVisionConfig {
  int depth = 0;
  int hiddenSize = 0;
  int heads = 0;
  int intermediateSize = 0;
  int outHiddenSize = 0;
  int patchSize = 14;
  int temporalPatchSize = 2;
  int spatialMergeSize = 2;
  int inChannels = 3;
  int windowSize = 112;
  std::vector<int> fullAttentionBlocks;
  double rmsNormEps = 1e-6;
  int headDim() const { return hiddenSize / heads; }
  int patchDim() const { return inChannels * temporalPatchSize * patchSize * patchSize; }
};

// From a config.json object: Edge-LLM's llm config, or a Hugging Face Qwen2.5-VL config (text fields
// at the top level or under "text_config"). Throws ERR_MODEL_LOAD naming the file and field.
QwenTextConfig parseQwenTextConfig(JsonValue const& config, std::string const& what);
// From a config.json with "vision_config" (Hugging Face / Edge-LLM visual), or a bare vision config.
QwenVisionConfig parseQwenVisionConfig(JsonValue const& config, std::string const& what);

}  // namespace tv::engine::cpu
