// Writing checkpoints: Qwen2.5-VL-shaped models with seeded random weights (the model generator), and
// round-to-nearest int4 quantization of an existing checkpoint into AutoAWQ tensors
// (`trt-vla quantize`). Same seed, same plan -> the same bytes, whatever the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_types.h"
#include "core/thread_pool.h"

namespace tv::engine::cpu {

enum class InitKind { kNormal, kConstant };

struct TensorPlan {
  std::string name;          // name in the file
  DType dtype = DType::kF16; // F32, F16 or BF16 (dense); ignored for AWQ entries
  std::vector<std::int64_t> shape;
  InitKind init = InitKind::kNormal;
  double stddev = 0.02;  // kNormal: N(mean, stddev)
  double mean = 0.0;     // kNormal mean, or the kConstant value
  // The random stream is derived from (seed, seedName); defaults to name. Two tensors with the same
  // seedName get the same values (e.g. embed_tokens and embedding.safetensors' copy).
  std::string seedName;
  // AutoAWQ int4: shape is the nn.Linear weight [out, in]; writes <name>.qweight / .qzeros / .scales
  // from RTN-quantized random fp32 weights. name is the layer prefix.
  bool awq = false;
};

// Writes one safetensors file with every planned tensor. Throws ERR_INVALID_ARGUMENT for bad plans.
void writeRandomCheckpoint(std::string const& path, std::vector<TensorPlan> const& plan, std::uint64_t seed, ThreadPool& pool,
                           std::vector<std::pair<std::string, std::string>> const& metadata = {});

struct QuantizeReport {
  int quantizedLayers = 0;
  int copiedTensors = 0;
  std::uint64_t bytesIn = 0;
  std::uint64_t bytesOut = 0;
};

// Reads the safetensors files of a Hugging Face Qwen2.5-VL checkpoint and writes one file where every
// decoder linear weight (q/k/v/o/gate/up/down of model.layers.*) is replaced by RTN-quantized AutoAWQ
// tensors (<prefix>.qweight / .qzeros / .scales, group 128); everything else is copied unchanged.
QuantizeReport quantizeCheckpointRtn(std::vector<std::string> const& inputs, std::string const& output);

}  // namespace tv::engine::cpu
