// AVX-512 attention helpers over the fp16 KV cache (kernels.h: dotHalfRows, weightedSumHalf), the
// activation kernels quantizeQ8 and siluMultiply, and the dense matmul (the vision tower's), installed
// over the AVX2 table by installAvx512Kernels. Compiled only with the AVX-512 flags (sources.json, 'x86_avx512');
// everything here has internal linkage, as in the other AVX-512 files.
//
// Bits: kernels_avx2.cc computes a 16-column chunk of a query as two ymm accumulators, a (columns c..c+7)
// and b (c+8..c+15), then reduces a + b in hsum()'s order. Here one zmm holds a in lanes 0-7 and b in lanes
// 8-15 (which is how _mm512_cvtph_ps lays out 16 consecutive halves), so every lane runs the same fma
// sequence; the reduction then adds the two halves and reuses the AVX2 order. Every score and every output
// value keeps the AVX2 level's bits (kernels.test.ts compares them with the one-query AVX2 kernels).
// What it saves: half the fma and conversion instructions, and 8 queries share one conversion of a row
// (the AVX2 block holds 4), which is the grouped-query head count of the Qwen2.5 0.5B/3B shapes rounded up.
#include "engine/cpu/row_tile_avx512.h"  // first: it quiets a GCC 12 header warning before <immintrin.h>

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "engine/cpu/attention_x86.h"
#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

constexpr int kQueryBlock = 8;

// 16 consecutive fp16 values as floats (lanes 0-7 = values 0-7, as load8<kF16> at c; 8-15 as load8 at c + 8).
inline __m512 load16Half(std::uint16_t const* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(p)));
}

// a + b of one zmm accumulator: lanes 0-7 plus lanes 8-15.
inline __m256 foldHalves(__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), avx512::upperHalf(v)); }

// 8 queries (a short block repeats query 0 and keeps only `count` results) against each row; accumulators in
// named registers (arrays of them were kept on the stack by GCC, see kernels_avx2.cc).
void dotHalfRowsBlock(std::uint16_t const* rows, std::size_t stride, int n, float const* const* q, int count, int dim, float* const* scores) {
  for (int t = 0; t < n; ++t) {
    std::uint16_t const* row = rows + static_cast<std::size_t>(t) * stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int c = 0; c < dim; c += 16) {
      __m512 const k = load16Half(row + c);
      a0 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[0] + c), a0);
      a1 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[1] + c), a1);
      a2 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[2] + c), a2);
      a3 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[3] + c), a3);
      a4 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[4] + c), a4);
      a5 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[5] + c), a5);
      a6 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[6] + c), a6);
      a7 = _mm512_fmadd_ps(k, _mm512_loadu_ps(q[7] + c), a7);
    }
    float byQuery[kQueryBlock];
    x86::reduce4(foldHalves(a0), foldHalves(a1), foldHalves(a2), foldHalves(a3), byQuery);
    if (count > 4) x86::reduce4(foldHalves(a4), foldHalves(a5), foldHalves(a6), foldHalves(a7), byQuery + 4);
    for (int i = 0; i < count; ++i) scores[i][t] = byQuery[i];
  }
}

void dotHalfRowsAvx512(std::uint16_t const* rows, std::size_t stride, int n, float const* q, std::size_t ldq, int queries, int dim,
                       float* scores, std::size_t ldScores) {
  if (dim % 16 != 0) {  // the AVX2 level's per-query path (its tail goes through the reference)
    kernelsFor(SimdLevel::kAvx2).dotHalfRows(rows, stride, n, q, ldq, queries, dim, scores, ldScores);
    return;
  }
  x86::forQueryBlocks<kQueryBlock>(q, ldq, scores, ldScores, queries, [&](float const* const* qs, float* const* out, int count) {
    dotHalfRowsBlock(rows, stride, n, qs, count, dim, out);
  });
}

