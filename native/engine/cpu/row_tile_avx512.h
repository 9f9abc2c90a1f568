// Pieces shared by the AVX-512 + VNNI int4 and int8 matmul kernels (kernels_avx512_q4.cc,
// kernels_avx512_q8.cc). Include only from files compiled with the AVX-512 flags (sources.json,
// 'x86_avx512'); everything here has internal linkage, so no AVX-512 code can be merged into a
// function that AVX2-only CPUs run.
//
// Both kernels' GEMMs work on a pair of 8-row weight tiles at once: one zmm register holds the same 32-byte
// chunk of tile A (lanes 0-7) and tile B (lanes 8-15), so every 32-bit lane is still one row and one
// VPDPBUSD against a broadcast of 4 activations adds 4 products to each of 16 rows. A range with an
// odd number of tiles ends with a "pair" of the last tile with itself, of which only lanes 0-7 are
// stored; each lane runs the same instruction sequence either way, so a row's value never depends on
// which tile it was paired with (or on the split). Streaming GEMVs and few-token calls instead read one
// tile at a time (chunkPair below): two tile streams 8 or 16 KB apart (the 3B shape's 2048 columns) read
// 30% slower than one on Zen (measured with bench:kernels).
#pragma once

// GCC 12's AVX-512 headers initialize their "undefined" vectors from themselves (`__m512 __Y = __Y;`),
// which -Wmaybe-uninitialized (and, for casts to 256 bits after a loop is unrolled, -Wuninitialized)
// reports inside the header wherever an intrinsic is inlined (GCC bug 105593, fixed in GCC 13). Only the
// files that include this header are affected.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "engine/cpu/kernels.h"

