// AVX-512 + VNNI int8 x int8 matmul (the LM head: decode GEMV, and a few tokens at once for batches)
// over the tiled Q8Matrix layout of kernels.h. Compiled and installed like kernels_avx512_q4.cc, under
// the same rule: no inline library templates in this file.
//
// VPDPBUSD multiplies unsigned by signed bytes, and both sides here are signed. The weights are made
// unsigned once per chunk, w + 128 (an xor of the sign bit; w is never -128, so 1..255), and the int32
// block sum of (w + 128) x less 128 x the block's activation sum (Q8Vector::blockSum, exact) is the block
// sum of w x, exactly. One VPDPBUSD per 32-byte chunk and token then adds 4 products to each of the
// tile's rows' int32 block sums, replacing AVX2's vpmaddubsw + vpmaddwd + add. (kernels_avx2_q8.cc's
// sign trick, |w| times x with w's sign, costs a vpsignb per chunk and token; without it, in cache,
// 512 x 2048, one thread: 1 token 15.7 -> 11.7 us, 6 tokens 46.4 -> 41.2 us.) The float step per block
// is the one kernels.h prescribes, fma(float(isum), d_w * d_x, acc), so results are bit-identical to the
// reference (tested).
//
// The head streams ~300 MB per token whatever the token count (up to a few), so this kernel reads one
// tile at a time (one stream: see row_tile_avx512.h), two 32-byte chunks of it per zmm register, as the
// int4 few-token kernel does, from 2 tokens on. Against one chunk per ymm register (8 VPDPBUSDs and 8 dword
// broadcasts per block and token), in cache, 512 x 2048, one thread: 2 tokens 17.6 -> 13.3 us, 6 tokens
// 43.5 -> 29.7, 8 tokens 59.4 -> 38.3. The decode GEMV (1 token) keeps the ymm loop: see q8TileGemv.
#include "engine/cpu/row_tile_avx512.h"  // first: it quiets a GCC 12 header warning before <immintrin.h>

#include <immintrin.h>

#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

using avx512::broadcast4x8;
using avx512::broadcast8;
using avx512::chunkPair;
using avx512::duplicateRows;
using avx512::evenLanes;
using avx512::foldLanes;
using avx512::foldPairLanes;
using avx512::minInt;
using avx512::oddLanes;
using avx512::pairLanes;
using avx512::storeTile;

// Tokens per call of the tile kernel: 4 pair accumulators + the int32 sums of 8 tokens + 4 weight
// registers + constants fit the 32 zmm registers.
constexpr int kTokenTile = 8;
// How far ahead of the tile stream to prefetch. The decode GEMV is fastest at 2 KB, as in kernels_avx2_q8.cc;
// a few tokens at 8 KB (the 3b head, 151936 x 2048, from memory, 2 threads, alternating builds, medians: 6
// tokens 0.76x the time at 2 KB; 4 KB 0.79x).
constexpr int kGemvPrefetchBytes = 2048;
constexpr int kFewTokensPrefetchBytes = 8192;

// The decode GEMV: one 32-byte chunk per ymm register, 4 VPDPBUSD chains. Memory-bound, it streamed 5% faster
// than q8Tile's chunk pairs at one token (the 3b head from memory, 10 alternating rounds), though those
// compute faster in cache (10.2 vs 11.6 us). Same lane steps as q8Tile.
void q8TileGemv(Q8Matrix const& w, int tile, Q8Vector const& x, __m256* out) {
  int const blocks = w.cols / kQ8BlockSize;
  std::int8_t const* values = w.values + static_cast<std::size_t>(tile) * blocks * kQ8WeightBlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * blocks * kQ8TileRows;
  __m256i const signBit = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* p = values + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    for (int line = 0; line < kQ8WeightBlockBytes; line += 64) {
      _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes + line, _MM_HINT_T0);
    }
    __m256i chain[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int i = 0; i < 8; ++i) {
      __m256i const biased = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<__m256i const*>(p + 32 * i)), signBit);
      chain[i % 4] = _mm256_dpbusd_epi32(chain[i % 4], biased, broadcast4x8(x.values + b * kQ8BlockSize + 4 * i));
    }
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(chain[0], chain[1]), _mm256_add_epi32(chain[2], chain[3]));  // exact
    sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(128 * x.blockSum[b]));  // the bias's share, exact
    __m256 const dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + b * kQ8TileRows)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(x.scale[b])), acc);
  }
  *out = acc;
}

