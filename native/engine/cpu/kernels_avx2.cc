// AVX2 + FMA + F16C kernels. Compiled only on x86-64, with -mavx2 -mfma -mf16c, and installed only when
// the CPU supports them (kernels.cc). Keep this file free of inline library templates (std::vector,
// std::function ...): their AVX2 instantiations could be picked by the linker for other files.
#include <immintrin.h>

#include "engine/cpu/attention_x86.h"
#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

// Local min / max: std::min / std::max are library templates (see the note above).
inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

void halfToFloatAvx2(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i const h = _mm_loadu_si128(reinterpret_cast<__m128i const*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  if (i < n) referenceKernels().halfToFloat(src + i, dst + i, n - i);
}

void floatToHalfAvx2(float const* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 const f = _mm256_loadu_ps(src + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) referenceKernels().floatToHalf(src + i, dst + i, n - i);
}

void bf16ToFloatAvx2(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i const wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<__m128i const*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  if (i < n) referenceKernels().bf16ToFloat(src + i, dst + i, n - i);
}


// Sum of the 8 lanes in a fixed order (so every caller reduces the same way).
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsumInt(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// ---- Q8 activations ----------------------------------------------------------------------------

// Same arithmetic as quantizeQ8Ref: one d = amax / 127 per span, values = round-half-even(x * (1 / d)),
// so values, scales and group sums are bit-identical; a span with Inf or NaN gets scale NaN and values 0.
void quantizeQ8Avx2(float const* x, int k, int span, Q8Vector const& out) {
  __m256 const absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256i const order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undoes packs' per-lane interleave
  int const blocksPerSpan = span / kQ8BlockSize;
  for (int g = 0; g < k / kQ4GroupSize; ++g) {
    float groupSum = 0.0f;
    for (int s = g * kQ4GroupSize; s < (g + 1) * kQ4GroupSize; s += span) {
      float const* xs = x + s;
      std::int8_t* qs = out.values + s;
      float* scales = out.scale + s / kQ8BlockSize;
      std::int32_t* blockSums = out.blockSum + s / kQ8BlockSize;
      __m256 mv = _mm256_setzero_ps();
      __m256 nan = _mm256_setzero_ps();
      for (int i = 0; i < span; i += 16) {
        __m256 const a = _mm256_loadu_ps(xs + i);
        __m256 const b = _mm256_loadu_ps(xs + i + 8);
        mv = _mm256_max_ps(mv, _mm256_max_ps(_mm256_and_ps(a, absMask), _mm256_and_ps(b, absMask)));
        // a + b is NaN when either is (or for Inf - Inf, also non-finite): one compare per pair.
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(_mm256_add_ps(a, b), _mm256_add_ps(a, b), _CMP_UNORD_Q));
      }
      __m128 m = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
      m = _mm_max_ps(m, _mm_movehl_ps(m, m));
      m = _mm_max_ss(m, _mm_movehdup_ps(m));
      float const amax = _mm_cvtss_f32(m);
      if (_mm256_movemask_ps(nan) != 0 || !(amax <= 3.402823466e38f)) {
        for (int b = 0; b < blocksPerSpan; ++b) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), _mm256_setzero_si256());
          scales[b] = __builtin_nanf("");
          blockSums[b] = 0;
        }
        groupSum += scales[0] * 0.0f;
        continue;
      }
      float const d = amax >= kQ8TinyBlock ? amax / 127.0f : 0.0f;
      __m256 const id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      int sum = 0;  // exact: |sum| <= 128 x 127
      for (int b = 0; b < blocksPerSpan; ++b) {
        __m256i q[4];
        for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xs + 32 * b + 8 * i), id));  // nearest even
        int const blockSum = hsumInt(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        __m256i const packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), _mm256_permutevar8x32_epi32(packed, order));
        scales[b] = d;
        blockSums[b] = blockSum;
        sum += blockSum;
      }
      groupSum += d * static_cast<float>(sum);
    }
    out.groupSum[g] = groupSum;
  }
}

// ---- Dense matmul -------------------------------------------------------------------------------

