// Standalone kernel check: the best kernel table of this build and CPU (NEON on AArch64, AVX2 or
// AVX-512 on x86-64) against the reference table, without Node. scripts/test-neon.sh cross-compiles
// it for AArch64 and runs it under qemu, which is how the NEON kernels are tested on x86 machines; it
// also builds natively (`c++ -std=c++17 -O2 -Inative ...`, see the script) as a second check of the x86 kernels.
//
// The cases and tolerances mirror test/native/kernels.test.ts (whose tolerance table is the one to
// change); exits 1 on the first failing case.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "core/thread_pool.h"
#include "engine/cpu/awq.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/q8_buffer.h"
#include "engine/cpu/q8_weights.h"

namespace {

using namespace tv;
using namespace tv::cpu;

int failures = 0;

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return static_cast<float>(next() >> 40) / 16777216.0f * 2.0f - 1.0f; }
};

void check(bool ok, char const* what, double value = 0.0) {
  if (!ok) {
    std::printf("FAIL %s (%g)\n", what, value);
    ++failures;
  }
}

// Normalized mean squared error of a against the reference b; any NaN or Inf mismatch is a failure.
double nmse(float const* a, float const* b, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(b[i]) != std::isnan(a[i])) return INFINITY;
    if (std::isinf(b[i]) || std::isinf(a[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    if (std::isnan(b[i])) continue;
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return den == 0.0 ? num : num / den;
}

constexpr double kFloatOrderNmse = 1e-9;  // fp32 results that differ only in summation order / FMA
constexpr double kActivationQ8Nmse = 1e-4;  // int8 activations vs fp32 (see kernels.test.ts)

void checkConversions(KernelTable const& best, KernelTable const& ref) {
  std::vector<std::uint16_t> halves(65536 + 7);
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<std::uint16_t>(i);
  std::vector<float> a(halves.size()), b(halves.size());
  best.halfToFloat(halves.data(), a.data(), a.size());
  ref.halfToFloat(halves.data(), b.data(), b.size());
  std::size_t differ = 0;  // NaN payloads may differ (hardware converts signalling NaNs to quiet ones)
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]))) ++differ;
  }
  check(differ == 0, "halfToFloat bit-exact (NaN as NaN)", static_cast<double>(differ));
  best.bf16ToFloat(halves.data(), a.data(), a.size());
  ref.bf16ToFloat(halves.data(), b.data(), b.size());
  differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]))) ++differ;
  }
  check(differ == 0, "bf16ToFloat bit-exact (NaN as NaN)", static_cast<double>(differ));
  Rng rng(1);
  std::vector<float> f(100003);
  for (float& v : f) {
    std::uint32_t const bits = static_cast<std::uint32_t>(rng.next());
    std::memcpy(&v, &bits, 4);
  }
  std::vector<std::uint16_t> ha(f.size()), hb(f.size());
  best.floatToHalf(f.data(), ha.data(), f.size());
  ref.floatToHalf(f.data(), hb.data(), f.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    bool const nan = (hb[i] & 0x7c00) == 0x7c00 && (hb[i] & 0x3ff) != 0;
    if (nan ? !((ha[i] & 0x7c00) == 0x7c00 && (ha[i] & 0x3ff) != 0) : ha[i] != hb[i]) ++mismatches;
  }
  check(mismatches == 0, "floatToHalf matches the reference", static_cast<double>(mismatches));
}

void checkQuantize(KernelTable const& best, KernelTable const& ref) {
  Rng rng(2);
  int const k = 1152;
  std::vector<float> x(k);
  for (float& v : x) v = 3.0f * rng.uniform();
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;           // an all-zero block
  for (int i = 0; i < 32; ++i) x[160 + i] = 1e-38f * (i % 3);  // a tiny block (zeros)
  x[400] = 3e38f;                                            // a huge finite block
  x[200] = NAN;
  x[300] = INFINITY;
  for (int span : {kQ8BlockSize, kQ4ActivationSpan}) {
    Q8Buffer a(1, k), b(1, k);
    best.quantizeQ8(x.data(), k, span, a.row(0));
    ref.quantizeQ8(x.data(), k, span, b.row(0));
    char what[96];
    std::snprintf(what, sizeof what, "quantizeQ8 span %d values bit-exact", span);
    check(std::memcmp(a.row(0).values, b.row(0).values, k) == 0, what);
    std::snprintf(what, sizeof what, "quantizeQ8 span %d block sums exact", span);
    check(std::memcmp(a.row(0).blockSum, b.row(0).blockSum, (k / 32) * sizeof(std::int32_t)) == 0, what);
    std::size_t badScales = 0;
    for (int i = 0; i < k / 32; ++i) {
      float const sa = a.row(0).scale[i], sb = b.row(0).scale[i];
      if (!(sa == sb || (std::isnan(sa) && std::isnan(sb)))) ++badScales;
    }
    std::snprintf(what, sizeof what, "quantizeQ8 span %d scales bit-exact (NaN for non-finite spans)", span);
    check(badScales == 0, what, static_cast<double>(badScales));
    std::snprintf(what, sizeof what, "quantizeQ8 span %d groupSum", span);
    check(nmse(a.row(0).groupSum, b.row(0).groupSum, k / 128) < kFloatOrderNmse, what);
  }
}

