// AVX-512 + VNNI int4 x int8 matmul (decode GEMV and prefill GEMM) over the tiled Q4 layout of
// kernels.h, and the AVX-512 level's install function. Compiled only on x86-64 with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni (+ the AVX2 flags), installed only after the CPU and OS
// checks of simdLevelUsable(); like the AVX2 files: no inline library templates in this file (their
// AVX-512 instantiations could be picked by the linker for portable code).
//
// The weights are unsigned nibbles (0..15) and the activations signed int8, exactly VPDPBUSD's
// u8 x s8 operands: no sign trick or offset is needed. A zmm pairs two row tiles (row_tile_avx512.h);
// `and 0x0f` / `shift 4` of a 32-byte chunk give [rows][4 columns] registers, and one VPDPBUSD per
// register and token adds 4 exact products to each row's int32 group sum (|sum| <= 128 x 15 x 127).
// That replaces AVX2's vpmaddubsw + int16 add + vpmaddwd chain and covers 16 rows per instruction.
//
// The float steps are kernels_avx2_q4.cc's, lane for lane (per 128-column group: the int32 group sum
// times the activation scale, fma with the weight scale, fnmadd of zero x scale with the group sum), so
// this level's results are bit-identical to the AVX2 level's (tested), and within the reference's
// float-order tolerance like those.
#include "engine/cpu/row_tile_avx512.h"  // first: it quiets a GCC 12 header warning before <immintrin.h>

#include <immintrin.h>

#include <cstdint>

#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

using avx512::broadcast4;
using avx512::broadcast8;
using avx512::chunkPair;
using avx512::duplicateRows;
using avx512::evenLanes;
using avx512::foldLanes;
using avx512::foldPairLanes;
using avx512::loadHalfPair;
using avx512::loadPair;
using avx512::maxInt;
using avx512::minInt;
using avx512::oddLanes;
using avx512::pairLanes;
using avx512::pin;
using avx512::storeTile;
using avx512::storeTilePair;

// Tokens per register tile: T x (int32 block sum, float block-sum accumulator, float row accumulator)
// + 2 weight registers + constants within the 32 zmm registers.
constexpr int kTokenTile = 8;
// Tokens per call of the four-tile GEMM: 2 x 4 float accumulators and 2 x 4 x 2 int32 chains.
constexpr int kQuadTokens = 4;
constexpr int kActivationBudget = 128 * 1024;  // bytes of int8 activations per token block (L2), as AVX2
// Decode GEMV streams the weights once; prefetch ahead of the tile stream (kernels_avx2_q4.cc).
constexpr int kGemvPrefetchBytes = 8192;

