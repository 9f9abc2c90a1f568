// NEON kernels (arm64: Jetson's Cortex-A78AE cores). Compiled everywhere; the bodies exist only on
// AArch64, where NEON and fp16 conversion instructions are always present.
#include "engine/cpu/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace tv::cpu {

#if defined(__aarch64__)
namespace {

void halfToFloatNeon(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float16x4_t const h = vreinterpret_f16_u16(vld1_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(h));
  }
  if (i < n) referenceKernels().halfToFloat(src + i, dst + i, n - i);
}

void floatToHalfNeon(float const* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  }
  if (i < n) referenceKernels().floatToHalf(src + i, dst + i, n - i);
}

void bf16ToFloatNeon(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(src + i), 16)));
  }
  if (i < n) referenceKernels().bf16ToFloat(src + i, dst + i, n - i);
}


inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

// ---- Q8 activations ----------------------------------------------------------------------------

// Same arithmetic as quantizeQ8Ref (one d = amax / 127 per span, values = round-half-even(x * (1 / d))),
// so values, scales and group sums are bit-identical; a span with Inf or NaN gets scale NaN and values 0.
// FMAX propagates NaN, so one check of amax catches both.
void quantizeQ8Neon(float const* x, int k, int span, Q8Vector const& out) {
  int const blocksPerSpan = span / kQ8BlockSize;
  for (int g = 0; g < k / kQ4GroupSize; ++g) {
    float groupSum = 0.0f;
    for (int s = g * kQ4GroupSize; s < (g + 1) * kQ4GroupSize; s += span) {
      float const* xs = x + s;
      std::int8_t* qs = out.values + s;
      float* scales = out.scale + s / kQ8BlockSize;
      std::int32_t* blockSums = out.blockSum + s / kQ8BlockSize;
      float32x4_t m = vdupq_n_f32(0.0f);
      for (int i = 0; i < span; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(xs + i)));
      float const amax = vmaxvq_f32(m);
      if (!(amax <= 3.402823466e38f)) {
        for (int b = 0; b < blocksPerSpan; ++b) {
          vst1q_s8(qs + 32 * b, vdupq_n_s8(0));
          vst1q_s8(qs + 32 * b + 16, vdupq_n_s8(0));
          scales[b] = __builtin_nanf("");
          blockSums[b] = 0;
        }
        groupSum += scales[0] * 0.0f;
        continue;
      }
      float const d = amax >= kQ8TinyBlock ? amax / 127.0f : 0.0f;
      float const id = d != 0.0f ? 1.0f / d : 0.0f;
      int sum = 0;  // exact: |sum| <= 128 x 127
      for (int b = 0; b < blocksPerSpan; ++b) {
        int32x4_t q[8];
        int32x4_t blockSum = vdupq_n_s32(0);
        for (int i = 0; i < 8; ++i) {
          q[i] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xs + 32 * b + 4 * i), id));  // round to nearest, ties to even
          blockSum = vaddq_s32(blockSum, q[i]);
        }
        blockSums[b] = vaddvq_s32(blockSum);
        sum += blockSums[b];
        for (int h = 0; h < 2; ++h) {
          int16x8_t const a = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
          int16x8_t const c = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
          vst1q_s8(qs + 32 * b + 16 * h, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
        }
        scales[b] = d;
      }
      groupSum += d * static_cast<float>(sum);
    }
    out.groupSum[g] = groupSum;
  }
}

// ---- Dense matmul -------------------------------------------------------------------------------

template <DenseType kType>
inline float32x4_t load4(void const* row, int c) {
  if constexpr (kType == DenseType::kF32) {
    return vld1q_f32(static_cast<float const*>(row) + c);
  } else if constexpr (kType == DenseType::kF16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<std::uint16_t const*>(row) + c)));
  } else {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<std::uint16_t const*>(row) + c), 16));
  }
}

