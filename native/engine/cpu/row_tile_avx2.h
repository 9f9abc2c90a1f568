// Pieces shared by the AVX2 int4 and int8 matmul kernels (kernels_avx2_q4.cc, kernels_avx2_q8.cc),
// whose weights are interleaved in tiles of 8 rows so that one ymm lane accumulates one row. Include
// only from files compiled with -mavx2 -mfma -mf16c; everything here has internal linkage, so no
// AVX2 code can be merged into a function called from the portable files.
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "engine/cpu/kernels.h"
#include <cstdint>
#include <cstring>

namespace tv::cpu::avx2 {
namespace {

constexpr int kRowTile = 8;
static_assert(kRowTile == kQ4TileRows && kRowTile == kQ8TileRows, "one lane per row of a weight tile");

inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

// The 4 int8 values at p, repeated in every 32-bit lane.
inline __m256i broadcast4(std::int8_t const* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// Writes the rows of row tile `tile` (out[t] lane r = row 8 * tile + r) that lie in [rowBegin, rowEnd),
// for tokens t0 .. t0 + n - 1 of y (row stride ldy).
inline void storeRowTile(__m256 const* out, int n, int tile, int rowBegin, int rowEnd, float* y, std::size_t ldy,
                         int t0) {
  int const r0 = tile * kRowTile;
  if (r0 >= rowBegin && r0 + kRowTile <= rowEnd) {
    for (int t = 0; t < n; ++t) _mm256_storeu_ps(y + static_cast<std::size_t>(t0 + t) * ldy + r0, out[t]);
    return;
  }
  int const lo = maxInt(rowBegin, r0), hi = minInt(rowEnd, r0 + kRowTile);
  for (int t = 0; t < n; ++t) {
    alignas(32) float lanes[kRowTile];
    _mm256_store_ps(lanes, out[t]);
    for (int r = lo; r < hi; ++r) y[static_cast<std::size_t>(t0 + t) * ldy + r] = lanes[r - r0];
  }
}

}  // namespace
}  // namespace tv::cpu::avx2
