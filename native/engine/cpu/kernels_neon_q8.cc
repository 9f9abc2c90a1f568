// NEON int8 x int8 matmul (the LM head) over the tiled Q8Matrix layout of kernels.h (AArch64 only;
// compiled everywhere, empty elsewhere). A 32-byte chunk of a tile block is two registers, rows 0-3
// and rows 4-7, each [4 rows][4 columns]; chunk i multiplies activation columns 4i..4i+3.
//
// In its dot-product build (kernels_neon_dot_q8.cc, used where the CPU has SDOT, e.g. Orin's
// Cortex-A78AE) SDOT-by-lane multiplies a [4 rows][4] register with those 4 activations straight into
// 4 int32 row sums. Baseline NEON multiplies [2 rows][4] halves with SMULL/SMLAL, two chunks per int16
// lane (at most 2 x 127 x 127 = 32258), and accumulates them pairwise into int32 (SADALP). Both give
// the exact int32 block dot products; the float step is the one kernels.h prescribes.
#include <type_traits>

#include "engine/cpu/kernels.h"
#include "engine/cpu/row_tile_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

// This file is built twice on arm64: as itself (baseline NEON, SMLAL, whatever the compiler flags) and
// through kernels_neon_dot_q8.cc, which defines TV_NEON_DOT_BUILD and is compiled with the dot-product
// extension (SDOT). simdLevel() picks the second where the CPU reports the extension.
#if defined(TV_NEON_DOT_BUILD)
#if defined(__aarch64__) && !defined(__ARM_FEATURE_DOTPROD)
#error "kernels_neon_dot_q8.cc must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif
#define TV_NEON_SDOT 1
#else
#define TV_NEON_SDOT 0
#endif

namespace tv::cpu {

#if defined(__aarch64__)
namespace {

using neon::minInt;
using neon::storeRowTile;

constexpr int kTokenTile = 4;


// Exact int32 dot products of one tile block with T tokens' activation blocks: isum[t][h] holds rows
// 4h..4h+3.
template <int T>
inline void blockDot(std::int8_t const* p, std::int8_t const* const* xb, int32x4_t (*isum)[2]) {
  int8x16_t xa[T], xh[T];  // columns 0-15 and 16-31 of each token's block
  for (int t = 0; t < T; ++t) {
    xa[t] = vld1q_s8(xb[t]);
    xh[t] = vld1q_s8(xb[t] + 16);
  }
#if TV_NEON_SDOT
  for (int t = 0; t < T; ++t) isum[t][0] = isum[t][1] = vdupq_n_s32(0);
  // Chunks i (columns 4i.., lane i of xa) and i + 4 (columns 16 + 4i.., lane i of xh).
  auto chunk = [&](auto laneTag) {
    constexpr int i = decltype(laneTag)::value;
    for (int h = 0; h < 2; ++h) {
      int8x16_t const lo = vld1q_s8(p + 32 * i + 16 * h);
      int8x16_t const hi = vld1q_s8(p + 32 * (i + 4) + 16 * h);
      for (int t = 0; t < T; ++t) {
        isum[t][h] = vdotq_laneq_s32(isum[t][h], lo, xa[t], i);
        isum[t][h] = vdotq_laneq_s32(isum[t][h], hi, xh[t], i);
      }
    }
  };
#else
  int32x4_t s32[T][4];  // rows 01, 23, 45, 67, as [row a cols 0+1, a 2+3, row b 0+1, b 2+3]
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < 4; ++j) s32[t][j] = vdupq_n_s32(0);
  auto chunk = [&](auto laneTag) {
    constexpr int i = decltype(laneTag)::value;
    for (int h = 0; h < 2; ++h) {
      int8x16_t const lo = vld1q_s8(p + 32 * i + 16 * h);
      int8x16_t const hi = vld1q_s8(p + 32 * (i + 4) + 16 * h);
      for (int t = 0; t < T; ++t) {
        int8x16_t const xl = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(xa[t]), i));
        int8x16_t const xu = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(xh[t]), i));
        int16x8_t const first = vmlal_s8(vmull_s8(vget_low_s8(lo), vget_low_s8(xl)), vget_low_s8(hi), vget_low_s8(xu));
        int16x8_t const second = vmlal_high_s8(vmull_high_s8(lo, xl), hi, xu);
        s32[t][2 * h] = vpadalq_s16(s32[t][2 * h], first);
        s32[t][2 * h + 1] = vpadalq_s16(s32[t][2 * h + 1], second);
      }
    }
  };
#endif
  chunk(std::integral_constant<int, 0>{});
  chunk(std::integral_constant<int, 1>{});
  chunk(std::integral_constant<int, 2>{});
  chunk(std::integral_constant<int, 3>{});
#if !TV_NEON_SDOT
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < 2; ++h) isum[t][h] = vpaddq_s32(s32[t][2 * h], s32[t][2 * h + 1]);
  }
#endif
}

template <int T>
void q8Tile(Q8Matrix const& w, int tile, Q8Vector const* x, float32x4_t (*out)[2]) {
  int const blocks = w.cols / kQ8BlockSize;
  std::int8_t const* values = w.values + static_cast<std::size_t>(tile) * blocks * kQ8WeightBlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * blocks * kQ8TileRows;
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* p = values + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    if constexpr (T == 1) {
      // Decode GEMV: prefetch 2 KB ahead as the AVX2 kernel does (measured there; unmeasured on Orin).
      for (int line = 0; line < kQ8WeightBlockBytes; line += 64) __builtin_prefetch(p + 2048 + line);
    }
    std::int8_t const* xb[T];
    for (int t = 0; t < T; ++t) xb[t] = x[t].values + b * kQ8BlockSize;
    int32x4_t isum[T][2];
    blockDot<T>(p, xb, isum);
    float16x8_t const d16 = vreinterpretq_f16_u16(vld1q_u16(scales + b * kQ8TileRows));
    float32x4_t const dw[2] = {vcvt_f32_f16(vget_low_f16(d16)), vcvt_high_f32_f16(d16)};
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < 2; ++h) {
        float32x4_t const scale = vmulq_n_f32(dw[h], x[t].scale[b]);
        acc[t][h] = vfmaq_f32(acc[t][h], vcvtq_f32_s32(isum[t][h]), scale);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    out[t][0] = acc[t][0];
    out[t][1] = acc[t][1];
  }
}

void matmulQ8Neon(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                  int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ8TileRows;
  int const tileEnd = (rowEnd + kQ8TileRows - 1) / kQ8TileRows;
  float32x4_t out[kTokenTile][2];
  for (int tile = tileBegin; tile < tileEnd; ++tile) {
    for (int t = 0; t < tokens; t += kTokenTile) {
      int const n = minInt(kTokenTile, tokens - t);
      switch (n) {
        case 4: q8Tile<4>(w, tile, x + t, out); break;
        case 3: q8Tile<3>(w, tile, x + t, out); break;
        case 2: q8Tile<2>(w, tile, x + t, out); break;
        default: q8Tile<1>(w, tile, x + t, out); break;
      }
      storeRowTile(out, n, tile, rowBegin, rowEnd, y, ldy, t);
    }
  }
}

}  // namespace

#if TV_NEON_SDOT
void detail::installNeonDotQ8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Neon; }
#else
void detail::installNeonQ8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Neon; }
#endif
#elif !TV_NEON_SDOT
void detail::installNeonQ8Kernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