// GEMM: computes P pairs of row tiles (tiles[2p], tiles[2p + 1]) for T tokens (weights re-read from L1, no
// prefetch): out[p * T + t] lanes 0-7 = tile 2p's rows of Y for token t, lanes 8-15 tile 2p + 1's. With two
// pairs, each activation broadcast feeds two VPDPBUSDs: one pair took a 32-bit broadcast load per VPDPBUSD,
// and an inner loop of that shape ran ~38 cycles per 16-row block at 8 tokens against ~32 with the broadcasts
// shared (a loop model in cache, 1 thread); the float steps per (row, token) lane are the same for any P.
// Measured (alternating builds, one run): Q4 GEMMs of 64-750 tokens 0.84-0.95x the time on 1 and 2 threads,
// a 3b-shape prefill of 128 / 512 tokens 0.88x / 0.92x, 0.5b 256 tokens 0.90x. One chain per (token, pair)
// instead of two was 1.06-1.11x slower (latency: 8 dependent VPDPBUSDs per block).
template <int T, int P>
void q4TilePairs(Q4Matrix const& w, int const* tiles, Q8Vector const* x, __m512* out) {
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib[2 * P];
  std::uint16_t const* scales[2 * P];
  std::uint8_t const* zeros[2 * P];
  for (int i = 0; i < 2 * P; ++i) {
    nib[i] = w.tileNibbles(tiles[i]);
    scales[i] = w.tileScales(tiles[i]);
    zeros[i] = w.tileZeros(tiles[i]);
  }
  // Independent int32 sums per token: one VPDPBUSD chain of 8 per block would be latency-bound with
  // few tokens (measured for the GEMV: 0.7x AVX2's speed with one chain); the chains add exactly.
  constexpr int kChains = T * P == 1 ? 4 : T * P <= 3 || (P > 1 && T <= 4) ? 2 : 1;
  __m512i const lowMask = _mm512_set1_epi8(0x0f);
  __m512 acc[P * T];
  for (int i = 0; i < P * T; ++i) acc[i] = _mm512_setzero_ps();

  for (int g = 0; g < groups; ++g) {
    __m512i isum[P * T][kChains];  // the group's exact int32 sums per row
    for (int i = 0; i < P * T; ++i) {
      for (int c = 0; c < kChains; ++c) isum[i][c] = _mm512_setzero_si512();
    }
    for (int b = g * 4; b < g * 4 + 4; ++b) {
      for (int i = 0; i < 4; ++i) {
        __m512i lo[P], hi[P];  // columns 4i..4i+3 and 16+4i..
        for (int p = 0; p < P; ++p) {
          __m512i const raw = loadPair(nib[2 * p] + static_cast<std::size_t>(b) * kQ4BlockBytes + 32 * i,
                                       nib[2 * p + 1] + static_cast<std::size_t>(b) * kQ4BlockBytes + 32 * i);
          lo[p] = _mm512_and_si512(raw, lowMask);
          hi[p] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lowMask);
        }
        for (int t = 0; t < T; ++t) {
          std::int8_t const* xb = x[t].values + b * kQ8BlockSize;
          __m512i const xLo = broadcast4(xb + 4 * i), xHi = broadcast4(xb + 16 + 4 * i);
          for (int p = 0; p < P; ++p) {
            __m512i& cLo = isum[p * T + t][(2 * i) % kChains];
            cLo = _mm512_dpbusd_epi32(cLo, lo[p], xLo);
            __m512i& cHi = isum[p * T + t][(2 * i + 1) % kChains];
            cHi = _mm512_dpbusd_epi32(cHi, hi[p], xHi);
          }
        }
        if constexpr (P > 1 && kChains == 2) {  // GCC 12 otherwise copied most of the 16 chains every step (objdump)
          for (int j = 0; j < P * T; ++j) pin(isum[j][0], isum[j][1]);
        }
      }
    }
    for (int p = 0; p < P; ++p) {
      __m512 gacc[T];  // d_g * isum_g per row
      for (int t = 0; t < T; ++t) {
        __m512i sum = isum[p * T + t][0];
        for (int c = 1; c < kChains; ++c) sum = _mm512_add_epi32(sum, isum[p * T + t][c]);  // exact, any order
        gacc[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(x[t].scale[g * 4]));
      }
      __m512 const scale = loadHalfPair(scales[2 * p] + g * kQ4TileRows, scales[2 * p + 1] + g * kQ4TileRows);
      __m128i const z8 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(zeros[2 * p] + g * kQ4TileRows)),
                                            _mm_loadl_epi64(reinterpret_cast<__m128i const*>(zeros[2 * p + 1] + g * kQ4TileRows)));
      __m512 const zeroScale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(z8)), scale);  // exact
      for (int t = 0; t < T; ++t) {
        acc[p * T + t] = _mm512_fmadd_ps(gacc[t], scale, acc[p * T + t]);
        acc[p * T + t] = _mm512_fnmadd_ps(zeroScale, _mm512_set1_ps(x[t].groupSum[g]), acc[p * T + t]);
      }
    }
  }
  for (int i = 0; i < P * T; ++i) out[i] = acc[i];
}