void checkQ4(KernelTable const& best, KernelTable const& ref) {
  // Token counts: the GEMV (1), one and two USMMLA pairs (2, 4), odd counts (a token paired with zeros),
  // and 37 tokens of 4096 columns: two token blocks, the second odd (kernels_neon_q4.cc).
  int const shapes[][3] = {{8, 128, 1}, {13, 256, 3}, {67, 1152, 7}, {40, 2048, 33}, {21, 128, 5}, {24, 256, 2}, {9, 384, 4}, {16, 4096, 37}};
  Rng rng(3);
  for (auto const& s : shapes) {
    int const rows = (s[0] + 7) / 8 * 8, cols = s[1], tokens = s[2];
    std::vector<float> w(static_cast<std::size_t>(rows) * cols);
    for (float& v : w) v = 0.1f * rng.uniform();
    AwqOwned const awq = quantizeRtnAwq(w.data(), rows, cols);
    Q4Weights const q4 = repackAwq(awq.view(cols, rows));
    std::vector<float> deq = dequantizeAwq(awq.view(cols, rows));
    std::vector<float> x(static_cast<std::size_t>(tokens) * cols);
    for (float& v : x) v = rng.uniform();
    Q8Buffer q(tokens, cols);
    q.quantize(ref, kQ4ActivationSpan, x.data(), cols, tokens);
    std::vector<float> ya(static_cast<std::size_t>(tokens) * rows), yb(ya.size()), yf(ya.size());
    int const useRows = s[0];  // odd row ranges exercise partial tiles
    best.matmulQ4(q4.view(), q.rows(), tokens, ya.data(), rows, 0, useRows);
    ref.matmulQ4(q4.view(), q.rows(), tokens, yb.data(), rows, 0, useRows);
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < rows; ++r) {
        double acc = 0.0;
        for (int c = 0; c < cols; ++c) acc += static_cast<double>(deq[r * cols + c]) * x[t * cols + c];
        yf[t * rows + r] = r < useRows ? static_cast<float>(acc) : 0.0f;
      }
    }
    char what[96];
    std::snprintf(what, sizeof what, "matmulQ4 %dx%d tokens %d vs reference", s[0], cols, tokens);
    check(nmse(ya.data(), yb.data(), ya.size()) < kFloatOrderNmse, what, nmse(ya.data(), yb.data(), ya.size()));
    std::snprintf(what, sizeof what, "matmulQ4 %dx%d tokens %d vs dequantized fp32", s[0], cols, tokens);
    check(nmse(ya.data(), yf.data(), ya.size()) < kActivationQ8Nmse, what, nmse(ya.data(), yf.data(), ya.size()));
    // Threads never change a result: 3 threads with a split that is not a multiple of 8.
    std::vector<float> yt(ya.size());
    ThreadPool pool(3);
    pool.parallelFor(useRows, 5, [&](std::int64_t b, std::int64_t e) {
      best.matmulQ4(q4.view(), q.rows(), tokens, yt.data(), rows, static_cast<int>(b), static_cast<int>(e));
    });
    std::snprintf(what, sizeof what, "matmulQ4 %dx%d tokens %d threads bit-exact", s[0], cols, tokens);
    check(std::memcmp(yt.data(), ya.data(), ya.size() * 4) == 0, what);
    // The AVX-512 kernel keeps the AVX2 kernel's float steps lane for lane, the SDOT kernel the baseline
    // NEON one's and the USMMLA kernel the SDOT one's: bit-identical to the level they extend.
    if (best.level == SimdLevel::kAvx512 || best.level == SimdLevel::kNeonDot || best.level == SimdLevel::kNeonI8mm) {
      SimdLevel const base = best.level == SimdLevel::kAvx512 ? SimdLevel::kAvx2
                             : best.level == SimdLevel::kNeonI8mm ? SimdLevel::kNeonDot
                                                                  : SimdLevel::kNeon;
      std::vector<float> y2(ya.size());
      kernelsFor(base).matmulQ4(q4.view(), q.rows(), tokens, y2.data(), rows, 0, useRows);
      std::snprintf(what, sizeof what, "matmulQ4 %dx%d tokens %d %s bit-exact vs %s", s[0], cols, tokens, simdLevelName(best.level),
                    simdLevelName(base));
      check(std::memcmp(y2.data(), ya.data(), ya.size() * 4) == 0, what);
    }
  }
}