// R rows x T tokens of Y; as in the AVX2 file, every (row, token) output has the same arithmetic
// whatever R and T: two 4-lane accumulators (columns 8j..8j+3 and 8j+4..8j+7) over the columns in
// order, then their sum reduced across lanes, plus the reference over the column tail.
template <DenseType kType, int R, int T>
void denseTile(DenseMatrix const& w, float const* x, std::size_t ldx, float* y, std::size_t ldy, int r0, int t0) {
  constexpr std::size_t bytes = kType == DenseType::kF32 ? 4 : 2;
  void const* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = static_cast<std::uint8_t const*>(w.data) + static_cast<std::size_t>(r0 + r) * w.cols * bytes;
  float const* xs[T];
  for (int t = 0; t < T; ++t) xs[t] = x + static_cast<std::size_t>(t0 + t) * ldx;
  float32x4_t acc[R][T][2];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = vdupq_n_f32(0.0f);
  int const vecCols = w.cols & ~7;
  std::size_t const nextTile = static_cast<std::size_t>(R) * w.cols * bytes;
  for (int c = 0; c < vecCols; c += 8) {
    if ((c * bytes) % 64 == 0) {  // as in the AVX2 file (measured there, not on Orin): prefetch the next tile
      for (int r = 0; r < R; ++r) __builtin_prefetch(static_cast<char const*>(rows[r]) + nextTile + c * bytes);
    }
    float32x4_t xv[T][2];
    for (int t = 0; t < T; ++t) {
      xv[t][0] = vld1q_f32(xs[t] + c);
      xv[t][1] = vld1q_f32(xs[t] + c + 4);
    }
    for (int r = 0; r < R; ++r) {
      float32x4_t const w0 = load4<kType>(rows[r], c), w1 = load4<kType>(rows[r], c + 4);
      for (int t = 0; t < T; ++t) {
        acc[r][t][0] = vfmaq_f32(acc[r][t][0], w0, xv[t][0]);
        acc[r][t][1] = vfmaq_f32(acc[r][t][1], w1, xv[t][1]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float v = vaddvq_f32(vaddq_f32(acc[r][t][0], acc[r][t][1]));
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

void matmulDenseNeon(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                     int rowBegin, int rowEnd) {
  switch (w.type) {
    case DenseType::kF32: return matmulDenseTyped<DenseType::kF32>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kF16: return matmulDenseTyped<DenseType::kF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
    case DenseType::kBF16: return matmulDenseTyped<DenseType::kBF16>(w, x, ldx, tokens, y, ldy, rowBegin, rowEnd);
  }
}

// ---- Attention helpers --------------------------------------------------------------------------

// SiluExp's sequence (kernels.h) on 4 lanes of d, already clamped to [kMin, kMax]: siluMultiply's and
// softmax's exponential.
inline float32x4_t siluExpNeon(float32x4_t d) {
  using E = SiluExp;
  float32x4_t const n2 = vrndnq_f32(vmulq_f32(d, vdupq_n_f32(E::kLog2e)));
  float32x4_t r = vfmsq_f32(d, n2, vdupq_n_f32(E::kLn2Hi));
  r = vfmsq_f32(r, n2, vdupq_n_f32(E::kLn2Lo));
  float32x4_t p = vfmaq_f32(vdupq_n_f32(E::c4), vdupq_n_f32(E::c5), r);
  p = vfmaq_f32(vdupq_n_f32(E::c3), p, r);
  p = vfmaq_f32(vdupq_n_f32(E::c2), p, r);
  p = vfmaq_f32(vdupq_n_f32(E::c1), p, r);
  p = vfmaq_f32(vdupq_n_f32(E::c0), p, r);
  float32x4_t y = vfmaq_f32(r, p, vmulq_f32(r, r));
  y = vaddq_f32(y, vdupq_n_f32(1.0f));
  int32x4_t const bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n2), vdupq_n_s32(127)), 23);
  return vmulq_f32(y, vreinterpretq_f32_s32(bits));
}

// SiluExp's sequence, 4 lanes at a time (kernels.h). vminq/vmaxq would return NaN for a NaN lane, so the
// clamps are selects on the comparisons, as SiluExp states them.
void siluMultiplyNeon(float const* gate, float const* up, float* out, std::size_t n) {
  using E = SiluExp;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float32x4_t const g = vld1q_f32(gate + i);
    float32x4_t x = vnegq_f32(g);
    float32x4_t const hi = vdupq_n_f32(E::kMax);
    float32x4_t const lo = vdupq_n_f32(E::kMin);
    x = vbslq_f32(vcltq_f32(x, hi), x, hi);
    x = vbslq_f32(vcgtq_f32(x, lo), x, lo);
    float32x4_t const e = siluExpNeon(x);
    float32x4_t const silu = vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e));
    vst1q_f32(out + i, vmulq_f32(silu, vld1q_f32(up + i)));
  }
  if (i < n) referenceKernels().siluMultiply(gate + i, up + i, out + i, n - i);
}


// softmax (kernels.h): the max and SiluExp's exponential in 4 lanes, the element tail by the reference's
// steps; the sums and the normalization through detail::softmaxNormalize: the same bits as the reference.
void softmaxNeon(float* x, std::size_t ld, int rows, int n, float scale) {
  using E = SiluExp;
  for (int row = 0; row < rows; ++row) {
    float* xr = x + row * ld;
    float32x4_t lanesMax = vdupq_n_f32(-__builtin_inff());
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      float32x4_t const v = vmulq_n_f32(vld1q_f32(xr + i), scale);
      vst1q_f32(xr + i, v);
      lanesMax = vbslq_f32(vcgtq_f32(v, lanesMax), v, lanesMax);  // (v > m ? v : m): a NaN v is never the max
    }
    float lanes[4];
    vst1q_f32(lanes, lanesMax);
    float m = -__builtin_inff();
    for (int j = 0; j < 4; ++j) m = lanes[j] > m ? lanes[j] : m;
    for (int j = i; j < n; ++j) {
      float const v = xr[j] * scale;
      xr[j] = v;
      m = v > m ? v : m;
    }
    // The last 1-3 values go through a zero-padded vector: the exponential is lane by lane.
    float32x4_t const mv = vdupq_n_f32(m);
    for (i = 0; i < n; i += 4) {
      float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      bool const whole = i + 4 <= n;
      if (!whole) {
        for (int j = i; j < n; ++j) tail[j - i] = xr[j];
      }
      float32x4_t const d = vsubq_f32(whole ? vld1q_f32(xr + i) : vld1q_f32(tail), mv);
      float32x4_t c = vbslq_f32(vcltq_f32(d, vdupq_n_f32(E::kMax)), d, vdupq_n_f32(E::kMax));
      c = vbslq_f32(vcgtq_f32(c, vdupq_n_f32(E::kMin)), c, vdupq_n_f32(E::kMin));
      float32x4_t e = siluExpNeon(c);
      e = vbslq_f32(vcltq_f32(d, vdupq_n_f32(E::kMin)), vdupq_n_f32(0.0f), e);
      e = vbslq_f32(vceqq_f32(d, d), e, d);  // NaN stays NaN
      if (whole) {
        vst1q_f32(xr + i, e);
      } else {
        vst1q_f32(tail, e);
        for (int j = i; j < n; ++j) xr[j] = tail[j - i];
      }
    }
  }
  detail::softmaxNormalize(x, ld, rows, n);
}