// One to eight tokens (the decode GEMV and speculative verification's rows): one prefetched tile stream,
// dotted with every token in zmm registers. At one token it replaced a ymm loop (one 32-byte chunk per
// register: 8 VPDPBUSDs and 8 dword broadcasts per block, and GCC copied its chains every block): in cache,
// 1 thread, 512 x 2048, 10.0 -> 5.9 us. The tile-pair GEMM reads two streams 8-16 KB apart without prefetch,
// which at small T is bound by memory (a 2-token call cost 1.6x a 1-token one on the 0.5b shape; with both
// streams prefetched, two chains per token and folded broadcasts it ran 16.3 cycles per block in cache vs
// this loop's 16.6, but 6 tokens over 8192 x 2048 from memory on 2 threads took 253 vs 167 us); a ymm
// loop was bound by the pipes that run VPDPBUSD (Zen 5: two 512-bit VPDPBUSD per cycle, the same count
// as 256-bit ones, measured), so a zmm holds two chunks of the tile (chunkPair, row_tile_avx512.h):
// 64 bytes = nibble chunks (0, 1) or (2, 3); `and` / `shift` then give columns (4i..4i+3 | 4i+4..4i+7) of
// row r in lanes (2r, 2r+1). Tokens in pairs share one conversion and one multiply with the scales per
// group (per token: 1.3x faster at 6-8 tokens than a fold per token). Every lane runs q4TilePairs<T, P>'s (and
// the AVX2 level's) float steps: bit-identical results (tested).
template <int T>
void q4TileFewTokens(Q4Matrix const& w, int tile, Q8Vector const* x, __m256* out) {
  constexpr int kPairs = T / 2;
  constexpr bool kOdd = T % 2 != 0;
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib = w.tileNibbles(tile);
  std::uint16_t const* scales = w.tileScales(tile);
  std::uint8_t const* zeros = w.tileZeros(tile);
  __m512i const lowMask = _mm512_set1_epi8(0x0f);
  __m512 acc[kPairs > 0 ? kPairs : 1];
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_setzero_ps();
  __m256 accOdd = _mm256_setzero_ps();
  for (int g = 0; g < groups; ++g) {
    // Two exact int32 chains per token, one for the low nibbles' columns and one for the high ones: with one,
    // its 4 dependent VPDPBUSDs per block (latency 4) bound the loop at 16 cycles per block at 6 tokens, where
    // the two VPDPBUSD pipes need 12. pin() keeps GCC 12 from holding each chain in two registers and copying
    // it twice per block (it did, seen in objdump). In cache, 1 thread, 512 x 2048: 6 tokens 20.5 -> 19.0 us,
    // 4 tokens 15.4 -> 13.6 us, 2 tokens 10.1 -> 8.4 us.
    __m512i isum[T], isumHi[T];
    for (int t = 0; t < T; ++t) {
      isum[t] = _mm512_setzero_si512();
      isumHi[t] = _mm512_setzero_si512();
      pin(isum[t], isumHi[t]);
    }
    for (int b = g * 4; b < g * 4 + 4; ++b) {
      std::uint8_t const* p = nib + static_cast<std::size_t>(b) * kQ4BlockBytes;
      _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes + 64, _MM_HINT_T0);
      __m512i const raw0 = chunkPair(p);
      __m512i const raw1 = chunkPair(p + 64);
      __m512i const lo0 = _mm512_and_si512(raw0, lowMask), hi0 = _mm512_and_si512(_mm512_srli_epi16(raw0, 4), lowMask);
      __m512i const lo1 = _mm512_and_si512(raw1, lowMask), hi1 = _mm512_and_si512(_mm512_srli_epi16(raw1, 4), lowMask);
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xb = x[t].values + b * kQ8BlockSize;
        isum[t] = _mm512_dpbusd_epi32(isum[t], lo0, broadcast8(xb));
        isumHi[t] = _mm512_dpbusd_epi32(isumHi[t], hi0, broadcast8(xb + 16));
        isum[t] = _mm512_dpbusd_epi32(isum[t], lo1, broadcast8(xb + 8));
        isumHi[t] = _mm512_dpbusd_epi32(isumHi[t], hi1, broadcast8(xb + 24));
        pin(isum[t], isumHi[t]);
      }
    }
    for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], isumHi[t]);  // exact
    __m512 gacc[kPairs > 0 ? kPairs : 1];  // d_g * isum_g per row, pair by pair
    for (int p = 0; p < kPairs; ++p) {
      __m512i const rows = foldPairLanes(isum[2 * p], isum[2 * p + 1]);
      gacc[p] = _mm512_mul_ps(_mm512_cvtepi32_ps(rows), pairLanes(x[2 * p].scale[g * 4], x[2 * p + 1].scale[g * 4]));
    }
    __m256 gaccOdd = _mm256_setzero_ps();
    if constexpr (kOdd) {
      __m256i const rows = foldLanes(isum[T - 1]);
      gaccOdd = _mm256_mul_ps(_mm256_cvtepi32_ps(rows), _mm256_set1_ps(x[T - 1].scale[g * 4]));
    }
    __m256 const scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + g * kQ4TileRows)));
    __m128i const z8 = _mm_loadl_epi64(reinterpret_cast<__m128i const*>(zeros + g * kQ4TileRows));
    __m256 const zeroScale = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(z8)), scale);  // exact
    __m512 const scale2 = duplicateRows(scale);
    __m512 const zeroScale2 = duplicateRows(zeroScale);
    for (int p = 0; p < kPairs; ++p) {
      acc[p] = _mm512_fmadd_ps(gacc[p], scale2, acc[p]);
      acc[p] = _mm512_fnmadd_ps(zeroScale2, pairLanes(x[2 * p].groupSum[g], x[2 * p + 1].groupSum[g]), acc[p]);
    }
    if constexpr (kOdd) {
      accOdd = _mm256_fmadd_ps(gaccOdd, scale, accOdd);
      accOdd = _mm256_fnmadd_ps(zeroScale, _mm256_set1_ps(x[T - 1].groupSum[g]), accOdd);
    }
  }
  for (int p = 0; p < kPairs; ++p) {
    out[2 * p] = evenLanes(acc[p]);
    out[2 * p + 1] = oddLanes(acc[p]);
  }
  if constexpr (kOdd) out[T - 1] = accOdd;
}