// The int8 kernel: bit-identical to the reference (kernels.h, Q8Matrix) for every shape, token count,
// row range and thread split, and the reference equal to fp64 of the dequantized operands.
void checkQ8(KernelTable const& best, KernelTable const& ref) {
  int const shapes[][3] = {{1, 128, 1}, {13, 256, 3}, {67, 1152, 5}, {40, 2048, 9}, {21, 128, 4}};
  Rng rng(6);
  for (auto const& s : shapes) {
    int const rows = s[0], cols = s[1], tokens = s[2], blocks = cols / kQ8BlockSize;
    std::vector<float> w(static_cast<std::size_t>(rows) * cols);
    for (float& v : w) v = 0.1f * rng.uniform();
    DenseMatrix dense;
    dense.rows = rows;
    dense.cols = cols;
    dense.type = DenseType::kF32;
    dense.data = w.data();
    Q8Weights const q8 = quantizeQ8Weights(dense);
    Q8Matrix const m = q8.view();
    std::vector<float> x(static_cast<std::size_t>(tokens) * cols);
    for (float& v : x) v = rng.uniform();
    Q8Buffer q(tokens, cols);
    q.quantize(ref, kQ8BlockSize, x.data(), cols, tokens);
    std::vector<float> ya(static_cast<std::size_t>(tokens) * rows), yb(ya.size()), yf(ya.size());
    best.matmulQ8(m, q.rows(), tokens, ya.data(), rows, 0, rows);
    ref.matmulQ8(m, q.rows(), tokens, yb.data(), rows, 0, rows);
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < rows; ++r) {
        double acc = 0.0;
        for (int c = 0; c < cols; ++c) {
          std::size_t const at = static_cast<std::size_t>(r / 8) * blocks + c / kQ8BlockSize;
          double const wq = m.values[at * kQ8WeightBlockBytes + (c % 32) / 4 * 32 + (r % 8) * 4 + c % 4] *
                            static_cast<double>(halfToFloat(m.scales[at * 8 + r % 8]));
          acc += wq * q.row(t).values[c] * static_cast<double>(q.row(t).scale[c / kQ8BlockSize]);
        }
        yf[t * rows + r] = static_cast<float>(acc);
      }
    }
    char what[96];
    std::snprintf(what, sizeof what, "matmulQ8 %dx%d tokens %d bit-exact vs reference", rows, cols, tokens);
    check(std::memcmp(ya.data(), yb.data(), ya.size() * 4) == 0, what);
    std::snprintf(what, sizeof what, "matmulQ8 %dx%d tokens %d reference vs fp64", rows, cols, tokens);
    check(nmse(yb.data(), yf.data(), yb.size()) < kFloatOrderNmse, what, nmse(yb.data(), yf.data(), yb.size()));
    // Threads and row ranges never change a result: 3 threads splitting inside tiles, an odd range.
    std::vector<float> yt(ya.size(), -1.0f);
    ThreadPool pool(3);
    int const lo = rows > 4 ? 3 : 0;
    pool.parallelFor(rows - lo, 5, [&](std::int64_t b, std::int64_t e) {
      best.matmulQ8(m, q.rows(), tokens, yt.data(), rows, lo + static_cast<int>(b), lo + static_cast<int>(e));
    });
    bool same = true;
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < rows; ++r) {
        float const expected = r < lo ? -1.0f : ya[t * rows + r];
        same = same && std::memcmp(&yt[t * rows + r], &expected, 4) == 0;
      }
    }
    std::snprintf(what, sizeof what, "matmulQ8 %dx%d tokens %d rows [%d, %d) on 3 threads bit-exact", rows, cols, tokens, lo, rows);
    check(same, what);
  }
}