// 8 queries' outputs (a short block repeats query 0 and stores only `count`), 16 columns at a time, over the
// positions in order, skipping each query's zero weights: axpyHalf's per-lane fma sequence.
void weightedSumHalfBlock(float const* const* w, int count, std::uint16_t const* rows, std::size_t stride, int n, int dim,
                          float* const* out) {
  for (int c = 0; c < dim; c += 16) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int t = 0; t < n; ++t) {
      __m512 const v = load16Half(rows + static_cast<std::size_t>(t) * stride + c);
      if (w[0][t] != 0.0f) a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[0][t]), v, a0);
      if (w[1][t] != 0.0f) a1 = _mm512_fmadd_ps(_mm512_set1_ps(w[1][t]), v, a1);
      if (w[2][t] != 0.0f) a2 = _mm512_fmadd_ps(_mm512_set1_ps(w[2][t]), v, a2);
      if (w[3][t] != 0.0f) a3 = _mm512_fmadd_ps(_mm512_set1_ps(w[3][t]), v, a3);
      if (w[4][t] != 0.0f) a4 = _mm512_fmadd_ps(_mm512_set1_ps(w[4][t]), v, a4);
      if (w[5][t] != 0.0f) a5 = _mm512_fmadd_ps(_mm512_set1_ps(w[5][t]), v, a5);
      if (w[6][t] != 0.0f) a6 = _mm512_fmadd_ps(_mm512_set1_ps(w[6][t]), v, a6);
      if (w[7][t] != 0.0f) a7 = _mm512_fmadd_ps(_mm512_set1_ps(w[7][t]), v, a7);
    }
    __m512 const results[kQueryBlock] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < count; ++i) _mm512_storeu_ps(out[i] + c, results[i]);
  }
}

void weightedSumHalfAvx512(float const* w, std::size_t ldw, int queries, std::uint16_t const* rows, std::size_t stride, int n, int dim,
                           float* out, std::size_t ldOut) {
  if (dim % 16 != 0) {
    kernelsFor(SimdLevel::kAvx2).weightedSumHalf(w, ldw, queries, rows, stride, n, dim, out, ldOut);
    return;
  }
  x86::forQueryBlocks<kQueryBlock>(w, ldw, out, ldOut, queries, [&](float const* const* ws, float* const* outs, int count) {
    weightedSumHalfBlock(ws, count, rows, stride, n, dim, outs);
  });
}

// ---- Activations ---------------------------------------------------------------------------------
// Lane for lane the reference's (and the AVX2 level's) operation sequences, 16 lanes at a time: the same
// bits (kernels.test.ts compares every level with the reference). What they save over the AVX2 level is
// half the instructions, most of all half the divisions of siluMultiply (a verify call's 6 tokens x
// 4864 columns per 0.5b layer: siluMultiply was 2.8% of its time at the AVX2 level, perf).

// quantizeQ8Ref's arithmetic: d = amax / 127 per span, values = round-half-even(x * (1 / d)) (cvtps2dq),
// narrowed by vpmovsdb (in order, so no permute; |value| <= 127 never saturates), block sums as exact ints.
void quantizeQ8Avx512(float const* x, int k, int span, Q8Vector const& out) {
  int const blocksPerSpan = span / kQ8BlockSize;
  for (int g = 0; g < k / kQ4GroupSize; ++g) {
    float groupSum = 0.0f;
    for (int s = g * kQ4GroupSize; s < (g + 1) * kQ4GroupSize; s += span) {
      float const* xs = x + s;
      std::int8_t* qs = out.values + s;
      float* scales = out.scale + s / kQ8BlockSize;
      std::int32_t* blockSums = out.blockSum + s / kQ8BlockSize;
      __m512 mv = _mm512_setzero_ps();
      __mmask16 nan = 0;
      for (int i = 0; i < span; i += 16) {
        __m512 const v = _mm512_loadu_ps(xs + i);
        mv = _mm512_max_ps(mv, _mm512_abs_ps(v));
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      }
      float const amax = _mm512_reduce_max_ps(mv);
      if (nan != 0 || !(amax <= 3.402823466e38f)) {
        for (int b = 0; b < blocksPerSpan; ++b) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), _mm256_setzero_si256());
          scales[b] = __builtin_nanf("");
          blockSums[b] = 0;
        }
        groupSum += scales[0] * 0.0f;
        continue;
      }
      float const d = amax >= kQ8TinyBlock ? amax / 127.0f : 0.0f;
      __m512 const id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      int sum = 0;  // exact: |sum| <= 128 x 127
      for (int b = 0; b < blocksPerSpan; ++b) {
        __m512i const q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + 32 * b), id));  // nearest even
        __m512i const q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + 32 * b + 16), id));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
        int const blockSum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        scales[b] = d;
        blockSums[b] = blockSum;
        sum += blockSum;
      }
      groupSum += d * static_cast<float>(sum);
    }
    out.groupSum[g] = groupSum;
  }
}