template <DenseType kType>
inline __m256 load8(void const* row, int c) {
  if constexpr (kType == DenseType::kF32) {
    return _mm256_loadu_ps(static_cast<float const*>(row) + c);
  } else if constexpr (kType == DenseType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(static_cast<std::uint16_t const*>(row) + c)));
  } else {
    __m128i const h = _mm_loadu_si128(reinterpret_cast<__m128i const*>(static_cast<std::uint16_t const*>(row) + c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <DenseType kType>
inline void const* rowPointer(DenseMatrix const& w, int r) {
  std::size_t const bytes = kType == DenseType::kF32 ? 4 : 2;
  return static_cast<std::uint8_t const*>(w.data) + static_cast<std::size_t>(r) * w.cols * bytes;
}

// R rows x T tokens of Y. Every (row, token) output is one 8-lane accumulator over the columns in
// order, reduced by hsum, plus the reference over the column tail: the same arithmetic whatever R and
// T, so results do not depend on how rows and tokens were tiled (or split across threads).
template <DenseType kType, int R, int T>
void denseTile(DenseMatrix const& w, float const* x, std::size_t ldx, float* y, std::size_t ldy, int r0, int t0) {
  void const* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = rowPointer<kType>(w, r0 + r);
  float const* xs[T];
  for (int t = 0; t < T; ++t) xs[t] = x + static_cast<std::size_t>(t0 + t) * ldx;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  int const vecCols = w.cols & ~7;
  auto step = [&](int c) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(xs[t] + c);
    for (int r = 0; r < R; ++r) {
      __m256 const wv = load8<kType>(rows[r], c);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  };
  // Rows of 2048 fp16 are one 4 KB page each, and hardware prefetchers stop at page boundaries: with
  // R short streams per tile they would restart on every row. So each line of this tile also
  // prefetches the same line of the next tile (R rows further on; rows are contiguous).
  constexpr std::size_t bytes = kType == DenseType::kF32 ? 4 : 2;
  constexpr int kLineCols = static_cast<int>(64 / bytes);
  std::size_t const nextTile = static_cast<std::size_t>(R) * w.cols * bytes;
  int c = 0;
  for (; c + kLineCols <= vecCols; c += kLineCols) {
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(static_cast<char const*>(rows[r]) + nextTile + c * bytes, _MM_HINT_T0);
    }
    for (int cc = c; cc < c + kLineCols; cc += 8) step(cc);
  }
  for (; c < vecCols; c += 8) step(c);
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float v = hsum(acc[r][t]);
      if (vecCols < w.cols) {
        v += detail::denseDotRef(kType, static_cast<std::uint8_t const*>(rows[r]) + vecCols * bytes, xs[t] + vecCols,
                                 w.cols - vecCols);
      }
      y[static_cast<std::size_t>(t0 + t) * ldy + r0 + r] = v;
    }
  }
}

template <DenseType kType, int T>
void denseRows(DenseMatrix const& w, float const* x, std::size_t ldx, float* y, std::size_t ldy, int rowBegin,
               int rowEnd, int t0) {
  int r = rowBegin;
  for (; r + 4 <= rowEnd; r += 4) denseTile<kType, 4, T>(w, x, ldx, y, ldy, r, t0);
  for (; r < rowEnd; ++r) denseTile<kType, 1, T>(w, x, ldx, y, ldy, r, t0);
}

template <DenseType kType>
void matmulDenseTyped(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                      int rowBegin, int rowEnd) {
  // Token blocks keep their activations in L2 while a 4-row weight tile is reused from L1 across them.
  std::size_t const rowBytes = static_cast<std::size_t>(w.cols) * sizeof(float);
  int const tokenBlock = maxInt(3, static_cast<int>((192 * 1024 / rowBytes) / 3 * 3));
  for (int tb = 0; tb < tokens; tb += tokenBlock) {
    int const tbEnd = minInt(tokens, tb + tokenBlock);
    for (int r = rowBegin; r < rowEnd; r += 4) {
      int const re = minInt(rowEnd, r + 4);
      int t = tb;
      for (; t + 3 <= tbEnd; t += 3) denseRows<kType, 3>(w, x, ldx, y, ldy, r, re, t);
      if (tbEnd - t == 2) denseRows<kType, 2>(w, x, ldx, y, ldy, r, re, t);
      if (tbEnd - t == 1) denseRows<kType, 1>(w, x, ldx, y, ldy, r, re, t);
    }
  }
}

