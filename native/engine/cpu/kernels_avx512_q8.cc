// AVX-512 + VNNI int8 x int8 matmul (the LM head: decode GEMV, and a few tokens at once for batches)
// over the tiled Q8Matrix layout of kernels.h. Compiled and installed like kernels_avx512_q4.cc, under
// the same rule: no inline library templates in this file.
//
// VPDPBUSD multiplies unsigned by signed bytes, and both sides here are signed. As in
// kernels_avx2_q8.cc the sign moves to the activations: |w| (vpabsb) times x negated where w < 0 (a
// mask from the weights' sign bits, one masked vpsubb per token) is w x, exactly; neither side is ever
// -128, so |w| fits in u8 and -x in s8. One VPDPBUSD per 32-byte chunk pair and token then adds 4
// products to each of 16 rows' int32 block sum (row_tile_avx512.h pairs two row tiles per register).
// The float step per block is the one kernels.h prescribes, fma(float(isum), d_w * d_x, acc), so
// results are bit-identical to the reference (tested).
#include "engine/cpu/row_tile_avx512.h"  // first: it quiets a GCC 12 header warning before <immintrin.h>

#include <immintrin.h>

#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

using avx512::broadcast4;
using avx512::loadHalfPair;
using avx512::loadPair;
using avx512::minInt;
using avx512::storeTilePair;

// Tokens per register tile: T x (int32 sum, float accumulator) + |weight| + temporaries fit the 32
// zmm registers. The LM head sees one token per sequence, so this only matters for batches.
constexpr int kTokenTile = 8;
// Decode GEMV streams the head's weights once per token; prefetch as in kernels_avx2_q8.cc.
constexpr int kGemvPrefetchBytes = 2048;

template <int T>
void q8TilePair(Q8Matrix const& w, int tileA, int tileB, Q8Vector const* x, __m512* out) {
  int const blocks = w.cols / kQ8BlockSize;
  std::size_t const tileBytes = static_cast<std::size_t>(blocks) * kQ8WeightBlockBytes;
  std::size_t const tileScales = static_cast<std::size_t>(blocks) * kQ8TileRows;
  std::int8_t const* valuesA = w.values + tileA * tileBytes;
  std::int8_t const* valuesB = w.values + tileB * tileBytes;
  std::uint16_t const* scalesA = w.scales + tileA * tileScales;
  std::uint16_t const* scalesB = w.scales + tileB * tileScales;
  __m512i const zero = _mm512_setzero_si512();
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* pA = valuesA + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    std::int8_t const* pB = valuesB + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    if constexpr (T == 1) {  // GEMM tiles re-read their weights from L1 and need no prefetch
      for (int line = 0; line < kQ8WeightBlockBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<char const*>(pA) + kGemvPrefetchBytes + line, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<char const*>(pB) + kGemvPrefetchBytes + line, _MM_HINT_T0);
      }
    }
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int i = 0; i < 8; ++i) {
      __m512i const wv = loadPair(pA + 32 * i, pB + 32 * i);
      __m512i const aw = _mm512_abs_epi8(wv);
      __mmask64 const negative = _mm512_movepi8_mask(wv);
      for (int t = 0; t < T; ++t) {
        __m512i const xb = broadcast4(x[t].values + b * kQ8BlockSize + 4 * i);
        isum[t] = _mm512_dpbusd_epi32(isum[t], aw, _mm512_mask_sub_epi8(xb, negative, zero, xb));
      }
    }
    __m512 const dw = loadHalfPair(scalesA + b * kQ8TileRows, scalesB + b * kQ8TileRows);
    for (int t = 0; t < T; ++t) {
      __m512 const scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].scale[b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

void matmulQ8Avx512(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                    int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ8TileRows;
  int const tileEnd = (rowEnd + kQ8TileRows - 1) / kQ8TileRows;
  __m512 out[kTokenTile];
  for (int tileA = tileBegin; tileA < tileEnd; tileA += 2) {
    int const tileB = tileA + 1 < tileEnd ? tileA + 1 : tileA;
    for (int t = 0; t < tokens; t += kTokenTile) {
      int const n = minInt(kTokenTile, tokens - t);
      switch (n) {
        case 8: q8TilePair<8>(w, tileA, tileB, x + t, out); break;
        case 7: q8TilePair<7>(w, tileA, tileB, x + t, out); break;
        case 6: q8TilePair<6>(w, tileA, tileB, x + t, out); break;
        case 5: q8TilePair<5>(w, tileA, tileB, x + t, out); break;
        case 4: q8TilePair<4>(w, tileA, tileB, x + t, out); break;
        case 3: q8TilePair<3>(w, tileA, tileB, x + t, out); break;
        case 2: q8TilePair<2>(w, tileA, tileB, x + t, out); break;
        default: q8TilePair<1>(w, tileA, tileB, x + t, out); break;
      }
      storeTilePair(out, n, tileA, tileB, rowBegin, rowEnd, y, ldy, t);
    }
  }
}

}  // namespace

void detail::installAvx512Q8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Avx512; }

}  // namespace tv::cpu