// SiluExp's sequence (kernels.h) on 16 lanes of x, already clamped to [kMin, kMax] (roundscale with
// scale 0 rounds to the nearest even integer like _mm256_round_ps).
inline __m512 siluExpAvx512(__m512 x) {
  using E = SiluExp;
  __m512 const n2 = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(E::kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n2, _mm512_set1_ps(E::kLn2Hi), x);
  r = _mm512_fnmadd_ps(n2, _mm512_set1_ps(E::kLn2Lo), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(E::c5), r, _mm512_set1_ps(E::c4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E::c3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E::c2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E::c1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E::c0));
  __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  __m512i const bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n2), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
}

// silu(gate) * up, 16 lanes at a time; the tail through masked loads and stores (lanes past n compute on
// zeros and are not stored). _mm512_min_ps(x, m) is (x < m ? x : m) lane by lane, as the AVX2 one.
void siluMultiplyAvx512(float const* gate, float const* up, float* out, std::size_t n) {
  using E = SiluExp;
  for (std::size_t i = 0; i < n; i += 16) {
    __mmask16 const valid = n - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 const g = _mm512_maskz_loadu_ps(valid, gate + i);
    __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32(INT32_MIN)));  // -g (vxorps zmm needs DQ)
    x = _mm512_min_ps(x, _mm512_set1_ps(E::kMax));
    x = _mm512_max_ps(x, _mm512_set1_ps(E::kMin));
    __m512 const e = siluExpAvx512(x);
    __m512 const silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    _mm512_mask_storeu_ps(out + i, valid, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(valid, up + i)));
  }
}

// ---- Dense matmul (fp32 / fp16 / bf16 weights, fp32 activations: the vision tower) ---------------
// The AVX2 level's arithmetic, lane for lane: every (row, token) output is one 8-lane accumulator over the
// columns in order (column c in lane c % 8), reduced in hsum()'s order (x86::reduce4), plus the reference
// over the column tail. A zmm holds the accumulators of two tokens (lanes 0-7 token t, 8-15 token t + 1)
// against the row's 8 weights repeated in both halves, so one FMA does the work of two at the AVX2 level,
// and one conversion of 8 weights serves two tokens. Same bits as the AVX2 level (kernels.test.ts).
// Measured against it (2 threads, 576 tokens x the 3B vision tower's 1280-wide matmuls): pairing rows
// instead (activations broadcast, an insert per row pair) ran 4-9% slower; 6-row tiles were mixed (0.93-1.09x).

// 8 weights of `row` at column c, as floats in lanes 0-7 and again in lanes 8-15.
template <DenseType kType>
inline __m512 load8Twice(void const* row, int c) {
  if constexpr (kType == DenseType::kF32) {
    // vbroadcastf64x4 (AVX512F; the f32x8 form needs DQ)
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(reinterpret_cast<double const*>(static_cast<float const*>(row) + c))));
  } else {
    __m256i const h = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<__m128i const*>(static_cast<std::uint16_t const*>(row) + c)));
    if constexpr (kType == DenseType::kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// Tokens a (lanes 0-7) and b (lanes 8-15), columns c..c+7.
inline __m512 loadTokenPair(float const* a, float const* b, int c) {
  __m512d const lo = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a + c)));
  return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(b + c)), 1));
}