void checkDense(KernelTable const& best, KernelTable const& ref) {
  int const shapes[][3] = {{5, 5, 1}, {7, 37, 3}, {9, 1001, 4}, {33, 256, 7}, {4, 2048, 1}};
  Rng rng(4);
  for (DenseType type : {DenseType::kF32, DenseType::kF16, DenseType::kBF16}) {
    for (auto const& s : shapes) {
      int const rows = s[0], cols = s[1], tokens = s[2];
      std::vector<float> wf(static_cast<std::size_t>(rows) * cols);
      std::vector<std::uint16_t> wh(wf.size());
      for (std::size_t i = 0; i < wf.size(); ++i) {
        wf[i] = rng.uniform();
        wh[i] = type == DenseType::kF16 ? floatToHalf(wf[i]) : floatToBf16(wf[i]);
      }
      DenseMatrix m;
      m.rows = rows;
      m.cols = cols;
      m.type = type;
      m.data = type == DenseType::kF32 ? static_cast<void const*>(wf.data()) : wh.data();
      std::vector<float> x(static_cast<std::size_t>(tokens) * cols);
      for (float& v : x) v = rng.uniform();
      std::vector<float> ya(static_cast<std::size_t>(tokens) * rows), yb(ya.size());
      best.matmulDense(m, x.data(), cols, tokens, ya.data(), rows, 0, rows);
      ref.matmulDense(m, x.data(), cols, tokens, yb.data(), rows, 0, rows);
      char what[96];
      std::snprintf(what, sizeof what, "matmulDense type %d %dx%d tokens %d", static_cast<int>(type), rows, cols, tokens);
      check(nmse(ya.data(), yb.data(), ya.size()) < kFloatOrderNmse, what, nmse(ya.data(), yb.data(), ya.size()));
    }
  }
}

void checkAttention(KernelTable const& best, KernelTable const& ref) {
  Rng rng(5);
  for (int n : {1, 7, 64, 128, 131}) {
    std::vector<std::uint16_t> k(n);
    std::vector<float> q(n), ya(n), yb(n);
    for (int i = 0; i < n; ++i) {
      k[i] = floatToHalf(rng.uniform());
      q[i] = rng.uniform();
      ya[i] = yb[i] = rng.uniform();
    }
    float const da = best.dotHalf(k.data(), q.data(), n), db = ref.dotHalf(k.data(), q.data(), n);
    check(nmse(&da, &db, 1) < kFloatOrderNmse, "dotHalf", nmse(&da, &db, 1));
    best.axpyHalf(0.75f, k.data(), ya.data(), n);
    ref.axpyHalf(0.75f, k.data(), yb.data(), n);
    check(nmse(ya.data(), yb.data(), n) < kFloatOrderNmse, "axpyHalf", nmse(ya.data(), yb.data(), n));
  }
  // The per-head forms equal the per-row calls of the same level bit for bit (a 0 weight skips its row), for
  // one query and for several sharing the rows (each query as if alone).
  for (int dim : {7, 64, 72, 128}) {
    for (int queries : {1, 3, 7}) {
      int const rows = 9;
      std::size_t const stride = static_cast<std::size_t>(dim) + 5;
      std::vector<std::uint16_t> v(rows * stride);
      std::vector<float> q(static_cast<std::size_t>(queries) * dim), w(static_cast<std::size_t>(queries) * rows);
      std::vector<float> scores(w.size()), sum(q.size()), expected(q.size(), 0.0f);
      for (auto& x : v) x = floatToHalf(rng.uniform());
      for (auto& x : q) x = rng.uniform();
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = i % 4 == 1 ? 0.0f : rng.uniform();
      best.dotHalfRows(v.data(), stride, rows, q.data(), dim, queries, dim, scores.data(), rows);
      best.weightedSumHalf(w.data(), rows, queries, v.data(), stride, rows, dim, sum.data(), dim);
      bool same = true;
      for (int i = 0; i < queries; ++i) {
        for (int t = 0; t < rows; ++t) {
          float const d = best.dotHalf(v.data() + t * stride, q.data() + i * dim, dim);
          same = same && std::memcmp(&d, &scores[i * rows + t], 4) == 0;
          float const wt = w[i * rows + t];
          if (wt != 0.0f) best.axpyHalf(wt, v.data() + t * stride, expected.data() + i * dim, dim);
        }
      }
      check(same, "dotHalfRows equals dotHalf per row and query");
      check(std::memcmp(sum.data(), expected.data(), sum.size() * 4) == 0, "weightedSumHalf equals axpyHalf per row and query");
    }
  }
}

