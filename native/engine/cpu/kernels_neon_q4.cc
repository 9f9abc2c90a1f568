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
//
// In its int8 matrix multiply build (kernels_neon_i8mm_q4.cc, used where the CPU also has I8MM), calls of
// two tokens or more (prefill, speculative verification) run on USMMLA instead: one instruction multiplies
// 2 rows x 8 columns of unsigned nibbles with 2 tokens x 8 int8 activations into the 2 x 2 int32 sums,
// 32 products where SDOT makes 16. Its operands need 8 consecutive columns of a row: zipping the 32-bit
// lanes of two chunks' nibble registers gives rows (r, r + 1) x quads (q, q + 1), and the tokens' blocks are
// interleaved by 8 bytes once per call (packTokenPairs). The int32 group sums are exact as in the other
// builds and the float steps (addGroup) the same: bit-identical to the SDOT and baseline builds.
#include <type_traits>
#include <vector>

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
#if defined(TV_NEON_I8MM_BUILD)
#if defined(__aarch64__) && !defined(__ARM_FEATURE_MATMUL_INT8)
#error "kernels_neon_i8mm_q4.cc must be compiled with the int8 matrix multiply extension (-march=armv8.2-a+dotprod+i8mm)"
#endif
#define TV_NEON_MMLA 1
#else
#define TV_NEON_MMLA 0
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

// A group's weight scales and zero x scale products for the tile's rows 0-3 and 4-7.
struct GroupScales {
  float32x4_t scale[2];
  float32x4_t zeroScale[2];
};

inline GroupScales groupScales(std::uint16_t const* scales, std::uint8_t const* zeros) {
  float16x8_t const s16 = vreinterpretq_f16_u16(vld1q_u16(scales));
  GroupScales g;
  g.scale[0] = vcvt_f32_f16(vget_low_f16(s16));
  g.scale[1] = vcvt_high_f32_f16(s16);
  uint16x8_t const z16 = vmovl_u8(vld1_u8(zeros));
  g.zeroScale[0] = vmulq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(z16))), g.scale[0]);
  g.zeroScale[1] = vmulq_f32(vcvtq_f32_u32(vmovl_high_u16(z16)), g.scale[1]);
  return g;
}

// The float steps of group g for one token: acc += (d_g * isum_g) * scale - zeroScale * groupSum_g, rows
// 0-3 and 4-7 (the AVX2 kernel's order).
inline void addGroup(float32x4_t* acc, int32x4_t const* gsum, Q8Vector const& x, int g, GroupScales const& s) {
  for (int h = 0; h < 2; ++h) {
    float32x4_t const gacc = vmulq_n_f32(vcvtq_f32_s32(gsum[h]), x.scale[g * 4]);
    acc[h] = vfmaq_f32(acc[h], gacc, s.scale[h]);
    acc[h] = vfmsq_f32(acc[h], s.zeroScale[h], vdupq_n_f32(x.groupSum[g]));
  }
}

template <int T>
void q4Tile(Q4Matrix const& w, int tile, Q8Vector const* x, float32x4_t (*out)[2]) {
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib = w.tileNibbles(tile);
  std::uint16_t const* scales = w.tileScales(tile);
  std::uint8_t const* zeros = w.tileZeros(tile);
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
    GroupScales const s = groupScales(scales + g * kQ4TileRows, zeros + g * kQ4TileRows);
    for (int t = 0; t < T; ++t) addGroup(acc[t], gsum[t], x[t], g, s);
  }
  for (int t = 0; t < T; ++t) {
    out[t][0] = acc[t][0];
    out[t][1] = acc[t][1];
  }
}

#if TV_NEON_MMLA
// Token pairs per USMMLA tile: 2 pairs x 4 row pairs of int32 sums and 4 tokens x 2 float accumulators
// (16 registers) leave room for a chunk's nibble registers within the 32.
constexpr int kPairTile = 2;