// One tile for T >= 2 tokens: out[t] = the tile's 8 rows of Y for token t. A 256-byte block is 4 chunk pairs
// (chunkPair, row_tile_avx512.h: lanes 2r, 2r + 1 = row r of chunks 2k, 2k + 1, columns 8k..8k+7 between
// them), so 4 VPDPBUSDs and 4 qword broadcasts per token and block, where the ymm loop this replaced
// needed 8 and 8.
template <int T>
void q8Tile(Q8Matrix const& w, int tile, Q8Vector const* x, __m256* out) {
  constexpr int kPairs = T / 2;
  constexpr bool kOdd = T % 2 != 0;
  int const blocks = w.cols / kQ8BlockSize;
  std::int8_t const* values = w.values + static_cast<std::size_t>(tile) * blocks * kQ8WeightBlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * blocks * kQ8TileRows;
  __m512i const signBit = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[kPairs > 0 ? kPairs : 1];
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_setzero_ps();
  __m256 accOdd = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* p = values + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    for (int line = 0; line < kQ8WeightBlockBytes; line += 64) {
      _mm_prefetch(reinterpret_cast<char const*>(p) + kFewTokensPrefetchBytes + line, _MM_HINT_T0);
    }
    __m512i biased[4];
    for (int k = 0; k < 4; ++k) biased[k] = _mm512_xor_si512(chunkPair(p + 64 * k), signBit);
    // The block's int32 sums, each row in two lanes: two chains of two per token (exact).
    __m512i isum[T];
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xb = x[t].values + b * kQ8BlockSize;
      __m512i const a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), biased[0], broadcast8(xb)), biased[1], broadcast8(xb + 8));
      __m512i const c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), biased[2], broadcast8(xb + 16)), biased[3], broadcast8(xb + 24));
      isum[t] = _mm512_add_epi32(a, c);
    }
    // Less the bias's share, 128 x the block's activation sum (exact); then fma(sum, d_w x d_x, acc).
    __m256 const dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + b * kQ8TileRows)));
    __m512 const dw2 = duplicateRows(dw);
    for (int q = 0; q < kPairs; ++q) {
      Q8Vector const& xa = x[2 * q];
      Q8Vector const& xc = x[2 * q + 1];
      // The shift in the vector unit: 128 * blockSum in a general register, then broadcast, was 4% slower at 6 tokens.
      __m512i const bias = _mm512_slli_epi32(pairLanes(xa.blockSum[b], xc.blockSum[b]), 7);
      __m512i const sum = _mm512_sub_epi32(foldPairLanes(isum[2 * q], isum[2 * q + 1]), bias);
      acc[q] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw2, pairLanes(xa.scale[b], xc.scale[b])), acc[q]);
    }
    if constexpr (kOdd) {
      Q8Vector const& xo = x[T - 1];
      __m256i const sum = _mm256_sub_epi32(foldLanes(isum[T - 1]), _mm256_slli_epi32(_mm256_set1_epi32(xo.blockSum[b]), 7));
      accOdd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(xo.scale[b])), accOdd);
    }
  }
  for (int q = 0; q < kPairs; ++q) {
    out[2 * q] = evenLanes(acc[q]);
    out[2 * q + 1] = oddLanes(acc[q]);
  }
  if constexpr (kOdd) out[T - 1] = accOdd;
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
        default: q8TileGemv(w, tile, x[t], out); break;
      }
      for (int k = 0; k < n; ++k) storeTile(out[k], tile, rowBegin, rowEnd, y, ldy, t + k);
    }
  }
}

}  // namespace

void detail::installAvx512Q8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Avx512; }

}  // namespace tv::cpu