void matmulDenseAvx2(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                     int rowBegin, int rowEnd) {
  switch (w.type) {
    case DenseType::kF32: return matmulDenseTyped<DenseType::kF32>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kF16: return matmulDenseTyped<DenseType::kF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kBF16: return matmulDenseTyped<DenseType::kBF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
  }
}

// ---- Attention helpers --------------------------------------------------------------------------

// SiluExp's sequence (kernels.h) on 8 lanes of x, already clamped to [kMin, kMax]: siluMultiply's and
// softmax's exponential.
inline __m256 siluExpAvx2(__m256 x) {
  using E = SiluExp;
  __m256 const n2 = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(E::kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n2, _mm256_set1_ps(E::kLn2Hi), x);
  r = _mm256_fnmadd_ps(n2, _mm256_set1_ps(E::kLn2Lo), r);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(E::c5), r, _mm256_set1_ps(E::c4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E::c3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E::c2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E::c1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E::c0));
  __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i const bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n2), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

// SiluExp's sequence, 8 lanes at a time (kernels.h); _mm256_min_ps(x, m) is (x < m ? x : m) lane by lane.
void siluMultiplyAvx2(float const* gate, float const* up, float* out, std::size_t n) {
  using E = SiluExp;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 const g = _mm256_loadu_ps(gate + i);
    __m256 x = _mm256_xor_ps(g, _mm256_set1_ps(-0.0f));  // -g
    x = _mm256_min_ps(x, _mm256_set1_ps(E::kMax));
    x = _mm256_max_ps(x, _mm256_set1_ps(E::kMin));
    __m256 const e = siluExpAvx2(x);
    __m256 const silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  if (i < n) referenceKernels().siluMultiply(gate + i, up + i, out + i, n - i);
}

// softmax (kernels.h): the max and SiluExp's exponential in 8 lanes, the last partial vector through masked
// loads and stores (the exponential is lane by lane, so the same bits as the reference's per element); the
// sums and the normalization through detail::softmaxNormalize.
void softmaxAvx2(float* x, std::size_t ld, int rows, int n, float scale) {
  using E = SiluExp;
  __m256 const s = _mm256_set1_ps(scale);
  __m256 const negInf = _mm256_set1_ps(-__builtin_inff());
  __m256i const lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int row = 0; row < rows; ++row) {
    float* xr = x + row * ld;
    __m256 lanesMax = negInf;
    for (int i = 0; i < n; i += 8) {
      __m256i const valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
      __m256 const v = _mm256_mul_ps(_mm256_maskload_ps(xr + i, valid), s);
      _mm256_maskstore_ps(xr + i, valid, v);
      // a NaN v gives the second operand (never the max); lanes past n count as -inf
      lanesMax = _mm256_max_ps(_mm256_blendv_ps(negInf, v, _mm256_castsi256_ps(valid)), lanesMax);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, lanesMax);
    float m = -__builtin_inff();
    for (float const v : lanes) m = v > m ? v : m;
    __m256 const mv = _mm256_set1_ps(m);
    for (int i = 0; i < n; i += 8) {
      __m256i const valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
      __m256 const d = _mm256_sub_ps(_mm256_maskload_ps(xr + i, valid), mv);
      __m256 const c = _mm256_max_ps(_mm256_min_ps(d, _mm256_set1_ps(E::kMax)), _mm256_set1_ps(E::kMin));
      __m256 e = siluExpAvx2(c);
      e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(d, _mm256_set1_ps(E::kMin), _CMP_LT_OQ));
      e = _mm256_blendv_ps(e, d, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
      _mm256_maskstore_ps(xr + i, valid, e);
    }
  }
  detail::softmaxNormalize(x, ld, rows, n);
}

