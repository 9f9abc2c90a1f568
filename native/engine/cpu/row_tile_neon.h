// Pieces shared by the NEON int4 and int8 matmul kernels (kernels_neon_q4.cc, kernels_neon_q8.cc),
// whose weights are interleaved in tiles of 8 rows: two float32x4 registers hold one tile's 8 rows.
// aarch64 only; internal linkage, like the kernels that include it.
#pragma once

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstddef>

#include "engine/cpu/kernels.h"

namespace tv::cpu::neon {
namespace {

constexpr int kRowTile = 8;
static_assert(kRowTile == kQ4TileRows && kRowTile == kQ8TileRows, "one lane per row of a weight tile");

inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

// Writes the rows of row tile `tile` (out[t][h] lane r = row 8 * tile + 4h + r) that lie in
// [rowBegin, rowEnd), for tokens t0 .. t0 + n - 1 of y (row stride ldy).
inline void storeRowTile(float32x4_t const (*out)[2], int n, int tile, int rowBegin, int rowEnd, float* y,
                         std::size_t ldy, int t0) {
  int const r0 = tile * kRowTile;
  int const lo = maxInt(rowBegin, r0), hi = minInt(rowEnd, r0 + kRowTile);
  for (int t = 0; t < n; ++t) {
    float* yt = y + static_cast<std::size_t>(t0 + t) * ldy;
    if (lo == r0 && hi == r0 + kRowTile) {
      vst1q_f32(yt + r0, out[t][0]);
      vst1q_f32(yt + r0 + 4, out[t][1]);
    } else {
      float lanes[kRowTile];
      vst1q_f32(lanes, out[t][0]);
      vst1q_f32(lanes + 4, out[t][1]);
      for (int r = lo; r < hi; ++r) yt[r] = lanes[r - r0];
    }
  }
}

}  // namespace
}  // namespace tv::cpu::neon
#endif