// R rows x P token pairs of Y from tokens t0 .. t0 + 2P - 1, of which the first `count` are stored (a
// short last pair repeats its first token in the upper lanes, computed and not stored); count <= 2P.
template <DenseType kType, int R, int P>
void denseTilePairs(DenseMatrix const& w, float const* x, std::size_t ldx, float* y, std::size_t ldy, int r0, int t0, int count) {
  constexpr std::size_t bytes = kType == DenseType::kF32 ? 4 : 2;
  void const* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = static_cast<std::uint8_t const*>(w.data) + static_cast<std::size_t>(r0 + r) * w.cols * bytes;
  float const* xs[2 * P];
  for (int t = 0; t < 2 * P; ++t) xs[t] = x + static_cast<std::size_t>(t0 + (t < count ? t : 2 * (t / 2))) * ldx;
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  int const vecCols = w.cols & ~7;
  auto step = [&](int c) {
    __m512 xv[P];
    for (int p = 0; p < P; ++p) xv[p] = loadTokenPair(xs[2 * p], xs[2 * p + 1], c);
    for (int r = 0; r < R; ++r) {
      __m512 const wv = load8Twice<kType>(rows[r], c);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(wv, xv[p], acc[r][p]);
    }
  };
  // The AVX2 level's prefetch: each line of this tile also prefetches the same line of the next tile.
  constexpr int kLineCols = static_cast<int>(64 / bytes);
  std::size_t const nextTile = static_cast<std::size_t>(R) * w.cols * bytes;
  int c = 0;
  for (; c + kLineCols <= vecCols; c += kLineCols) {
    for (int r = 0; r < R; ++r) _mm_prefetch(static_cast<char const*>(rows[r]) + nextTile + c * bytes, _MM_HINT_T0);
    for (int cc = c; cc < c + kLineCols; cc += 8) step(cc);
  }
  for (; c < vecCols; c += 8) step(c);
  for (int r = 0; r < R; ++r) {
    float sums[2 * P + 2];  // reduce4 writes 4 at a time
    for (int p = 0; p < P; p += 2) {
      __m512 const second = p + 1 < P ? acc[r][p + 1] : acc[r][p];
      x86::reduce4(_mm512_castps512_ps256(acc[r][p]), avx512::upperHalf(acc[r][p]), _mm512_castps512_ps256(second), avx512::upperHalf(second),
                   sums + 2 * p);
    }
    for (int t = 0; t < count; ++t) {
      float v = sums[t];
      if (vecCols < w.cols) v += detail::denseDotRef(kType, static_cast<std::uint8_t const*>(rows[r]) + vecCols * bytes, xs[t] + vecCols, w.cols - vecCols);
      y[static_cast<std::size_t>(t0 + t) * ldy + r0 + r] = v;
    }
  }
}

template <DenseType kType, int P>
void denseRowsPairs(DenseMatrix const& w, float const* x, std::size_t ldx, float* y, std::size_t ldy, int rowBegin, int rowEnd, int t0,
                    int count) {
  int r = rowBegin;
  for (; r + 4 <= rowEnd; r += 4) denseTilePairs<kType, 4, P>(w, x, ldx, y, ldy, r, t0, count);
  for (; r < rowEnd; ++r) denseTilePairs<kType, 1, P>(w, x, ldx, y, ldy, r, t0, count);
}

template <DenseType kType>
void matmulDenseTypedAvx512(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy, int rowBegin,
                            int rowEnd) {
  // As the AVX2 level: token blocks keep their activations in L2 while a 4-row weight tile is reused from L1
  // across them; here 8 tokens (4 pairs) per tile.
  std::size_t const rowBytes = static_cast<std::size_t>(w.cols) * sizeof(float);
  int const tokenBlock = avx512::maxInt(8, static_cast<int>((192 * 1024 / rowBytes) / 8 * 8));
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = avx512::minInt(tokens, tb + tokenBlock);
    for (int r = rowBegin; r < rowEnd; r += 4) {
      int const re = avx512::minInt(rowEnd, r + 4);
      int t = tb;
      for (; t + 8 <= tbEnd; t += 8) denseRowsPairs<kType, 4>(w, x, ldx, y, ldy, r, re, t, 8);
      int const left = tbEnd - t;  // < 8
      if (left > 6) denseRowsPairs<kType, 4>(w, x, ldx, y, ldy, r, re, t, left);
      else if (left > 4) denseRowsPairs<kType, 3>(w, x, ldx, y, ldy, r, re, t, left);
      else if (left > 2) denseRowsPairs<kType, 2>(w, x, ldx, y, ldy, r, re, t, left);
      else if (left > 0) denseRowsPairs<kType, 1>(w, x, ldx, y, ldy, r, re, t, left);
    }
  }
}

void matmulDenseAvx512(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy, int rowBegin,
                       int rowEnd) {
  switch (w.type) {
    case DenseType::kF32: return matmulDenseTypedAvx512<DenseType::kF32>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kF16: return matmulDenseTypedAvx512<DenseType::kF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kBF16: return matmulDenseTypedAvx512<DenseType::kBF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
  }
}

}  // namespace

void detail::installAvx512VectorKernels(KernelTable& table) {
  table.matmulDense = matmulDenseAvx512;
  table.dotHalfRows = dotHalfRowsAvx512;
  table.weightedSumHalf = weightedSumHalfAvx512;
  table.quantizeQ8 = quantizeQ8Avx512;
  table.siluMultiply = siluMultiplyAvx512;
}

}  // namespace tv::cpu