namespace tv::cpu::avx512 {
namespace {

constexpr int kRowTile = 8;
static_assert(kRowTile == kQ4TileRows && kRowTile == kQ8TileRows, "one lane per row of a weight tile");

inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

// The 4 int8 values at p, repeated in every 32-bit lane (the compiler folds it into VPDPBUSD's
// {1to16} memory broadcast).
inline __m512i broadcast4(std::int8_t const* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// 32 bytes of tile A's block at a (lanes 0-7) and of tile B's at b (lanes 8-15).
inline __m512i loadPair(void const* a, void const* b) {
  __m256i const lo = _mm256_load_si256(static_cast<__m256i const*>(a));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_load_si256(static_cast<__m256i const*>(b)), 1);
}

// The 8 fp16 scales of tile A at a and of tile B at b, as 16 floats (lanes as in loadPair).
inline __m512 loadHalfPair(std::uint16_t const* a, std::uint16_t const* b) {
  __m128i const lo = _mm_loadu_si128(reinterpret_cast<__m128i const*>(a));
  __m128i const hi = _mm_loadu_si128(reinterpret_cast<__m128i const*>(b));
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

// Writes the rows of row tile `tile` held by `lanes` (8 floats, lane r = row 8 * tile + r) that lie in
// [rowBegin, rowEnd), to row t of y (stride ldy).
inline void storeTile(__m256 lanes, int tile, int rowBegin, int rowEnd, float* y, std::size_t ldy, int t) {
  int const r0 = tile * kRowTile;
  float* row = y + static_cast<std::size_t>(t) * ldy;
  if (r0 >= rowBegin && r0 + kRowTile <= rowEnd) {
    _mm256_storeu_ps(row + r0, lanes);
    return;
  }
  alignas(32) float buffer[kRowTile];
  _mm256_store_ps(buffer, lanes);
  int const lo = maxInt(rowBegin, r0), hi = minInt(rowEnd, r0 + kRowTile);
  for (int r = lo; r < hi; ++r) row[r] = buffer[r - r0];
}

// The few-token kernels' layout (one tile stream, two 32-byte chunks of a tile per zmm): chunkPair()
// loads 64 bytes = chunks (c, c + 1) of [8 rows][4 columns] and permutes them so that lane 2r holds row r
// of chunk c and lane 2r + 1 row r of chunk c + 1; a 64-bit broadcast of the 8 activations at those
// columns (broadcast8) then meets each lane's own 4 columns. A row's two lanes add exactly into its int32
// sum. Tokens go in pairs (a, b): a's sums move to the even lanes and b's to the odd ones
// (foldPairLanes), so that one conversion and one multiply with the row scales (duplicated per lane pair,
// duplicateRows) serve both; an odd last token folds alone into ymm (foldLanes).
inline __m512i chunkPair(void const* p) {
  __m512i const interleave = _mm512_set_epi32(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
  return _mm512_permutexvar_epi32(interleave, _mm512_loadu_si512(p));
}

inline __m512i broadcast8(std::int8_t const* p) {
  std::int64_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi64(v);
}

// (s_a, s_b, s_a, s_b, ...): token a's value in the even lanes, token b's in the odd ones.
inline __m512 pairLanes(float a, float b) { return _mm512_unpacklo_ps(_mm512_set1_ps(a), _mm512_set1_ps(b)); }
inline __m512i pairLanes(std::int32_t a, std::int32_t b) { return _mm512_unpacklo_epi32(_mm512_set1_epi32(a), _mm512_set1_epi32(b)); }

// Row r's int32 sum of token a in lane 2r and of token b in lane 2r + 1 (exact).
inline __m512i foldPairLanes(__m512i a, __m512i b) {
  __m512i const even = _mm512_add_epi32(a, _mm512_srli_epi64(a, 32));
  __m512i const odd = _mm512_add_epi32(b, _mm512_slli_epi64(b, 32));
  return _mm512_mask_blend_epi32(static_cast<__mmask16>(0xaaaa), even, odd);
}

// Row r's int32 sum in lane r of a ymm register (exact).
inline __m256i foldLanes(__m512i a) { return _mm512_cvtepi64_epi32(_mm512_add_epi32(a, _mm512_srli_epi64(a, 32))); }

// 8 row values (lane r) as lanes 2r and 2r + 1.
inline __m512 duplicateRows(__m256 rows) {
  __m512i const duplicate = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  return _mm512_permutexvar_ps(duplicate, _mm512_castps256_ps512(rows));
}

// Token a's 8 rows (the even lanes) and token b's (the odd ones) of a pair accumulator.
inline __m256 evenLanes(__m512 v) {
  __m512i const evens = _mm512_set_epi32(14, 12, 10, 8, 6, 4, 2, 0, 14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_castps512_ps256(_mm512_permutexvar_ps(evens, v));
}
inline __m256 oddLanes(__m512 v) {
  __m512i const odds = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_castps512_ps256(_mm512_permutexvar_ps(odds, v));
}

// Ties a and b each to one register at this point, with no instruction: GCC 12 otherwise keeps a
// loop-carried VPDPBUSD chain in two registers and copies it every iteration (seen in objdump).
inline void pin(__m512i& a, __m512i& b) { __asm__("" : "+v"(a), "+v"(b)); }

// The 4 int8 values at p in every 32-bit lane of a ymm register (the int8 decode GEMV).
inline __m256i broadcast4x8(std::int8_t const* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// Lanes 8-15. A 128-bit-block shuffle (AVX512F): the 32x8 extract needs AVX512DQ, which the level does not
// require, and GCC 12's 64x4 extract trips -Wmaybe-uninitialized inside its own header.
inline __m256 upperHalf(__m512 v) { return _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xee)); }

// Stores out[0..n) (tokens t0 ..) of the pair (tileA, tileB); tileB == tileA means the odd last tile,
// whose upper lanes are a copy and not stored.
inline void storeTilePair(__m512 const* out, int n, int tileA, int tileB, int rowBegin, int rowEnd, float* y,
                          std::size_t ldy, int t0) {
  for (int t = 0; t < n; ++t) {
    storeTile(_mm512_castps512_ps256(out[t]), tileA, rowBegin, rowEnd, y, ldy, t0 + t);
    if (tileB != tileA) storeTile(upperHalf(out[t]), tileB, rowBegin, rowEnd, y, ldy, t0 + t);
  }
}

}  // namespace
}  // namespace tv::cpu::avx512