float dotHalfAvx2(std::uint16_t const* k, float const* q, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(load8<DenseType::kF16>(k, i), _mm256_loadu_ps(q + i), a0);
    a1 = _mm256_fmadd_ps(load8<DenseType::kF16>(k, i + 8), _mm256_loadu_ps(q + i + 8), a1);
  }
  if (i + 8 <= n) {
    a0 = _mm256_fmadd_ps(load8<DenseType::kF16>(k, i), _mm256_loadu_ps(q + i), a0);
    i += 8;
  }
  float sum = hsum(_mm256_add_ps(a0, a1));
  if (i < n) sum += referenceKernels().dotHalf(k + i, q + i, n - i);
  return sum;
}

void axpyHalfAvx2(float a, std::uint16_t const* v, float* y, int n) {
  __m256 const av = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, load8<DenseType::kF16>(v, i), _mm256_loadu_ps(y + i)));
  }
  if (i < n) referenceKernels().axpyHalf(a, v + i, y + i, n - i);
}

// Up to 4 queries against one row at a time: each query's a0 / a1 accumulate exactly as in dotHalfAvx2,
// but the row is converted from fp16 once for all of them, and the 4 sums are reduced together in the
// order hsum() adds (lo + hi halves, then lanes (0 + 2, 1 + 3), then those two), so every score has
// dotHalfAvx2's bits. Only for dim % 16 == 0 (every head size in use); other sizes go query by query.
constexpr int kQueryBlock = 4;

// 4 queries (q[i]; a short block repeats query 0 and keeps only `count` results) against each row, the
// accumulators in named registers (arrays of them were kept on the stack, one store-forward per fma).
void dotHalfRowsBlock(std::uint16_t const* rows, std::size_t stride, int n, float const* const* q, int count, int dim, float* const* scores) {
  for (int t = 0; t < n; ++t) {
    std::uint16_t const* row = rows + static_cast<std::size_t>(t) * stride;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (int c = 0; c < dim; c += 16) {
      __m256 const k0 = load8<DenseType::kF16>(row, c);
      __m256 const k1 = load8<DenseType::kF16>(row, c + 8);
      a0 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q[0] + c), a0);
      b0 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q[0] + c + 8), b0);
      a1 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q[1] + c), a1);
      b1 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q[1] + c + 8), b1);
      a2 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q[2] + c), a2);
      b2 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q[2] + c + 8), b2);
      a3 = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q[3] + c), a3);
      b3 = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q[3] + c + 8), b3);
    }
    float byQuery[kQueryBlock];
    x86::reduce4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1), _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3), byQuery);
    for (int i = 0; i < count; ++i) scores[i][t] = byQuery[i];
  }
}

void dotHalfRowsAvx2(std::uint16_t const* rows, std::size_t stride, int n, float const* q, std::size_t ldq, int queries, int dim,
                     float* scores, std::size_t ldScores) {
  if (dim % 16 != 0) {
    for (int i = 0; i < queries; ++i) {
      for (int t = 0; t < n; ++t) scores[i * ldScores + t] = dotHalfAvx2(rows + static_cast<std::size_t>(t) * stride, q + i * ldq, dim);
    }
    return;
  }
  x86::forQueryBlocks<kQueryBlock>(q, ldq, scores, ldScores, queries, [&](float const* const* qs, float* const* out, int count) {
    dotHalfRowsBlock(rows, stride, n, qs, count, dim, out);
  });
}

// axpyHalfAvx2's lane steps with the output held in 8 (then 1) ymm accumulators across the positions,
// 64 columns per pass; the column tail goes through the reference per position, as axpyHalfAvx2's does.
void weightedSumHalfOne(float const* w, std::uint16_t const* rows, std::size_t stride, int n, int dim, float* out) {
  int c = 0;
  for (; c + 64 <= dim; c += 64) {
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int t = 0; t < n; ++t) {
      if (w[t] == 0.0f) continue;
      __m256 const wv = _mm256_set1_ps(w[t]);
      std::uint16_t const* v = rows + static_cast<std::size_t>(t) * stride + c;
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(wv, load8<DenseType::kF16>(v, 8 * j), acc[j]);
    }
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(out + c + 8 * j, acc[j]);
  }
  for (; c + 8 <= dim; c += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int t = 0; t < n; ++t) {
      if (w[t] != 0.0f) acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), load8<DenseType::kF16>(rows + static_cast<std::size_t>(t) * stride, c), acc);
    }
    _mm256_storeu_ps(out + c, acc);
  }
  if (c < dim) {
    for (int i = c; i < dim; ++i) out[i] = 0.0f;
    for (int t = 0; t < n; ++t) {
      if (w[t] != 0.0f) referenceKernels().axpyHalf(w[t], rows + static_cast<std::size_t>(t) * stride + c, out + c, dim - c);
    }
  }
}