// The blocks of tokens (t, t + 1) interleaved by 8 bytes, pair after pair: for block b of pair p, 64 bytes
// [t cols 0-7, t+1 cols 0-7, t cols 8-15, t+1 cols 8-15, ... 24-31]; an odd last token is paired with zeros.
void packTokenPairs(Q8Vector const* x, int tokens, int cols, std::vector<std::int8_t>& packed) {
  int const blocks = cols / kQ8BlockSize;
  int const pairs = (tokens + 1) / 2;
  packed.resize(static_cast<std::size_t>(pairs) * blocks * 64);
  int8x16_t const zero = vdupq_n_s8(0);
  for (int p = 0; p < pairs; ++p) {
    std::int8_t const* a = x[2 * p].values;
    std::int8_t const* b = 2 * p + 1 < tokens ? x[2 * p + 1].values : nullptr;
    std::int8_t* out = packed.data() + static_cast<std::size_t>(p) * blocks * 64;
    for (int k = 0; k < blocks; ++k, out += 64) {
      int8x16_t const a0 = vld1q_s8(a + 32 * k), a1 = vld1q_s8(a + 32 * k + 16);
      int8x16_t const b0 = b != nullptr ? vld1q_s8(b + 32 * k) : zero;
      int8x16_t const b1 = b != nullptr ? vld1q_s8(b + 32 * k + 16) : zero;
      auto const zip = [](int8x16_t u, int8x16_t v, bool high) {
        int64x2_t const u64 = vreinterpretq_s64_s8(u), v64 = vreinterpretq_s64_s8(v);
        return vreinterpretq_s8_s64(high ? vzip2q_s64(u64, v64) : vzip1q_s64(u64, v64));
      };
      vst1q_s8(out, zip(a0, b0, false));
      vst1q_s8(out + 16, zip(a0, b0, true));
      vst1q_s8(out + 32, zip(a1, b1, false));
      vst1q_s8(out + 48, zip(a1, b1, true));
    }
  }
}