template <int T>
void fewTokens(Q4Matrix const& w, Q8Vector const* x, float* y, std::size_t ldy, int rowBegin, int rowEnd, int tileBegin,
               int tileEnd) {
  __m256 out[T];
  for (int tile = tileBegin; tile < tileEnd; ++tile) {
    q4TileFewTokens<T>(w, tile, x, out);
    for (int t = 0; t < T; ++t) storeTile(out[t], tile, rowBegin, rowEnd, y, ldy, t);
  }
}

// Token counts up to this take the single-stream path (fewTokens); more the tile-pair GEMM.
constexpr int kFewTokens = 8;

void matmulQ4Avx512(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                    int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ4TileRows;
  int const tileEnd = (rowEnd + kQ4TileRows - 1) / kQ4TileRows;
  if (tokens <= kFewTokens) {
    switch (tokens) {
      case 1: fewTokens<1>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 2: fewTokens<2>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 3: fewTokens<3>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 4: fewTokens<4>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 5: fewTokens<5>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 6: fewTokens<6>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      case 7: fewTokens<7>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
      default: fewTokens<8>(w, x, y, ldy, rowBegin, rowEnd, tileBegin, tileEnd); return;
    }
  }
  int const tokenBlock = maxInt(kTokenTile, kActivationBudget / w.cols / kTokenTile * kTokenTile);
  __m512 out[kTokenTile];
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = minInt(tokens, tb + tokenBlock);
    int tileA = tileBegin;
    // Four tiles at a time (two pairs sharing each activation broadcast), kQuadTokens tokens per call.
    for (; tileA + 4 <= tileEnd; tileA += 4) {
      int const tiles[4] = {tileA, tileA + 1, tileA + 2, tileA + 3};
      for (int t = tb; t < tbEnd; t += kQuadTokens) {
        int const n = minInt(kQuadTokens, tbEnd - t);
        switch (n) {
          case 4: q4TilePairs<4, 2>(w, tiles, x + t, out); break;
          case 3: q4TilePairs<3, 2>(w, tiles, x + t, out); break;
          case 2: q4TilePairs<2, 2>(w, tiles, x + t, out); break;
          default: q4TilePairs<1, 2>(w, tiles, x + t, out); break;
        }
        storeTilePair(out, n, tileA, tileA + 1, rowBegin, rowEnd, y, ldy, t);
        storeTilePair(out + n, n, tileA + 2, tileA + 3, rowBegin, rowEnd, y, ldy, t);
      }
    }
    for (; tileA < tileEnd; tileA += 2) {
      int const tiles[2] = {tileA, tileA + 1 < tileEnd ? tileA + 1 : tileA};
      for (int t = tb; t < tbEnd; t += kTokenTile) {
        int const n = minInt(kTokenTile, tbEnd - t);
        switch (n) {
          case 8: q4TilePairs<8, 1>(w, tiles, x + t, out); break;
          case 7: q4TilePairs<7, 1>(w, tiles, x + t, out); break;
          case 6: q4TilePairs<6, 1>(w, tiles, x + t, out); break;
          case 5: q4TilePairs<5, 1>(w, tiles, x + t, out); break;
          case 4: q4TilePairs<4, 1>(w, tiles, x + t, out); break;
          case 3: q4TilePairs<3, 1>(w, tiles, x + t, out); break;
          case 2: q4TilePairs<2, 1>(w, tiles, x + t, out); break;
          default: q4TilePairs<1, 1>(w, tiles, x + t, out); break;
        }
        storeTilePair(out, n, tiles[0], tiles[1], rowBegin, rowEnd, y, ldy, t);
      }
    }
  }
}

}  // namespace

void detail::installAvx512Kernels(KernelTable& table) {
  table.matmulQ4 = matmulQ4Avx512;
  detail::installAvx512Q8Kernels(table);
  detail::installAvx512VectorKernels(table);
}

}  // namespace tv::cpu
