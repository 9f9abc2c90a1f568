// AVX2 int8 x int8 matmul (the LM head: decode GEMV, and a few tokens at once for batches) over the
// tiled Q8Matrix layout of kernels.h. Compiled like kernels_avx2.cc (x86-64, -mavx2 -mfma -mf16c,
// installed after a CPU check), and under the same rule: no inline library templates in this file.
//
// One 32-byte chunk of a tile block is [8 rows][4 columns] int8. vpmaddubsw wants one unsigned
// operand, so the chunk is split into |w| (vpsignb w, w) and the 4 matching activations, broadcast to
// every row and given the sign of each weight (vpsignb x, w): |w| * sign(w) x = w x. That leaves
// [8 rows][2] int16 pair sums (at most 2 x 127 x 127 = 32258, no saturation: neither side is ever
// -128), which vpmaddwd folds into one int32 per row; 8 chunks add up to the exact block dot product.
// Each lane is one row, so no horizontal sums are needed, and the float step per block is the one
// kernels.h prescribes: fma(float(isum), d_w * d_x, acc).
#include <immintrin.h>


#include "engine/cpu/kernels.h"
#include "engine/cpu/row_tile_avx2.h"

namespace tv::cpu {

namespace {

using avx2::broadcast4;
using avx2::minInt;
using avx2::storeRowTile;

// Tokens per register tile: T x (int32 sum, float accumulator) + weight, |weight| and temporaries
// stay within the 16 ymm registers. The LM head sees one token per sequence, so this only matters
// for batches.
constexpr int kTokenTile = 4;
// Decode GEMV streams 300 MB of weights once per token; software prefetch ahead of the tile stream,
// as in kernels_avx2_q4.cc (measured there and for this kernel; see scripts/bench-kernels.mjs).
constexpr int kGemvPrefetchBytes = 2048;


// Computes one row tile for T tokens: out[t] = the tile's 8 rows of Y for token t.
template <int T>
void q8Tile(Q8Matrix const& w, int tile, Q8Vector const* x, __m256* out) {
  int const blocks = w.cols / kQ8BlockSize;
  std::int8_t const* values = w.values + static_cast<std::size_t>(tile) * blocks * kQ8WeightBlockBytes;
  std::uint16_t const* scales = w.scales + static_cast<std::size_t>(tile) * blocks * kQ8TileRows;
  __m256i const ones = _mm256_set1_epi16(1);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    std::int8_t const* p = values + static_cast<std::size_t>(b) * kQ8WeightBlockBytes;
    if constexpr (T == 1) {  // GEMM tiles re-read their weights from L1 and need no prefetch
      for (int line = 0; line < kQ8WeightBlockBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes + line, _MM_HINT_T0);
      }
    }
    __m256i isum[T];
    for (int i = 0; i < 8; ++i) {
      __m256i const wv = _mm256_load_si256(reinterpret_cast<__m256i const*>(p + 32 * i));
      __m256i const aw = _mm256_sign_epi8(wv, wv);
      for (int t = 0; t < T; ++t) {
        __m256i const sx = _mm256_sign_epi8(broadcast4(x[t].values + b * kQ8BlockSize + 4 * i), wv);
        __m256i const prod = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
        isum[t] = i == 0 ? prod : _mm256_add_epi32(isum[t], prod);
      }
    }
    __m256 const dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + b * kQ8TileRows)));
    for (int t = 0; t < T; ++t) {
      __m256 const scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(x[t].scale + b));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

void matmulQ8Avx2(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                  int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ8TileRows;
  int const tileEnd = (rowEnd + kQ8TileRows - 1) / kQ8TileRows;
  __m256 out[kTokenTile];
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

void detail::installAvx2Q8Kernels(KernelTable& table) { table.matmulQ8 = matmulQ8Avx2; }

}  // namespace tv::cpu