float dotHalfNeon(std::uint16_t const* k, float const* q, int n) {
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 = vfmaq_f32(a0, load4<DenseType::kF16>(k, i), vld1q_f32(q + i));
    a1 = vfmaq_f32(a1, load4<DenseType::kF16>(k, i + 4), vld1q_f32(q + i + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(a0, a1));
  if (i < n) sum += referenceKernels().dotHalf(k + i, q + i, n - i);
  return sum;
}

void axpyHalfNeon(float a, std::uint16_t const* v, float* y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load4<DenseType::kF16>(v, i), a));
  if (i < n) referenceKernels().axpyHalf(a, v + i, y + i, n - i);
}

void dotHalfRowsNeon(std::uint16_t const* rows, std::size_t stride, int n, float const* q, std::size_t ldq, int queries, int dim,
                     float* scores, std::size_t ldScores) {
  for (int i = 0; i < queries; ++i) {
    for (int t = 0; t < n; ++t) {
      scores[i * ldScores + t] = dotHalfNeon(rows + static_cast<std::size_t>(t) * stride, q + i * ldq, dim);
    }
  }
}

// axpyHalfNeon's lane steps with the output in 8 (then 1) q-register accumulators across the positions,
// 32 columns per pass; the column tail through the reference per position, as axpyHalfNeon's.
void weightedSumHalfOneNeon(float const* w, std::uint16_t const* rows, std::size_t stride, int n, int dim, float* out) {
  int c = 0;
  for (; c + 32 <= dim; c += 32) {
    float32x4_t acc[8];
    for (float32x4_t& a : acc) a = vdupq_n_f32(0.0f);
    for (int t = 0; t < n; ++t) {
      if (w[t] == 0.0f) continue;
      std::uint16_t const* v = rows + static_cast<std::size_t>(t) * stride + c;
      for (int j = 0; j < 8; ++j) acc[j] = vfmaq_n_f32(acc[j], load4<DenseType::kF16>(v, 4 * j), w[t]);
    }
    for (int j = 0; j < 8; ++j) vst1q_f32(out + c + 4 * j, acc[j]);
  }
  for (; c + 4 <= dim; c += 4) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int t = 0; t < n; ++t) {
      if (w[t] != 0.0f) acc = vfmaq_n_f32(acc, load4<DenseType::kF16>(rows + static_cast<std::size_t>(t) * stride, c), w[t]);
    }
    vst1q_f32(out + c, acc);
  }
  if (c < dim) {
    for (int i = c; i < dim; ++i) out[i] = 0.0f;
    for (int t = 0; t < n; ++t) {
      if (w[t] != 0.0f) referenceKernels().axpyHalf(w[t], rows + static_cast<std::size_t>(t) * stride + c, out + c, dim - c);
    }
  }
}

void weightedSumHalfNeon(float const* w, std::size_t ldw, int queries, std::uint16_t const* rows, std::size_t stride, int n,
                         int dim, float* out, std::size_t ldOut) {
  for (int i = 0; i < queries; ++i) weightedSumHalfOneNeon(w + i * ldw, rows, stride, n, dim, out + i * ldOut);
}

}  // namespace

void detail::installNeonKernels(KernelTable& table) {
  table.halfToFloat = halfToFloatNeon;
  table.floatToHalf = floatToHalfNeon;
  table.bf16ToFloat = bf16ToFloatNeon;
  table.quantizeQ8 = quantizeQ8Neon;
  table.matmulDense = matmulDenseNeon;
  table.siluMultiply = siluMultiplyNeon;
  table.softmax = softmaxNeon;
  table.dotHalf = dotHalfNeon;
  table.axpyHalf = axpyHalfNeon;
  table.dotHalfRows = dotHalfRowsNeon;
  table.weightedSumHalf = weightedSumHalfNeon;
  installNeonQ4Kernels(table);
  installNeonQ8Kernels(table);
}
#else
void detail::installNeonKernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