// SiLU's exponential is one operation sequence at every level (kernels.h SiluExp): bit-exact, tails and
// special values included.
void checkSilu(KernelTable const& best, KernelTable const& ref) {
  Rng rng(6);
  float const special[] = {0.0f, -0.0f, 1e-40f, 87.0f, 87.5f, -88.0f, -88.5f, 100.0f, -100.0f,
                           std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN()};
  for (int n : {1, 3, 4, 7, 8, 9, 17, 4864}) {
    std::vector<float> gate(n), up(n), ya(n), yb(n);
    for (int i = 0; i < n; ++i) {
      gate[i] = i % 5 == 0 ? special[(i / 5) % (sizeof special / sizeof special[0])] : 16.0f * rng.uniform() - 8.0f;
      up[i] = rng.uniform();
    }
    best.siluMultiply(gate.data(), up.data(), ya.data(), static_cast<std::size_t>(n));
    ref.siluMultiply(gate.data(), up.data(), yb.data(), static_cast<std::size_t>(n));
    int differ = 0;
    for (int i = 0; i < n; ++i) {
      bool const same = std::memcmp(&ya[i], &yb[i], 4) == 0 || (std::isnan(ya[i]) && std::isnan(yb[i]));
      differ += same ? 0 : 1;
    }
    check(differ == 0, "siluMultiply bit-exact", static_cast<double>(differ));
  }
}

// Softmax uses SiluExp's sequence too: bit-exact, tails, masked (-inf), underflowing and NaN scores included.
void checkSoftmax(KernelTable const& best, KernelTable const& ref) {
  Rng rng(7);
  for (int n : {1, 3, 4, 7, 8, 9, 17, 100}) {
    std::vector<float> a(n), b(n);
    for (int i = 0; i < n; ++i) a[i] = i % 5 == 2 ? -std::numeric_limits<float>::infinity() : 60.0f * rng.uniform();
    if (n > 4) a[4] = 1500.0f;  // the others fall below kMin
    for (bool withNan : {false, true}) {
      if (withNan) a[n / 2] = std::numeric_limits<float>::quiet_NaN();
      b = a;
      std::vector<float> c = a;
      best.softmax(b.data(), static_cast<std::size_t>(n), 1, n, 0.125f);
      ref.softmax(c.data(), static_cast<std::size_t>(n), 1, n, 0.125f);
      int differ = 0;
      for (int i = 0; i < n; ++i) {
        bool const same = std::memcmp(&b[i], &c[i], 4) == 0 || (std::isnan(b[i]) && std::isnan(c[i]));
        differ += same ? 0 : 1;
      }
      check(differ == 0, "softmax bit-exact", static_cast<double>(differ));
    }
  }
  // Rows side by side (ld past the row length): each row as the reference computes it.
  int const rows = 5, n = 37;
  std::size_t const ld = 41;
  std::vector<float> a(rows * ld), b, c;
  for (float& v : a) v = 40.0f * rng.uniform();
  a[ld + 3] = -std::numeric_limits<float>::infinity();
  b = a;
  c = a;
  best.softmax(b.data(), ld, rows, n, 0.125f);
  ref.softmax(c.data(), ld, rows, n, 0.125f);
  check(std::memcmp(b.data(), c.data(), b.size() * 4) == 0, "softmax rows bit-exact");
}

}  // namespace

// Every SIMD level this build and CPU can run, each against the reference table. With
// `--expect LEVEL,LEVEL`, also fails unless exactly those levels are usable (scripts/test-neon.sh checks
// the run-time CPU feature check that way: under an emulated CPU without the dot-product extension the
// SDOT level must not be picked).
int main(int argc, char** argv) {
  KernelTable const& ref = referenceKernels();
  std::string usable;
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kNeon, SimdLevel::kNeonDot, SimdLevel::kNeonI8mm}) {
    if (!simdLevelUsable(level)) continue;
    usable += (usable.empty() ? "" : ",") + std::string(simdLevelName(level));
    KernelTable const& best = kernelsFor(level);
    std::printf("kernel check: %s vs reference\n", simdLevelName(best.level));
    try {
      checkConversions(best, ref);
      checkQuantize(best, ref);
      checkQ4(best, ref);
      checkQ8(best, ref);
      checkDense(best, ref);
      checkAttention(best, ref);
      checkSilu(best, ref);
      checkSoftmax(best, ref);
    } catch (std::exception const& e) {
      std::printf("FAIL exception: %s\n", e.what());
      return 1;
    }
  }
  std::printf("usable levels: %s; picked: %s\n", usable.c_str(), simdLevelName(simdLevel()));
  if (argc == 3 && std::string(argv[1]) == "--expect" && usable != argv[2]) {
    std::printf("FAIL expected the levels %s\n", argv[2]);
    return 1;
  }
  if (failures != 0) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
