// Owning storage for the int8-quantized activations of `tokens` vectors of length k (kernels.h,
// Q8Vector), so engine code never sizes Q8 arrays by hand. Allocated once (at the largest batch the
// engine runs) and reused: quantize() overwrites the first `tokens` rows.
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

class Q8Buffer {
 public:
  Q8Buffer() = default;
  // tokens >= 1 vectors of length k (k % 128 == 0), else ERR_INVALID_ARGUMENT.
  Q8Buffer(int tokens, int k);

  int tokens() const { return tokens_; }
  int k() const { return k_; }

  // Row t (0 <= t < tokens()), as the kernels take it.
  Q8Vector row(int t) const { return rows_[static_cast<std::size_t>(t)]; }
  // All rows, for KernelTable::matmulQ4 (x[t] is row t).
  Q8Vector const* rows() const { return rows_.data(); }

  // Quantizes tokens vectors X_t = x + t * ldx (tokens <= this->tokens()) with table.quantizeQ8, one
  // scale per `span` columns (kQ4ActivationSpan for int4 weights, kQ8BlockSize for int8 ones), split over
  // the pool's threads by token when one is given.
  void quantize(KernelTable const& table, int span, float const* x, std::size_t ldx, int tokens, ThreadPool* pool = nullptr);
  // The same for columns [c0, c1) only (both multiples of 128), on the calling thread: x points at
  // column 0 of the first vector. The other columns are left as they are, so ranges quantized by
  // different threads make up the same buffer as one quantize().
  void quantizeColumns(KernelTable const& table, int span, float const* x, std::size_t ldx, int tokens, int c0, int c1);

 private:
  // ERR_INVALID_ARGUMENT unless span is a Q8 activation span and tokens <= this->tokens().
  void checkRequest(int span, int tokens) const;
  // Columns [c0, c1) of vector x (column 0 at x) into row t.
  void quantizeRow(KernelTable const& table, int span, float const* x, int t, int c0, int c1) const;

  int tokens_ = 0;
  int k_ = 0;
  AlignedBuffer<std::int8_t> values_;  // [tokens][k]
  AlignedBuffer<float> scales_;        // [tokens][k / 32]
  AlignedBuffer<float> groupSums_;     // [tokens][k / 128]
  AlignedBuffer<std::int32_t> blockSums_;  // [tokens][k / 32]
  std::vector<Q8Vector> rows_;
};

}  // namespace tv::cpu