// Up to 4 queries' outputs, 16 columns at a time, over the positions: the same per-lane fma sequence as
// weightedSumHalfOne (so the same bits), with each row's 16 values converted once for all the queries.
// 4 queries' outputs (a short block repeats query 0 and stores only `count`), 16 columns at a time, over the
// positions: the same per-lane fma sequence as weightedSumHalfOne (so the same bits), with each row's 16
// values converted once for all the queries; accumulators in named registers (see dotHalfRowsBlock).
void weightedSumHalfBlock(float const* const* w, int count, std::uint16_t const* rows, std::size_t stride, int n, int dim,
                          float* const* out) {
  for (int c = 0; c < dim; c += 16) {
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (int t = 0; t < n; ++t) {
      std::uint16_t const* v = rows + static_cast<std::size_t>(t) * stride + c;
      __m256 const v0 = load8<DenseType::kF16>(v, 0);
      __m256 const v1 = load8<DenseType::kF16>(v, 8);
      if (w[0][t] != 0.0f) {
        __m256 const wv = _mm256_set1_ps(w[0][t]);
        a0 = _mm256_fmadd_ps(wv, v0, a0);
        b0 = _mm256_fmadd_ps(wv, v1, b0);
      }
      if (w[1][t] != 0.0f) {
        __m256 const wv = _mm256_set1_ps(w[1][t]);
        a1 = _mm256_fmadd_ps(wv, v0, a1);
        b1 = _mm256_fmadd_ps(wv, v1, b1);
      }
      if (w[2][t] != 0.0f) {
        __m256 const wv = _mm256_set1_ps(w[2][t]);
        a2 = _mm256_fmadd_ps(wv, v0, a2);
        b2 = _mm256_fmadd_ps(wv, v1, b2);
      }
      if (w[3][t] != 0.0f) {
        __m256 const wv = _mm256_set1_ps(w[3][t]);
        a3 = _mm256_fmadd_ps(wv, v0, a3);
        b3 = _mm256_fmadd_ps(wv, v1, b3);
      }
    }
    __m256 const results[2 * kQueryBlock] = {a0, b0, a1, b1, a2, b2, a3, b3};
    for (int i = 0; i < count; ++i) {
      _mm256_storeu_ps(out[i] + c, results[2 * i]);
      _mm256_storeu_ps(out[i] + c + 8, results[2 * i + 1]);
    }
  }
}

void weightedSumHalfAvx2(float const* w, std::size_t ldw, int queries, std::uint16_t const* rows, std::size_t stride, int n, int dim,
                         float* out, std::size_t ldOut) {
  if (dim % 16 != 0) {
    for (int i = 0; i < queries; ++i) weightedSumHalfOne(w + i * ldw, rows, stride, n, dim, out + i * ldOut);
    return;
  }
  x86::forQueryBlocks<kQueryBlock>(w, ldw, out, ldOut, queries, [&](float const* const* ws, float* const* outs, int count) {
    weightedSumHalfBlock(ws, count, rows, stride, n, dim, outs);
  });
}
}  // namespace

void detail::installAvx2Kernels(KernelTable& table) {
  table.halfToFloat = halfToFloatAvx2;
  table.floatToHalf = floatToHalfAvx2;
  table.bf16ToFloat = bf16ToFloatAvx2;
  table.quantizeQ8 = quantizeQ8Avx2;
  table.matmulDense = matmulDenseAvx2;
  table.siluMultiply = siluMultiplyAvx2;
  table.softmax = softmaxAvx2;
  table.dotHalf = dotHalfAvx2;
  table.axpyHalf = axpyHalfAvx2;
  table.dotHalfRows = dotHalfRowsAvx2;
  table.weightedSumHalf = weightedSumHalfAvx2;
  detail::installAvx2Q4Kernels(table);
  detail::installAvx2Q8Kernels(table);
}

}  // namespace tv::cpu
