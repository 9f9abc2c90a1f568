// The CPU vision engine: the Qwen2.5-VL vision tower behind the TensorRT Edge-LLM 0.6 visual engine
// contract (binding_names.h): patch embedding, 2-D rotary, windowed attention except in the
// full-attention blocks, RMSNorm, SwiGLU MLP, 2x2 patch merger. Keys and values are held in fp16 for
// attention (as in the Edge-LLM ViT attention plugin); everything else is fp32.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "engine/cpu/host_context.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/qwen_config.h"

namespace tv::engine::cpu {

// Edge-LLM visual_build's --minImageTokens / --maxImageTokens / --maxImageTokensPerImage.
struct VisionLimits {
  int minImageTokens = 1;
  int maxImageTokens = 4096;
  int maxImageTokensPerImage = 2048;
};

struct VisionLoadSpec {
  JsonValue config;  // config.json with vision_config (Hugging Face / Edge-LLM visual)
  std::string configName = "config.json";
  std::vector<std::string> weightFiles;  // safetensors with visual.* (or model.visual.*)
  VisionLimits limits;
  std::shared_ptr<ThreadPool> pool;
};

struct QwenVisionWeights {
  struct Block {
    std::vector<float> norm1;
    std::vector<float> norm2;
    Linear qkv;  // [3 * hidden, hidden] with bias
    Linear proj;
    Linear gateUp;  // gate and up fused, with bias
    Linear down;
  };
  Linear patchEmbed;  // [hidden, C * T * P * P]
  std::vector<Block> blocks;
  std::vector<float> mergerNorm;
  Linear mergerFc1;  // [4 hidden, 4 hidden]
  Linear mergerFc2;  // [out_hidden, 4 hidden]
};

class CpuVisionEngine final : public HostEngineBase {
 public:
  static std::unique_ptr<CpuVisionEngine> load(VisionLoadSpec spec);
  std::unique_ptr<ExecutionContext> createExecutionContext() override;

  QwenVisionConfig const& config() const { return config_; }
  VisionLimits const& limits() const { return limits_; }
  QwenVisionWeights const& weights() const { return weights_; }
  ThreadPool& pool() const { return *pool_; }

 private:
  CpuVisionEngine() = default;
  void describeTensors();

  QwenVisionConfig config_;
  VisionLimits limits_;
  QwenVisionWeights weights_;
  SafetensorsSet files_;
  std::shared_ptr<ThreadPool> pool_;
};

}  // namespace tv::engine::cpu
