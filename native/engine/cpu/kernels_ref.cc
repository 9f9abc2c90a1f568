// Portable reference kernels: the definition of correct for every SIMD variant. Written for clarity,
// one output at a time, in the order the formulas in kernels.h read; speed is the SIMD files' job.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/fp16.h"
#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

void halfToFloatRef(std::uint16_t const* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::halfToFloat(src[i]);
}

void floatToHalfRef(float const* src, std::uint16_t* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::floatToHalf(src[i]);
}

void bf16ToFloatRef(std::uint16_t const* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::bf16ToFloat(src[i]);
}

// ---- Q8 activations ----------------------------------------------------------------------------

void quantizeQ8Ref(float const* x, int k, int span, Q8Vector const& out) {
  int const blocksPerSpan = span / kQ8BlockSize;
  for (int g = 0; g < k / kQ4GroupSize; ++g) {
    float groupSum = 0.0f;
    for (int s = g * kQ4GroupSize; s < (g + 1) * kQ4GroupSize; s += span) {
      float const* xs = x + s;
      std::int8_t* qs = out.values + s;
      float* scales = out.scale + s / kQ8BlockSize;
      std::int32_t* blockSums = out.blockSum + s / kQ8BlockSize;
      float amax = 0.0f;
      bool finite = true;
      for (int i = 0; i < span; ++i) {
        finite = finite && std::isfinite(xs[i]);
        amax = std::max(amax, std::fabs(xs[i]));
      }
      if (!finite) {
        // int8 cannot carry Inf or NaN: the span's scale becomes NaN so every output reading it is NaN,
        // instead of the non-finite input vanishing into a finite result.
        for (int i = 0; i < span; ++i) qs[i] = 0;
        for (int b = 0; b < blocksPerSpan; ++b) {
          scales[b] = std::numeric_limits<float>::quiet_NaN();
          blockSums[b] = 0;
        }
        groupSum += scales[0] * 0.0f;
        continue;
      }
      float const d = amax >= kQ8TinyBlock ? amax / 127.0f : 0.0f;  // see kQ8TinyBlock
      float const id = d != 0.0f ? 1.0f / d : 0.0f;
      int sum = 0;  // exact: |sum| <= 128 x 127
      for (int b = 0; b < blocksPerSpan; ++b) {
        int blockSum = 0;
        for (int i = 32 * b; i < 32 * b + 32; ++i) {
          // |x * id| <= 127 (up to one rounding), so the value fits without clamping; nearbyint rounds
          // half to even like the SIMD conversions (cvtps2dq, fcvtns).
          int const q = static_cast<int>(std::nearbyint(xs[i] * id));
          qs[i] = static_cast<std::int8_t>(q);
          blockSum += q;
        }
        scales[b] = d;
        blockSums[b] = blockSum;
        sum += blockSum;
      }
      groupSum += d * static_cast<float>(sum);
    }
    out.groupSum[g] = groupSum;
  }
}

// ---- Int4 x int8 matmul -------------------------------------------------------------------------

// The weight q (0..15) of row lane `lane` (0..7) and column c (0..31) in one 128-byte tile block.
int q4At(std::uint8_t const* block, int lane, int c) {
  int const quad = c / 4;
  std::uint8_t const byte = block[(quad % 4) * 32 + lane * 4 + c % 4];
  return quad < 4 ? (byte & 0x0f) : (byte >> 4);
}

void matmulQ4Ref(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                 int rowEnd) {
  int const groups = w.cols / kQ4GroupSize;
  int const blocksPerGroup = kQ4GroupSize / kQ8BlockSize;
  for (int r = rowBegin; r < rowEnd; ++r) {
    int const tile = r / kQ4TileRows;
    int const lane = r % kQ4TileRows;
    std::uint8_t const* tileNibbles = w.tileNibbles(tile);
    for (int t = 0; t < tokens; ++t) {
      float acc = 0.0f;
      for (int g = 0; g < groups; ++g) {
        std::int32_t isum = 0;  // exact: |isum| <= 128 * 15 * 127
        for (int b = g * blocksPerGroup; b < (g + 1) * blocksPerGroup; ++b) {
          std::int8_t const* xq = x[t].values + b * kQ8BlockSize;
          for (int c = 0; c < kQ8BlockSize; ++c) isum += q4At(tileNibbles + b * kQ4BlockBytes, lane, c) * xq[c];
        }
        float const blockSum = static_cast<float>(isum) * x[t].scale[g * blocksPerGroup];  // d_g * isum_g
        std::size_t const at = (static_cast<std::size_t>(tile) * groups + g) * kQ4TileRows + lane;
        float const scale = tv::halfToFloat(w.scales[at]);
        float const zeroScale = static_cast<float>(w.zeros[at]) * scale;  // exact: 4-bit x 11-bit mantissa
        acc += scale * blockSum;
        acc -= zeroScale * x[t].groupSum[g];
      }
      y[t * ldy + r] = acc;
    }
  }
}

