// AVX2 int4 x int8 matmul (decode GEMV and prefill GEMM) over the tiled Q4 layout of kernels.h.
// Compiled like kernels_avx2.cc (x86-64, -mavx2 -mfma -mf16c, installed after a CPU check), and under
// the same rule: no inline library templates in this file.
//
// One 32-byte chunk of a tile block, split into low and high nibbles, gives two registers of
// [8 rows][4 columns] uint8. vpmaddubsw against a broadcast of the 4 matching int8 activations leaves
// [8 rows][2] int16 pair sums; the 8 such products of a 32-column block are added in int16 (at most
// 16 x 15 x 127 = 30480, no overflow because activations are never -128), one vpmaddwd folds each
// row's pair into an int32 = the exact block dot product; the four blocks of a 128-column group add
// exactly in int32, and one multiply applies the group's activation scale (kernels.h). Each of the 8
// lanes is one row, so no horizontal sums are needed.
//
// Weights are unpacked once per tile block and reused for kTokenTile tokens; token blocks keep their
// activations in L2 while one tile's weights (4 KB per 1024 columns) stay in L1. Measured and dropped
// on Zen 3: unpacking each group once into an L1 scratch shared by all tokens of a block (88 vs 98
// GMAC/s), and two row tiles per activation broadcast (no gain).
#include <immintrin.h>


#include "engine/cpu/kernels.h"
#include "engine/cpu/row_tile_avx2.h"

namespace tv::cpu {

namespace {

using avx2::broadcast4;
using avx2::maxInt;
using avx2::minInt;
using avx2::storeRowTile;

// Tokens per register tile: 6 x (int16 sum, int32 group sum, float row sum) + 2 weight registers +
// temporaries fill the 16 ymm registers; measured fastest of 2..8 on Zen 3 (4: -5%, 8: -4%).
constexpr int kTokenTile = 6;
constexpr int kActivationBudget = 128 * 1024;  // bytes of int8 activations per token block (L2)
// Decode GEMV streams the weights once: prefetching ahead of the tile stream keeps more DRAM reads in
// flight than the hardware prefetcher alone (Zen 3, 128 MB matrix, 2 KB ahead: 1 thread 13.6 -> 16.5
// GB/s, 2 threads 25.6 -> 29 GB/s; 1-12 KB all helped, 2 KB best there). On Zen 5 (2 threads,
// bench:kernels in alternation) 8 KB ahead beats 2 KB by 10-20%: gate/up 40 -> 49 GB/s, down 36 -> 42,
// at this level and at AVX-512's; the int8 LM head's GEMV is best at 2 KB on both machines.
constexpr int kGemvPrefetchBytes = 8192;


// GCC reassociates the chain of int16 adds into a tree, so that all 8 x T products of a block are
// computed first and spilled to the stack (-25% GEMM throughput measured). An empty asm statement that
// "modifies" the running sum pins the order: each product is added as soon as it exists.
inline void keepInRegister(__m256i& v) { __asm__("" : "+x"(v)); }

// Computes one row tile for T tokens: out[t] = the tile's 8 rows of Y for token t0 + t.
template <int T>
void q4Tile(Q4Matrix const& w, int tile, Q8Vector const* x, __m256* out) {
  int const groups = w.cols / kQ4GroupSize;
  std::uint8_t const* nib = w.tileNibbles(tile);
  std::uint16_t const* scales = w.tileScales(tile);
  std::uint8_t const* zeros = w.tileZeros(tile);
  std::int8_t const* xv[T];
  float const* xd[T];
  float const* xg[T];
  for (int t = 0; t < T; ++t) {
    xv[t] = x[t].values;
    xd[t] = x[t].scale;
    xg[t] = x[t].groupSum;
  }
  __m256i const lowMask = _mm256_set1_epi8(0x0f);
  __m256i const ones = _mm256_set1_epi16(1);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();

  for (int g = 0; g < groups; ++g) {
    __m256i isum[T];  // the group's exact int32 sums per row
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int b = g * 4; b < g * 4 + 4; ++b) {
      std::uint8_t const* p = nib + static_cast<std::size_t>(b) * kQ4BlockBytes;
      if constexpr (T == 1) {  // GEMM tiles re-read their weights from L1 and need no prefetch
        _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<char const*>(p) + kGemvPrefetchBytes + 64, _MM_HINT_T0);
      }
      __m256i sum16[T];
      for (int i = 0; i < 4; ++i) {
        __m256i const raw = _mm256_load_si256(reinterpret_cast<__m256i const*>(p + 32 * i));
        __m256i const lo = _mm256_and_si256(raw, lowMask);                         // columns 4i..4i+3
        __m256i const hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), lowMask);   // columns 16+4i..
        for (int t = 0; t < T; ++t) {
          std::int8_t const* xb = xv[t] + b * kQ8BlockSize;
          __m256i const prod = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(xb + 4 * i)),
                                                _mm256_maddubs_epi16(hi, broadcast4(xb + 16 + 4 * i)));
          sum16[t] = i == 0 ? prod : _mm256_add_epi16(sum16[t], prod);
          keepInRegister(sum16[t]);
        }
      }
      for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(sum16[t], ones));
    }
    __m256 gacc[T];  // d_g * isum_g per row
    for (int t = 0; t < T; ++t) gacc[t] = _mm256_mul_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_broadcast_ss(xd[t] + g * 4));
    __m256 const scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(scales + g * kQ4TileRows)));
    __m128i const z8 = _mm_loadl_epi64(reinterpret_cast<__m128i const*>(zeros + g * kQ4TileRows));
    __m256 const zeroScale = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(z8)), scale);  // exact
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm256_fmadd_ps(gacc[t], scale, acc[t]);
      acc[t] = _mm256_fnmadd_ps(zeroScale, _mm256_broadcast_ss(xg[t] + g), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

void matmulQ4Avx2(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                  int rowEnd) {
  if (rowBegin >= rowEnd || tokens <= 0) return;
  int const tileBegin = rowBegin / kQ4TileRows;
  int const tileEnd = (rowEnd + kQ4TileRows - 1) / kQ4TileRows;
  int const tokenBlock = maxInt(kTokenTile, kActivationBudget / w.cols / kTokenTile * kTokenTile);
  __m256 out[kTokenTile];
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = minInt(tokens, tb + tokenBlock);
    for (int tile = tileBegin; tile < tileEnd; ++tile) {
      for (int t = tb; t < tbEnd; t += kTokenTile) {
        int const n = minInt(kTokenTile, tbEnd - t);
        switch (n) {
          case 6: q4Tile<6>(w, tile, x + t, out); break;
          case 5: q4Tile<5>(w, tile, x + t, out); break;
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

void detail::installAvx2Q4Kernels(KernelTable& table) { table.matmulQ4 = matmulQ4Avx2; }

}  // namespace tv::cpu
