// The CPU LLM engine: the Qwen2 decoder of Qwen2.5-VL behind exactly the TensorRT Edge-LLM 0.6 LLM
// engine contract (binding_names.h): inputs_embeds in, logits out, the fp16 KV cache
// [B, 2, Hkv, Cap, D] per layer bound by the caller and updated in place, RoPE taken from the
// caller's cos/sin table. Weights: dense (fp32/fp16/bf16) or AutoAWQ int4.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "engine/cpu/host_context.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/qwen_config.h"
#include "engine/vocab_map.h"

namespace tv::engine::cpu {

// The optimization-profile limits (Edge-LLM's --maxBatchSize / --maxInputLen / --maxKVCacheCapacity).
struct LlmLimits {
  int maxBatch = 1;
  int maxInputLength = 4096;
  int maxKvCapacity = 4096;
  // > 0: the interface of an EAGLE-base engine (llm_build --eagleBase --maxVerifyTreeSize N, Edge-LLM 0.6.1
  // cpp/builder/llmBuilder.cpp:357-421): attention_mask / attention_pos_id inputs, the hidden_states output
  // (computed), and in profile 1 tree decoding of up to N tokens after the committed KV with the logits of
  // every token last_token_ids selects (speculative decoding's verify call), in one batched pass.
  int maxVerifyTreeSize = 0;
};

// How the LM head is stored in memory. kStored keeps the checkpoint's head (fp16 / bf16 / fp32 read in
// place, or int4 when the checkpoint quantized it): exact. kInt8 quantizes a dense head to int8 at load
// (tv::cpu::quantizeQ8Weights, 32-column blocks): a 3B model's 151,936 x 2048 tied head streams 0.33
// instead of 0.62 GB per decoded token. kAuto picks kInt8 when every decoder matmul is int4 (the
// int8 head's error is far below what the int4 body already adds) and kStored otherwise.
enum class LmHeadPrecision { kAuto, kStored, kInt8 };

// The JS names: 'auto', 'fp16' (kStored: fp16 in every bundle this project writes) and 'q8' (kInt8);
// anything else is ERR_INVALID_ARGUMENT.
LmHeadPrecision parseLmHeadPrecision(std::string_view name);

struct LlmLoadSpec {
  JsonValue config;                     // llm config.json (Edge-LLM or Hugging Face)
  std::string configName = "config.json";
  std::vector<std::string> weightFiles;  // safetensors with the decoder layers, final norm, LM head
  // embedding.safetensors ("embedding" [vocab, hidden]): the tied LM head when the checkpoint has no
  // embed_tokens of its own.
  std::string embeddingFile;
  LlmLimits limits;
  std::shared_ptr<ThreadPool> pool;
  // A reduced-vocabulary engine (vocab_map.safetensors): the logits are [B, 1, reduced size], entry j the
  // LM-head row of full id vocabMap->toFull(j), as an Edge-LLM engine built with --reduced_vocab_dir.
  std::shared_ptr<VocabMap const> vocabMap;
  // kInt8 is ERR_INVALID_ARGUMENT for a head that is not dense or whose width (hidden_size) is not a
  // multiple of 128; kAuto then keeps the stored head.
  LmHeadPrecision lmHead = LmHeadPrecision::kAuto;
};

struct QwenDecoderWeights {
  struct Layer {
    std::vector<float> inputNorm;
    std::vector<float> postAttentionNorm;
    Linear qkv;     // q, k, v fused: [(heads + 2 kvHeads) * headDim, hidden], with bias
    Linear output;  // o_proj
    Linear gateUp;  // gate and up fused: [2 * intermediate, hidden], rows interleaved (loadGatedLinear)
    Linear down;
  };
  std::vector<Layer> layers;
  std::vector<float> finalNorm;
  Linear lmHead;
  std::size_t weightBytes = 0;  // streamed per decoded token (all layers + the LM head as used)
};

class CpuLlmEngine final : public HostEngineBase {
 public:
  static std::unique_ptr<CpuLlmEngine> load(LlmLoadSpec spec);

  std::unique_ptr<ExecutionContext> createExecutionContext() override;

  QwenTextConfig const& config() const { return config_; }
  LlmLimits const& limits() const { return limits_; }
  QwenDecoderWeights const& weights() const { return weights_; }
  ThreadPool& pool() const { return *pool_; }
  VocabMap const* vocabMap() const { return vocabMap_.get(); }
  // The width of the logits: the reduced vocabulary size, or vocab_size.
  int logitsWidth() const { return vocabMap_ ? vocabMap_->reducedSize() : config_.vocabSize; }

 private:
  CpuLlmEngine() = default;
  void describeTensors();

  QwenTextConfig config_;
  LlmLimits limits_;
  QwenDecoderWeights weights_;
  SafetensorsSet files_;  // keeps the loaded files alive (dense weights are read in place)
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<VocabMap const> vocabMap_;
};

}  // namespace tv::engine::cpu
