// The int8 weight format of the LM head (Q8Matrix, kernels.h documents the tiled layout): its owner and
// its round-to-nearest quantizer from a dense matrix. Quantized once at load, from the fp16 / bf16 /
// fp32 head the checkpoint holds.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "engine/cpu/kernels.h"

namespace tv {
class ThreadPool;
}

namespace tv::cpu {

// Owns the storage behind a Q8Matrix, 64-byte aligned.
class Q8Weights {
 public:
  Q8Weights() = default;
  // Zero-filled (all weights and scales 0). rows > 0 and cols a positive multiple of 32, else
  // ERR_INVALID_ARGUMENT.
  Q8Weights(int rows, int cols);
  Q8Matrix view() const;
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int tiles() const { return (rows_ + kQ8TileRows - 1) / kQ8TileRows; }
  std::int8_t* values() { return values_.data(); }    // [tiles][cols/32][256]
  std::uint16_t* scales() { return scales_.data(); }  // [tiles][cols/32][8] fp16
  std::size_t bytes() const;  // memory a matmul streams: values + scales (padding rows included)

 private:
  int rows_ = 0;
  int cols_ = 0;
  AlignedBuffer<std::int8_t> values_;
  AlignedBuffer<std::uint16_t> scales_;
};

// Symmetric round-to-nearest int8 quantization of a dense W [rows][cols] (any DenseType), per row and
// 32-column block:
//   d = the smallest fp16 >= max|w| / 127 (rounded up, so |w| / d <= 127 and no code needs clamping)
//   q = nearbyint(w / d)  (fp32 division, ties to even)
// so |w - q d| <= d / 2 up to the rounding of the division, and d exceeds max|w| / 127 by at most one
// fp16 step (a factor 1 + 2^-10 for normal halves). A block of zeros gets d = 0 and q = 0. A block
// holding Inf or NaN gets d = NaN and q = 0, as quantizeQ8 does for activations: every output that
// reads it is NaN instead of the non-finite weight vanishing. Throws ERR_INVALID_ARGUMENT when cols % 32
// != 0 or a block's max|w| / 127 exceeds the largest half (|w| > 8.3e6, which no fp16 checkpoint can
// hold). When a pool is given, row tiles are quantized in parallel on it.
Q8Weights quantizeQ8Weights(DenseMatrix const& w, ThreadPool* pool = nullptr);

}  // namespace tv::cpu