// ---- Int8 x int8 matmul -------------------------------------------------------------------------

void matmulQ8Ref(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                 int rowEnd) {
  int const blocks = w.cols / kQ8BlockSize;
  for (int r = rowBegin; r < rowEnd; ++r) {
    int const tile = r / kQ8TileRows;
    int const lane = r % kQ8TileRows;
    for (int t = 0; t < tokens; ++t) {
      float acc = 0.0f;
      for (int b = 0; b < blocks; ++b) {
        std::size_t const at = static_cast<std::size_t>(tile) * blocks + b;
        std::int8_t const* block = w.values + at * kQ8WeightBlockBytes;
        std::int8_t const* xq = x[t].values + b * kQ8BlockSize;
        std::int32_t isum = 0;  // exact: |isum| <= 32 * 127 * 127
        for (int c = 0; c < kQ8BlockSize; ++c) isum += block[(c / 4) * 32 + lane * 4 + c % 4] * xq[c];
        float const scale = tv::halfToFloat(w.scales[at * kQ8TileRows + lane]) * x[t].scale[b];
        acc = std::fma(static_cast<float>(isum), scale, acc);  // fused, as in every SIMD variant
      }
      y[t * ldy + r] = acc;
    }
  }
}

// ---- Dense matmul, attention helpers ------------------------------------------------------------

float denseAt(DenseType type, void const* row, int c) {
  switch (type) {
    case DenseType::kF32: return static_cast<float const*>(row)[c];
    case DenseType::kF16: return tv::halfToFloat(static_cast<std::uint16_t const*>(row)[c]);
    case DenseType::kBF16: return tv::bf16ToFloat(static_cast<std::uint16_t const*>(row)[c]);
  }
  return 0.0f;
}

std::size_t denseElementBytes(DenseType type) { return type == DenseType::kF32 ? 4 : 2; }

void matmulDenseRef(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                    int rowBegin, int rowEnd) {
  std::size_t const rowBytes = static_cast<std::size_t>(w.cols) * denseElementBytes(w.type);
  for (int r = rowBegin; r < rowEnd; ++r) {
    void const* row = static_cast<std::uint8_t const*>(w.data) + r * rowBytes;
    for (int t = 0; t < tokens; ++t) y[t * ldy + r] = detail::denseDotRef(w.type, row, x + t * ldx, w.cols);
  }
}

// SiluExp's steps on d (kMin <= d <= kMax), one statement per rounding step: siluMultiply's and softmax's
// exponential.
float siluExpRef(float d) {
  using E = SiluExp;
  float const scaled = d * E::kLog2e;
  float const n2 = std::nearbyint(scaled);
  float r = std::fma(-n2, E::kLn2Hi, d);
  r = std::fma(-n2, E::kLn2Lo, r);
  float p = std::fma(E::c5, r, E::c4);
  p = std::fma(p, r, E::c3);
  p = std::fma(p, r, E::c2);
  p = std::fma(p, r, E::c1);
  p = std::fma(p, r, E::c0);
  float const r2 = r * r;
  float y = std::fma(p, r2, r);
  y = y + 1.0f;
  std::uint32_t const bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n2) + 127) << 23;
  float pow2;
  std::memcpy(&pow2, &bits, sizeof pow2);
  return y * pow2;
}

