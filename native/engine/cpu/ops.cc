#include "engine/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/kernels.h"

namespace tv::engine::cpu {

void rmsNorm(ThreadPool& pool, float const* x, float const* weight, int rows, int n, double eps, float* out) {
  auto normRow = [&](std::int64_t r) {
    float const* in = x + static_cast<std::size_t>(r) * n;
    float* o = out + static_cast<std::size_t>(r) * n;
    // double: the mean of squares of 2048+ values loses little here and it is cheap. Eight partial sums
    // (lane i % 8) instead of one chain, which waits on the add latency for every element.
    double partial[8] = {};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int j = 0; j < 8; ++j) partial[j] += static_cast<double>(in[i + j]) * in[i + j];
    }
    for (; i < n; ++i) partial[i % 8] += static_cast<double>(in[i]) * in[i];
    double const sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    float const inv = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
    for (int i = 0; i < n; ++i) o[i] = in[i] * inv * weight[i];
  };
  if (rows <= kSerialRows) {
    for (int r = 0; r < rows; ++r) normRow(r);
    return;
  }
  pool.parallelFor(rows, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) normRow(r);
  });
}

void applyRotary(float* v, int heads, int dim, float const* cos, float const* sin) {
  int const half = dim / 2;
  for (int h = 0; h < heads; ++h) {
    float* x = v + static_cast<std::size_t>(h) * dim;
    for (int i = 0; i < half; ++i) {
      float const a = x[i];
      float const b = x[i + half];
      x[i] = a * cos[i] - b * sin[i];
      x[i + half] = b * cos[i] + a * sin[i];
    }
  }
}

void siluMultiply(ThreadPool& pool, float const* gateUp, int rows, int n, float* out) {
  auto const silu = tv::cpu::kernels().siluMultiply;
  auto rowFn = [&](std::int64_t r) {
    float const* g = gateUp + static_cast<std::size_t>(r) * 2 * n;
    silu(g, g + n, out + static_cast<std::size_t>(r) * n, static_cast<std::size_t>(n));
  };
  if (rows <= kSerialRows) {
    for (int r = 0; r < rows; ++r) rowFn(r);
    return;
  }
  pool.parallelFor(rows, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) rowFn(r);
  });
}

void geluInPlace(ThreadPool& pool, float* x, std::size_t n) {
  pool.parallelFor(static_cast<std::int64_t>(n), 4096, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
  });
}

void addInPlace(float* dst, float const* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

void attendHalf(float const* q, std::size_t ldq, int queries, std::uint16_t const* keys, std::uint16_t const* values, std::size_t stride,
                int n, int dim, float scale, float* out, std::size_t ldOut, float* scores, int visibleFrom, std::int32_t const* mask) {
  tv::cpu::KernelTable const& k = tv::cpu::kernels();
  auto const visible = [&](int t) {
    if (mask == nullptr || t < visibleFrom) return true;
    int const j = t - visibleFrom;
    return ((static_cast<std::uint32_t>(mask[j / 32]) >> (j % 32)) & 1u) != 0;
  };
  std::size_t const ldScores = static_cast<std::size_t>(n);
  k.dotHalfRows(keys, stride, n, q, ldq, queries, dim, scores, ldScores);
  for (int i = 0; i < queries; ++i) {
    float* s = scores + i * ldScores;
    // Masked-out positions become -inf, so softmax gives them weight 0 (weightedSumHalf skips those); the
    // mask is only read past visibleFrom, so the kernels see no per-position condition.
    for (int t = mask == nullptr ? n : std::max(visibleFrom, 0); t < n; ++t) {
      if (!visible(t)) s[t] = -INFINITY;
    }
  }
  k.softmax(scores, ldScores, queries, n, scale);
  k.weightedSumHalf(scores, ldScores, queries, values, stride, n, dim, out, ldOut);
}

}  // namespace tv::engine::cpu
