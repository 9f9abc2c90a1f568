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
// which tile it was paired with (or on the split). Streaming GEMVs instead read one tile at a time
// into ymm registers (AVX512VL's 256-bit VPDPBUSD, same lane steps): two tile streams 8 or 16 KB apart
// (the 3B shape's 2048 columns) read 30% slower than one on Zen (measured with bench:kernels).
#pragma once

// GCC 12's AVX-512 headers initialize their "undefined" vectors from themselves (`__m512 __Y = __Y;`),
// which -Wmaybe-uninitialized reports inside the header wherever an intrinsic is inlined (GCC bug
// 105593, fixed in GCC 13). Only the two files that include this header are affected.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

// The 4 int8 values at p in every 32-bit lane of a ymm register (the single-tile GEMV kernels).
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
