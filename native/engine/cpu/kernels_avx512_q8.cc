// AVX-512 + VNNI int8 x int8 matmul (the LM head: decode GEMV, and a few tokens at once for batches)
// over the tiled Q8Matrix layout of kernels.h. Compiled and installed like kernels_avx512_q4.cc, under
// the same rule: no inline library templates in this file.
//
// VPDPBUSD multiplies unsigned by signed bytes, and both sides here are signed. The weights are made
// unsigned once per chunk, w + 128 (an xor of the sign bit; w is never -128, so 1..255), and the int32
// block sum of (w + 128) x less 128 x the block's activation sum (Q8Vector::blockSum, exact) is the block
// sum of w x, exactly. One VPDPBUSD per 32-byte chunk and token then adds 4 products to each of the
// tile's 8 rows' int32 block sums, replacing AVX2's vpmaddubsw + vpmaddwd + add. (kernels_avx2_q8.cc's
// sign trick, |w| times x with w's sign, costs a vpsignb per chunk and token; without it, in cache,
// 512 x 2048, one thread: 1 token 15.7 -> 11.7 us, 6 tokens 46.4 -> 41.2 us.) The float step per block
// is the one kernels.h prescribes, fma(float(isum), d_w * d_x, acc), so results are bit-identical to the
// reference (tested).
//
// The head streams ~300 MB per token whatever the token count (up to a few), so this kernel reads one
// tile at a time in ymm registers (AVX512VL's 256-bit VPDPBUSD, and 32 of them for 8 tokens) instead
// of pairing tiles in zmm registers like the int4 GEMM: see row_tile_avx512.h for why.
#include "engine/cpu/row_tile_avx512.h"  // first: it quiets a GCC 12 header warning before <immintrin.h>

#include <immintrin.h>

#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

using avx512::broadcast4x8;
using avx512::minInt;
using avx512::storeTile;

// Tokens per register tile: T x (int32 sums, float accumulator) + weight, |weight| and temporaries fit
// the 32 ymm registers.
constexpr int kTokenTile = 8;
// Decode GEMV streams the head's weights once per token; prefetch as in kernels_avx2_q8.cc.
constexpr int kGemvPrefetchBytes = 2048;

template <int T>
void q8Tile(Q8Matrix const& w, int tile, Q8Vector const* x, __m256* out) {
  // Independent int32 sums per token, so that few tokens do not wait on one VPDPBUSD chain of 8 per
  // block; the chains add exactly.
  constexpr int kChains = T == 1 ? 4 : T <= 3 ? 2 : 1;
  int const blocks = w.cols / kQ8BlockSize;
  std::int8_t const* values = w.values + static_cast<std::size_t>(tile) * blocks * kQ8WeightBlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * blocks * kQ8TileRows;
  __m256i const signBit = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* p = values + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    for (int line = 0; line < kQ8WeightBlockBytes; line += 64) {
      _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes + line, _MM_HINT_T0);
    }
    __m256i isum[T][kChains];
    for (int t = 0; t < T; ++t) {
      for (int c = 0; c < kChains; ++c) isum[t][c] = _mm256_setzero_si256();
    }
    for (int i = 0; i < 8; ++i) {
      __m256i const biased = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<__m256i const*>(p + 32 * i)), signBit);
      for (int t = 0; t < T; ++t) {
        __m256i& chain = isum[t][i % kChains];
        chain = _mm256_dpbusd_epi32(chain, biased, broadcast4x8(x[t].values + b * kQ8BlockSize + 4 * i));
      }
    }
    __m256 const dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + b * kQ8TileRows)));
    for (int t = 0; t < T; ++t) {
      __m256i sum = isum[t][0];
      for (int c = 1; c < kChains; ++c) sum = _mm256_add_epi32(sum, isum[t][c]);  // exact, any order
      sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(128 * x[t].blockSum[b]));  // the bias's share, exact
      __m256 const scale = _mm256_mul_ps(dw, _mm256_set1_ps(x[t].scale[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

void matmulQ8Avx512(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                    int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ8TileRows;
  int const tileEnd = (rowEnd + kQ8TileRows - 1) / kQ8TileRows;
  __m256 out[kTokenTile];
  for (int tile = tileBegin; tile < tileEnd; ++tile) {
    for (int t = 0; t < tokens; t += kTokenTile) {
      int const n = minInt(kTokenTile, tokens - t);
      switch (n) {
        case 8: q8Tile<8>(w, tile, x + t, out); break;
        case 7: q8Tile<7>(w, tile, x + t, out); break;
        case 6: q8Tile<6>(w, tile, x + t, out); break;
        case 5: q8Tile<5>(w, tile, x + t, out); break;
        case 4: q8Tile<4>(w, tile, x + t, out); break;
        case 3: q8Tile<3>(w, tile, x + t, out); break;
        case 2: q8Tile<2>(w, tile, x + t, out); break;
        default: q8Tile<1>(w, tile, x + t, out); break;
      }
      for (int k = 0; k < n; ++k) storeTile(out[k], tile, rowBegin, rowEnd, y, ldy, t + k);
    }
  }
}

}  // namespace

void detail::installAvx512Q8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Avx512; }

}  // namespace tv::cpu
