// NEON int4 x int8 matmul over the tiled Q4 layout of kernels.h (AArch64 only; compiled everywhere,
// empty elsewhere). A 32-byte chunk of a tile block is two registers, rows 0-3 and rows 4-7, each
// [4 rows][4 columns]; `and 0x0f` / `shift 4` give the columns of quads i and i + 4 of the block.
//
// In its dot-product build (kernels_neon_dot_q4.cc, used where the CPU has SDOT, e.g. Orin's
// Cortex-A78AE) SDOT-by-lane multiplies a [4 rows][4] register with 4 activations of one quad straight
// into 4 int32 row sums. Baseline NEON uses SMLAL into int16 ([2 rows][4] per register; at most
// 8 x 15 x 127 = 15240 per lane) and folds them with pairwise adds at the end of each block. Both
// produce the exact int32 block dot products, added exactly over a 128-column group; the float part
// is the same as in the AVX2 kernel.
#include <type_traits>

#include "engine/cpu/kernels.h"
#include "engine/cpu/row_tile_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

// This file is built twice on arm64: as itself (baseline NEON, SMLAL, whatever the compiler flags) and
// through kernels_neon_dot_q4.cc, which defines TV_NEON_DOT_BUILD and is compiled with the dot-product
// extension (SDOT). simdLevel() picks the second where the CPU reports the extension.
#if defined(TV_NEON_DOT_BUILD)
#if defined(__aarch64__) && !defined(__ARM_FEATURE_DOTPROD)
#error "kernels_neon_dot_q4.cc must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif
#define TV_NEON_SDOT 1
#else
#define TV_NEON_SDOT 0
#endif

namespace tv::cpu {

#if defined(__aarch64__)
namespace {

using neon::maxInt;
using neon::minInt;
using neon::storeRowTile;

constexpr int kTokenTile = 4;
constexpr int kActivationBudget = 128 * 1024;  // bytes of int8 activations per token block (L2)


// Exact int32 dot products of one tile block with T tokens' activation blocks: isum[t][h] holds rows
// 4h..4h+3.
template <int T>
inline void blockDot(std::uint8_t const* p, std::int8_t const* const* xb, int32x4_t (*isum)[2]) {
  uint8x16_t const lowMask = vdupq_n_u8(0x0f);
  int8x16_t xa[T], xh[T];  // quads 0-3 and 4-7 of each token's block
  for (int t = 0; t < T; ++t) {
    xa[t] = vld1q_s8(xb[t]);
    xh[t] = vld1q_s8(xb[t] + 16);
  }
#if TV_NEON_SDOT
  for (int t = 0; t < T; ++t) isum[t][0] = isum[t][1] = vdupq_n_s32(0);
  auto chunk = [&](auto laneTag) {
    constexpr int i = decltype(laneTag)::value;
    for (int h = 0; h < 2; ++h) {
      uint8x16_t const raw = vld1q_u8(p + 32 * i + 16 * h);
      int8x16_t const lo = vreinterpretq_s8_u8(vandq_u8(raw, lowMask));
      int8x16_t const hi = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
      for (int t = 0; t < T; ++t) {
        isum[t][h] = vdotq_laneq_s32(isum[t][h], lo, xa[t], i);
        isum[t][h] = vdotq_laneq_s32(isum[t][h], hi, xh[t], i);
      }
    }
  };
#else
  int16x8_t s16[T][4];  // [2 rows][4 columns] int16 sums: rows 01, 23, 45, 67
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < 4; ++j) s16[t][j] = vdupq_n_s16(0);
  auto chunk = [&](auto laneTag) {
    constexpr int i = decltype(laneTag)::value;
    for (int h = 0; h < 2; ++h) {
      uint8x16_t const raw = vld1q_u8(p + 32 * i + 16 * h);
      int8x16_t const lo = vreinterpretq_s8_u8(vandq_u8(raw, lowMask));
      int8x16_t const hi = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
      for (int t = 0; t < T; ++t) {
        int8x16_t const xl = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(xa[t]), i));
        int8x16_t const xu = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(xh[t]), i));
        s16[t][2 * h] = vmlal_s8(s16[t][2 * h], vget_low_s8(lo), vget_low_s8(xl));
        s16[t][2 * h + 1] = vmlal_high_s8(s16[t][2 * h + 1], lo, xl);
        s16[t][2 * h] = vmlal_s8(s16[t][2 * h], vget_low_s8(hi), vget_low_s8(xu));
        s16[t][2 * h + 1] = vmlal_high_s8(s16[t][2 * h + 1], hi, xu);
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
    for (int h = 0; h < 2; ++h) {
      isum[t][h] = vpaddq_s32(vpaddlq_s16(s16[t][2 * h]), vpaddlq_s16(s16[t][2 * h + 1]));
    }
  }