// Row tile `tile` for the P token pairs packed at `pairs` (packTokenPairs; pair q at q * pairStride):
// out[t] as q4Tile's, for the n <= 2P real tokens x[0..n).
template <int P>
void q4TileMmla(Q4Matrix const& w, int tile, std::int8_t const* pairs, std::size_t pairStride, Q8Vector const* x, int n,
                float32x4_t (*out)[2]) {
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib = w.tileNibbles(tile);
  std::uint16_t const* scales = w.tileScales(tile);
  std::uint8_t const* zeros = w.tileZeros(tile);
  uint8x16_t const lowMask = vdupq_n_u8(0x0f);
  float32x4_t acc[2 * P][2];
  for (int t = 0; t < 2 * P; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (int g = 0; g < groups; ++g) {
    int32x4_t sum[P][4];  // pair q, row pair j (rows 2j, 2j + 1): [r t, r t+1, r+1 t, r+1 t+1], exact
    for (int q = 0; q < P; ++q)
      for (int j = 0; j < 4; ++j) sum[q][j] = vdupq_n_s32(0);
    for (int b = g * 4; b < g * 4 + 4; ++b) {
      std::uint8_t const* p = nib + static_cast<std::size_t>(b) * kQ4BlockBytes;
      for (int h = 0; h < 2; ++h) {  // rows 4h .. 4h + 3
        uint32x4_t lo[4], hi[4];     // [4 rows][quad i] and [4 rows][quad i + 4] of chunk i
        for (int i = 0; i < 4; ++i) {
          uint8x16_t const raw = vld1q_u8(p + 32 * i + 16 * h);
          lo[i] = vreinterpretq_u32_u8(vandq_u8(raw, lowMask));
          hi[i] = vreinterpretq_u32_u8(vshrq_n_u8(raw, 4));
        }
        // Columns 8m .. 8m + 7 are quads (2m, 2m + 1): low nibbles of chunks (2m, 2m + 1) for m < 2, high
        // nibbles of chunks (2m - 4, 2m - 3) after.
        for (int m = 0; m < 4; ++m) {
          uint32x4_t const first = m < 2 ? lo[2 * m] : hi[2 * m - 4];
          uint32x4_t const second = m < 2 ? lo[2 * m + 1] : hi[2 * m - 3];
          uint8x16_t const upper = vreinterpretq_u8_u32(vzip1q_u32(first, second));  // rows 4h, 4h + 1
          uint8x16_t const lower = vreinterpretq_u8_u32(vzip2q_u32(first, second));  // rows 4h + 2, 4h + 3
          for (int q = 0; q < P; ++q) {
            int8x16_t const xq = vld1q_s8(pairs + q * pairStride + static_cast<std::size_t>(b) * 64 + 16 * m);
            sum[q][2 * h] = vusmmlaq_s32(sum[q][2 * h], upper, xq);
            sum[q][2 * h + 1] = vusmmlaq_s32(sum[q][2 * h + 1], lower, xq);
          }
        }
      }
    }
    GroupScales const s = groupScales(scales + g * kQ4TileRows, zeros + g * kQ4TileRows);
    for (int q = 0; q < P; ++q) {
      // Even lanes are token 2q's rows, odd lanes token 2q + 1's.
      int32x4_t const even[2] = {vuzp1q_s32(sum[q][0], sum[q][1]), vuzp1q_s32(sum[q][2], sum[q][3])};
      int32x4_t const odd[2] = {vuzp2q_s32(sum[q][0], sum[q][1]), vuzp2q_s32(sum[q][2], sum[q][3])};
      addGroup(acc[2 * q], even, x[2 * q], g, s);
      if (2 * q + 1 < n) addGroup(acc[2 * q + 1], odd, x[2 * q + 1], g, s);
    }
  }
  for (int t = 0; t < n; ++t) {
    out[t][0] = acc[t][0];
    out[t][1] = acc[t][1];
  }
}

// Two tokens or more: token blocks as matmulQ4Neon's, each packed once per call, in tiles of kPairTile pairs.
void matmulQ4Mmla(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin, int rowEnd) {
  thread_local std::vector<std::int8_t> packed;
  int const tileBegin = rowBegin / kQ4TileRows;
  int const tileEnd = (rowEnd + kQ4TileRows - 1) / kQ4TileRows;
  int const tokenBlock = maxInt(2 * kPairTile, kActivationBudget / w.cols / (2 * kPairTile) * (2 * kPairTile));
  std::size_t const pairStride = static_cast<std::size_t>(w.cols / kQ8BlockSize) * 64;
  float32x4_t out[2 * kPairTile][2];
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = minInt(tokens, tb + tokenBlock);
    packTokenPairs(x + tb, tbEnd - tb, w.cols, packed);
    for (int tile = tileBegin; tile < tileEnd; ++tile) {
      for (int t = tb; t < tbEnd; t += 2 * kPairTile) {
        int const n = minInt(2 * kPairTile, tbEnd - t);
        std::int8_t const* pairs = packed.data() + static_cast<std::size_t>((t - tb) / 2) * pairStride;
        if (n > 2) {
          q4TileMmla<2>(w, tile, pairs, pairStride, x + t, n, out);
        } else {
          q4TileMmla<1>(w, tile, pairs, pairStride, x + t, n, out);
        }
        storeRowTile(out, n, tile, rowBegin, rowEnd, y, ldy, t);
      }
    }
  }
}
#endif

void matmulQ4Neon(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                  int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
#if TV_NEON_MMLA
  if (tokens >= 2) {
    matmulQ4Mmla(w, x, tokens, y, ldy, rowBegin, rowEnd);
    return;
  }
#endif
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

#if TV_NEON_MMLA
void detail::installNeonI8mmQ4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Neon; }
#elif TV_NEON_SDOT
void detail::installNeonDotQ4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Neon; }
#else
void detail::installNeonQ4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Neon; }
#endif
#elif !TV_NEON_SDOT
void detail::installNeonQ4Kernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