// One statement per rounding step, so that no compiler contracts two of them into an fma (see SiluExp).
void siluMultiplyRef(float const* gate, float const* up, float* out, std::size_t n) {
  using E = SiluExp;
  for (std::size_t i = 0; i < n; ++i) {
    float const g = gate[i];
    float x = -g;
    x = x < E::kMax ? x : E::kMax;
    x = x > E::kMin ? x : E::kMin;
    float const e = siluExpRef(x);
    float const denominator = 1.0f + e;
    float const silu = g / denominator;
    out[i] = silu * up[i];
  }
}


}  // namespace

void detail::softmaxNormalize(float* x, std::size_t ld, int rows, int n) {
  constexpr int kSideBySide = 8;
  for (int r0 = 0; r0 < rows; r0 += kSideBySide) {
    int const count = rows - r0 < kSideBySide ? rows - r0 : kSideBySide;
    float sum[kSideBySide] = {};
    for (int i = 0; i < n; ++i) {
      for (int r = 0; r < count; ++r) sum[r] += x[(r0 + r) * ld + i];
    }
    for (int r = 0; r < count; ++r) {
      float* row = x + (r0 + r) * ld;
      float const inv = 1.0f / sum[r];
      for (int i = 0; i < n; ++i) row[i] = row[i] * inv;
    }
  }
}

namespace {

void softmaxRef(float* x, std::size_t ld, int rows, int n, float scale) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    float m = -INFINITY;
    for (int i = 0; i < n; ++i) {
      float const v = row[i] * scale;
      row[i] = v;
      m = v > m ? v : m;
    }
    for (int i = 0; i < n; ++i) {
      float const d = row[i] - m;
      float e;
      if (d < SiluExp::kMin) {
        e = 0.0f;
      } else if (d != d) {
        e = d;
      } else {
        e = siluExpRef(d < SiluExp::kMax ? d : SiluExp::kMax);
      }
      row[i] = e;
    }
  }
  detail::softmaxNormalize(x, ld, rows, n);
}

float dotHalfRef(std::uint16_t const* k, float const* q, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += tv::halfToFloat(k[i]) * q[i];
  return sum;
}

void axpyHalfRef(float a, std::uint16_t const* v, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * tv::halfToFloat(v[i]);
}

void dotHalfRowsRef(std::uint16_t const* rows, std::size_t stride, int n, float const* q, std::size_t ldq, int queries, int dim,
                    float* scores, std::size_t ldScores) {
  for (int i = 0; i < queries; ++i) {
    for (int t = 0; t < n; ++t) {
      scores[i * ldScores + t] = dotHalfRef(rows + static_cast<std::size_t>(t) * stride, q + i * ldq, dim);
    }
  }
}

void weightedSumHalfRef(float const* w, std::size_t ldw, int queries, std::uint16_t const* rows, std::size_t stride, int n,
                        int dim, float* out, std::size_t ldOut) {
  for (int i = 0; i < queries; ++i) {
    float const* wi = w + i * ldw;
    float* oi = out + i * ldOut;
    std::fill(oi, oi + dim, 0.0f);
    for (int t = 0; t < n; ++t) {
      if (wi[t] != 0.0f) axpyHalfRef(wi[t], rows + static_cast<std::size_t>(t) * stride, oi, dim);
    }
  }
}

}  // namespace

float detail::denseDotRef(DenseType type, void const* row, float const* x, int n) {
  float sum = 0.0f;
  for (int c = 0; c < n; ++c) sum += denseAt(type, row, c) * x[c];
  return sum;
}

KernelTable const& referenceKernels() {
  static KernelTable const table = [] {
    KernelTable t;
    t.level = SimdLevel::kScalar;
    t.halfToFloat = halfToFloatRef;
    t.floatToHalf = floatToHalfRef;
    t.bf16ToFloat = bf16ToFloatRef;
    t.quantizeQ8 = quantizeQ8Ref;
    t.matmulQ4 = matmulQ4Ref;
    t.matmulQ8 = matmulQ8Ref;
    t.matmulDense = matmulDenseRef;
    t.siluMultiply = siluMultiplyRef;
    t.softmax = softmaxRef;
    t.dotHalfRows = dotHalfRowsRef;
    t.weightedSumHalf = weightedSumHalfRef;
    t.dotHalf = dotHalfRef;
    t.axpyHalf = axpyHalfRef;
    return t;
  }();
  return table;
}

}  // namespace tv::cpu