#endif
}

template <int T>
void q4Tile(Q4Matrix const& w, int tile, Q8Vector const* x, float32x4_t (*out)[2]) {
  int const blocks = w.cols / kQ8BlockSize;
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib = w.nibbles + static_cast<std::size_t>(tile) * blocks * kQ4BlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * groups * kQ4TileRows;
  std::uint8_t const* zeros = w.zeros + static_cast<std::size_t>(tile) * groups * kQ4TileRows;
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (int g = 0; g < groups; ++g) {
    int32x4_t gsum[T][2];  // the group's exact int32 sums, rows 0-3 and 4-7
    for (int t = 0; t < T; ++t) gsum[t][0] = gsum[t][1] = vdupq_n_s32(0);
    for (int b = g * 4; b < g * 4 + 4; ++b) {
      std::int8_t const* xb[T];
      for (int t = 0; t < T; ++t) xb[t] = x[t].values + b * kQ8BlockSize;
      if constexpr (T == 1) {
        // Decode GEMV: prefetch 2 KB ahead as the AVX2 kernel does (measured there; unmeasured on Orin).
        __builtin_prefetch(nib + static_cast<std::size_t>(b) * kQ4BlockBytes + 2048);
        __builtin_prefetch(nib + static_cast<std::size_t>(b) * kQ4BlockBytes + 2048 + 64);
      }
      int32x4_t isum[T][2];
      blockDot<T>(nib + static_cast<std::size_t>(b) * kQ4BlockBytes, xb, isum);
      for (int t = 0; t < T; ++t) {
        for (int h = 0; h < 2; ++h) gsum[t][h] = vaddq_s32(gsum[t][h], isum[t][h]);
      }
    }
    float32x4_t gacc[T][2];  // d_g * isum_g per row
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < 2; ++h) gacc[t][h] = vmulq_n_f32(vcvtq_f32_s32(gsum[t][h]), x[t].scale[g * 4]);
    }
    float16x8_t const s16 = vreinterpretq_f16_u16(vld1q_u16(scales + g * kQ4TileRows));
    float32x4_t const scale[2] = {vcvt_f32_f16(vget_low_f16(s16)), vcvt_high_f32_f16(s16)};
    uint16x8_t const z16 = vmovl_u8(vld1_u8(zeros + g * kQ4TileRows));
    float32x4_t const zeroScale[2] = {vmulq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(z16))), scale[0]),
                                      vmulq_f32(vcvtq_f32_u32(vmovl_high_u16(z16)), scale[1])};
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < 2; ++h) {
        acc[t][h] = vfmaq_f32(acc[t][h], gacc[t][h], scale[h]);
        acc[t][h] = vfmsq_f32(acc[t][h], zeroScale[h], vdupq_n_f32(x[t].groupSum[g]));
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    out[t][0] = acc[t][0];
    out[t][1] = acc[t][1];
  }
}

void matmulQ4Neon(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                  int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ4TileRows;
  int const tileEnd = (rowEnd + kQ4TileRows - 1) / kQ4TileRows;
  int const tokenBlock = maxInt(kTokenTile, kActivationBudget / w.cols / kTokenTile * kTokenTile);
  float32x4_t out[kTokenTile][2];
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = minInt(tokens, tb + tokenBlock);
    for (int tile = tileBegin; tile < tileEnd; ++tile) {
      for (int t = tb; t < tbEnd; t += kTokenTile) {
        int const n = minInt(kTokenTile, tbEnd - t);
        switch (n) {
          case 4: q4Tile<4>(w, tile, x + t, out); break;
          case 3: q4Tile<3>(w, tile, x + t, out); break;
          case 2: q4Tile<2>(w, tile, x + t, out); break;
          default: q4Tile<1>(w, tile, x + t, out); break;
        }
        storeRowTile(out, n, tile, rowBegin, rowEnd, y, ldy, t);
      }
    }
  }
}

}  // namespace

#if TV_NEON_SDOT
void detail::installNeonDotQ4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Neon; }
#else
void detail::installNeonQ4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Neon; }
#endif
#elif !TV_NEON_SDOT
void detail::installNeonQ4Kernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
