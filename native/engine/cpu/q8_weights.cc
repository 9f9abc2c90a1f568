#include "engine/cpu/q8_weights.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"

namespace tv::cpu {

namespace {

constexpr std::uint16_t kHalfNaN = 0x7e00;
constexpr float kLargestHalf = 65504.0f;

// Row r of w as fp32 (the kernels' exact conversions).
void rowToFloat(DenseMatrix const& w, int r, float* out) {
  std::size_t const n = static_cast<std::size_t>(w.cols);
  std::size_t const at = static_cast<std::size_t>(r) * n;
  switch (w.type) {
    case DenseType::kF32: std::copy_n(static_cast<float const*>(w.data) + at, n, out); break;
    case DenseType::kF16: kernels().halfToFloat(static_cast<std::uint16_t const*>(w.data) + at, out, n); break;
    case DenseType::kBF16: kernels().bf16ToFloat(static_cast<std::uint16_t const*>(w.data) + at, out, n); break;
  }
}

// Quantizes one block of 32 weights into lane `lane` of a tile block (layout in kernels.h).
void quantizeBlock(float const* x, int lane, std::int8_t* tileBlock, std::uint16_t* scale) {
  float amax = 0.0f;
  bool finite = true;
  for (int c = 0; c < kQ8BlockSize; ++c) {
    finite = finite && std::isfinite(x[c]);
    amax = std::max(amax, std::fabs(x[c]));
  }
  if (!finite) {
    *scale = kHalfNaN;  // the values stay 0
    return;
  }
  if (amax == 0.0f) {
    *scale = 0;
    return;
  }
  float const s = amax / 127.0f;
  TV_CHECK_ARG(s <= kLargestHalf, "a weight of magnitude ", amax, " does not fit the int8 format's fp16 scales (at most ",
               kLargestHalf * 127.0f, ")");
  *scale = tv::halfAtLeast(s);
  float const d = tv::halfToFloat(*scale);
  for (int c = 0; c < kQ8BlockSize; ++c) {
    // |x / d| <= 127 up to the division's rounding, which nearbyint absorbs; the clamp only documents it.
    float const q = std::min(127.0f, std::max(-127.0f, std::nearbyint(x[c] / d)));
    tileBlock[(c / 4) * 32 + lane * 4 + c % 4] = static_cast<std::int8_t>(q);
  }
}

void quantizeTiles(DenseMatrix const& w, Q8Weights& out, int tileBegin, int tileEnd) {
  int const blocks = w.cols / kQ8BlockSize;
  std::vector<float> row(static_cast<std::size_t>(w.cols));
  for (int t = tileBegin; t < tileEnd; ++t) {
    for (int lane = 0; lane < kQ8TileRows && t * kQ8TileRows + lane < w.rows; ++lane) {
      rowToFloat(w, t * kQ8TileRows + lane, row.data());
      for (int b = 0; b < blocks; ++b) {
        std::size_t const at = static_cast<std::size_t>(t) * blocks + b;
        quantizeBlock(row.data() + b * kQ8BlockSize, lane, out.values() + at * kQ8WeightBlockBytes,
                      out.scales() + at * kQ8TileRows + lane);
      }
    }
  }
}

}  // namespace

Q8Weights::Q8Weights(int rows, int cols) : rows_(rows), cols_(cols) {
  TV_CHECK_ARG(rows > 0 && cols > 0 && cols % kQ8BlockSize == 0, "an int8 matrix needs rows > 0 and cols a multiple of ",
               kQ8BlockSize, "; got [", rows, ", ", cols, "]");
  std::size_t const blocks = static_cast<std::size_t>(tiles()) * (cols / kQ8BlockSize);
  values_ = AlignedBuffer<std::int8_t>(blocks * kQ8WeightBlockBytes);
  scales_ = AlignedBuffer<std::uint16_t>(blocks * kQ8TileRows);
}

Q8Matrix Q8Weights::view() const {
  Q8Matrix m;
  m.rows = rows_;
  m.cols = cols_;
  m.values = values_.data();
  m.scales = scales_.data();
  return m;
}

std::size_t Q8Weights::bytes() const { return values_.size() + scales_.size() * sizeof(std::uint16_t); }

Q8Weights quantizeQ8Weights(DenseMatrix const& w, ThreadPool* pool) {
  TV_CHECK_ARG(w.data != nullptr, "no weights to quantize");
  Q8Weights out(w.rows, w.cols);
  int const tiles = out.tiles();
  if (pool != nullptr) {
    pool->parallelFor(tiles, 1, [&](std::int64_t begin, std::int64_t end) {
      quantizeTiles(w, out, static_cast<int>(begin), static_cast<int>(end));
    });
  } else {
    quantizeTiles(w, out, 0, tiles);
  }
  return out;
}

}  // namespace tv::cpu
