// The int4 weight formats: AutoAWQ's "GEMM" checkpoint packing (what Hugging Face AWQ checkpoints
// contain) and the CPU engine's kernel layout (Q4Matrix, kernels.h), with conversions both ways and a
// round-to-nearest quantizer that writes AutoAWQ tensors (for the model generator and
// `trt-vla quantize`; RTN, not AWQ's activation-aware calibration).
//
// AutoAWQ GEMM packing for a linear layer with in_features K and out_features N (y = x W, W [K, N]):
//   qweight int32 [K, N/8]:   word (k, j) packs W[k, 8j..8j+7]; nibble i (bits 4i..4i+3) holds column
//                             8j + kAwqOrder[i], kAwqOrder = {0, 2, 4, 6, 1, 3, 5, 7}
//   qzeros  int32 [K/128, N/8]: zero points, packed the same way
//   scales  fp16  [K/128, N]
//   W[k][n] = (q - zero[k/128][n]) * scale[k/128][n]
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "engine/cpu/kernels.h"

namespace tv {
class ThreadPool;
}

namespace tv::cpu {

inline constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

// Owns the storage behind a Q4Matrix (kernels.h documents the tiled layout), 64-byte aligned.
class Q4Weights {
 public:
  Q4Weights() = default;
  Q4Weights(int rows, int cols);  // zero-filled (all weights 0); cols % 128 == 0, else ERR_INVALID_ARGUMENT
  Q4Matrix view() const;
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int tiles() const { return (rows_ + kQ4TileRows - 1) / kQ4TileRows; }
  std::uint8_t* nibbles() { return nibbles_.data(); }     // [tiles][cols/32][128]
  std::uint16_t* scales() { return scales_.data(); }      // [tiles][cols/128][8] fp16
  std::uint8_t* zeros() { return zeros_.data(); }         // [tiles][cols/128][8] 0..15
  std::size_t bytes() const;  // memory a matmul streams: nibbles + scales + zeros (padding rows included)

 private:
  int rows_ = 0;
  int cols_ = 0;
  AlignedBuffer<std::uint8_t> nibbles_;
  AlignedBuffer<std::uint16_t> scales_;
  AlignedBuffer<std::uint8_t> zeros_;
};

// AutoAWQ tensors of one linear layer (host memory, e.g. memory-mapped from safetensors).
struct AwqTensors {
  int inFeatures = 0;   // K
  int outFeatures = 0;  // N
  std::int32_t const* qweight = nullptr;  // [K, N/8]
  std::int32_t const* qzeros = nullptr;   // [K/128, N/8]
  std::uint16_t const* scales = nullptr;  // [K/128, N] fp16
};

// AutoAWQ -> kernel layout. Throws ERR_MODEL_LOAD when K % 128 or N % 8 is not 0, a dimension is not
// positive, or a tensor pointer is null. When a pool is given, row tiles are converted in parallel on it.
Q4Weights repackAwq(AwqTensors const& awq, ThreadPool* pool = nullptr);

// Round-to-nearest int4 quantization of W^T given as weight[N][K] (Hugging Face nn.Linear layout,
// fp32), per 128-input group, asymmetric, written as AutoAWQ tensors. For each group:
//   lo = min(min w, 0), hi = max(max w, 0)   (the range always holds 0: with zero points limited to
//                                             0..15, a range away from 0 could not be represented)
//   scale = (hi - lo) / 15, rounded UP to fp16 (so 15 steps still cover the range), 1 if hi == lo
//   zero = clamp(round(-lo / scale), 0, 15),  q = clamp(round(w / scale) + zero, 0, 15)
// so every dequantized weight is within scale / 2 of the input. Throws ERR_INVALID_ARGUMENT on
// non-finite weights, on a range too wide for fp16 scales, or when K % 128 or N % 8 is not 0.
struct AwqOwned {
  std::vector<std::int32_t> qweight;  // [K, N/8]
  std::vector<std::int32_t> qzeros;   // [K/128, N/8]
  std::vector<std::uint16_t> scales;  // [K/128, N] fp16
  AwqTensors view(int inFeatures, int outFeatures) const;
};
AwqOwned quantizeRtnAwq(float const* weight, int outFeatures, int inFeatures);

// Dequantizes AutoAWQ tensors to weight[N][K] (fp32, nn.Linear layout): the reference for tests.
// Exact: (q - zero) * scale has at most 4 + 11 significant bits. Same checks as repackAwq.
std::vector<float> dequantizeAwq(AwqTensors const& awq);

}  // namespace tv::cpu
