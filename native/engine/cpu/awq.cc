// AutoAWQ <-> kernel layout conversions and the RTN quantizer (formats documented in awq.h and
// kernels.h). These run once at load time; clarity first, but the repack streams AutoAWQ's
// column-major-ish words a cache line at a time because a 3B model has 250 of these matrices.
#include "engine/cpu/awq.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"

namespace tv::cpu {

namespace {

// kAwqNibble[c] = the nibble that holds column 8j + c of an AutoAWQ word (the inverse of kAwqOrder).
constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};
static_assert(kAwqOrder[kAwqNibble[1]] == 1 && kAwqOrder[kAwqNibble[6]] == 6, "inverse permutation");

int awqNibble(std::int32_t word, int column) {
  return static_cast<int>((static_cast<std::uint32_t>(word) >> (4 * kAwqNibble[column])) & 0x0fu);
}

void checkAwq(AwqTensors const& awq) {
  TV_CHECK(awq.inFeatures > 0 && awq.outFeatures > 0, ErrorCode::kModelLoad, "AWQ layer has shape [",
           awq.inFeatures, ", ", awq.outFeatures, "]: both dimensions must be positive");
  TV_CHECK(awq.inFeatures % kQ4GroupSize == 0, ErrorCode::kModelLoad, "AWQ layer has in_features ", awq.inFeatures,
           ", which is not a multiple of the group size ", kQ4GroupSize);
  TV_CHECK(awq.outFeatures % 8 == 0, ErrorCode::kModelLoad, "AWQ layer has out_features ", awq.outFeatures,
           ", which is not a multiple of 8 (eight int4 values per int32 word)");
  TV_CHECK(awq.qweight != nullptr && awq.qzeros != nullptr && awq.scales != nullptr, ErrorCode::kModelLoad,
           "AWQ layer is missing qweight, qzeros or scales");
}

// Writes q (0..15) at (lane, column k) of a tile: k / 32 picks the block, (k % 32) / 4 the quad.
void putNibble(std::uint8_t* tileNibbles, int lane, int k, int q) {
  int const quad = (k % kQ8BlockSize) / 4;
  std::uint8_t& byte =
      tileNibbles[(k / kQ8BlockSize) * kQ4BlockBytes + (quad % 4) * 32 + lane * 4 + k % 4];
  byte = static_cast<std::uint8_t>(quad < 4 ? (byte & 0xf0) | q : (byte & 0x0f) | (q << 4));
}

// Converts tiles [tileBegin, tileEnd): tile t holds output features 8t..8t+7, i.e. AutoAWQ word column t.
void repackTiles(AwqTensors const& awq, Q4Weights& out, int tileBegin, int tileEnd) {
  int const words = awq.outFeatures / 8;
  int const groups = awq.inFeatures / kQ4GroupSize;
  std::size_t const tileBytes = static_cast<std::size_t>(awq.inFeatures / kQ8BlockSize) * kQ4BlockBytes;
  for (int k = 0; k < awq.inFeatures; ++k) {
    std::int32_t const* row = awq.qweight + static_cast<std::size_t>(k) * words;
    for (int t = tileBegin; t < tileEnd; ++t) {
      std::uint8_t* tileNibbles = out.nibbles() + t * tileBytes;
      for (int lane = 0; lane < 8; ++lane) putNibble(tileNibbles, lane, k, awqNibble(row[t], lane));
    }
  }
  for (int g = 0; g < groups; ++g) {
    for (int t = tileBegin; t < tileEnd; ++t) {
      std::size_t const at = (static_cast<std::size_t>(t) * groups + g) * kQ4TileRows;
      std::int32_t const zeroWord = awq.qzeros[static_cast<std::size_t>(g) * words + t];
      for (int lane = 0; lane < 8; ++lane) {
        out.scales()[at + lane] = awq.scales[static_cast<std::size_t>(g) * awq.outFeatures + t * 8 + lane];
        out.zeros()[at + lane] = static_cast<std::uint8_t>(awqNibble(zeroWord, lane));
      }
    }
  }
}

}  // namespace

Q4Weights::Q4Weights(int rows, int cols) : rows_(rows), cols_(cols) {
  TV_CHECK_ARG(rows > 0 && cols > 0 && cols % kQ4GroupSize == 0, "an int4 matrix needs rows > 0 and cols a multiple of ",
               kQ4GroupSize, "; got [", rows, ", ", cols, "]");
  std::size_t const t = static_cast<std::size_t>(tiles());
  nibbles_ = AlignedBuffer<std::uint8_t>(t * (cols / kQ8BlockSize) * kQ4BlockBytes);
  scales_ = AlignedBuffer<std::uint16_t>(t * (cols / kQ4GroupSize) * kQ4TileRows);
  zeros_ = AlignedBuffer<std::uint8_t>(t * (cols / kQ4GroupSize) * kQ4TileRows);
}

Q4Matrix Q4Weights::view() const {
  Q4Matrix m;
  m.rows = rows_;
  m.cols = cols_;
  m.nibbles = nibbles_.data();
  m.scales = scales_.data();
  m.zeros = zeros_.data();
  return m;
}

std::size_t Q4Weights::bytes() const { return nibbles_.size() + scales_.size() * sizeof(std::uint16_t) + zeros_.size(); }

Q4Weights repackAwq(AwqTensors const& awq, ThreadPool* pool) {
  checkAwq(awq);
  Q4Weights out(awq.outFeatures, awq.inFeatures);
  int const tiles = out.tiles();
  // 16 tiles = 16 consecutive AutoAWQ words = one 64-byte line of each qweight row.
  constexpr int kTilesPerChunk = 16;
  if (pool != nullptr) {
    pool->parallelFor(tiles, kTilesPerChunk, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t t = begin; t < end; t += kTilesPerChunk) {
        repackTiles(awq, out, static_cast<int>(t), static_cast<int>(std::min<std::int64_t>(end, t + kTilesPerChunk)));
      }
    });
  } else {
    for (int t = 0; t < tiles; t += kTilesPerChunk) repackTiles(awq, out, t, std::min(tiles, t + kTilesPerChunk));
  }
  return out;
}

AwqTensors AwqOwned::view(int inFeatures, int outFeatures) const {
  TV_CHECK_ARG(inFeatures > 0 && outFeatures > 0 && inFeatures % kQ4GroupSize == 0 && outFeatures % 8 == 0,
               "bad AWQ shape [", inFeatures, ", ", outFeatures, "]");
  std::size_t const k = static_cast<std::size_t>(inFeatures), n = static_cast<std::size_t>(outFeatures);
  TV_CHECK_ARG(qweight.size() == k * n / 8 && qzeros.size() == k / kQ4GroupSize * n / 8 &&
                   scales.size() == k / kQ4GroupSize * n,
               "AWQ tensors do not have shape [", inFeatures, ", ", outFeatures, "]");
  AwqTensors v;
  v.inFeatures = inFeatures;
  v.outFeatures = outFeatures;
  v.qweight = qweight.data();
  v.qzeros = qzeros.data();
  v.scales = scales.data();
  return v;
}

AwqOwned quantizeRtnAwq(float const* weight, int outFeatures, int inFeatures) {
  TV_CHECK_ARG(weight != nullptr && inFeatures > 0 && outFeatures > 0 && inFeatures % kQ4GroupSize == 0 &&
                   outFeatures % 8 == 0,
               "quantizeRtnAwq needs in_features a multiple of ", kQ4GroupSize,
               " and out_features a multiple of 8; got [", outFeatures, ", ", inFeatures, "]");
  std::size_t const n = static_cast<std::size_t>(outFeatures), k = static_cast<std::size_t>(inFeatures);
  std::size_t const words = n / 8, groups = k / kQ4GroupSize;
  AwqOwned out;
  out.qweight.assign(k * words, 0);
  out.qzeros.assign(groups * words, 0);
  out.scales.assign(groups * n, 0);
  auto orInto = [](std::int32_t& word, int column, int q) {
    word = static_cast<std::int32_t>(static_cast<std::uint32_t>(word) |
                                     (static_cast<std::uint32_t>(q) << (4 * kAwqNibble[column])));
  };
  for (std::size_t r = 0; r < n; ++r) {
    float const* w = weight + r * k;
    for (std::size_t g = 0; g < groups; ++g) {
      float const* wg = w + g * kQ4GroupSize;
      float lo = 0.0f, hi = 0.0f;
      for (int i = 0; i < kQ4GroupSize; ++i) {
        TV_CHECK_ARG(std::isfinite(wg[i]), "weight [", r, ", ", g * kQ4GroupSize + i, "] is not finite");
        lo = std::min(lo, wg[i]);
        hi = std::max(hi, wg[i]);
      }
      std::uint16_t const h = hi > lo ? tv::halfAtLeast((hi - lo) / 15.0f) : std::uint16_t{0x3c00};  // 1.0 for all-zero
      TV_CHECK_ARG(h < 0x7c00, "weights of row ", r, " span ", hi - lo, ", too wide for fp16 scales");
      float const scale = tv::halfToFloat(h);
      // nearbyint: round half to even, like torch.round in AutoAWQ.
      int const zero = std::clamp(static_cast<int>(std::nearbyint(-lo / scale)), 0, 15);
      out.scales[g * n + r] = h;
      orInto(out.qzeros[g * words + r / 8], static_cast<int>(r % 8), zero);
      for (int i = 0; i < kQ4GroupSize; ++i) {
        int const q = std::clamp(static_cast<int>(std::nearbyint(wg[i] / scale)) + zero, 0, 15);
        orInto(out.qweight[(g * kQ4GroupSize + i) * words + r / 8], static_cast<int>(r % 8), q);
      }
    }
  }
  return out;
}

std::vector<float> dequantizeAwq(AwqTensors const& awq) {
  checkAwq(awq);
  std::size_t const n = static_cast<std::size_t>(awq.outFeatures), k = static_cast<std::size_t>(awq.inFeatures);
  std::size_t const words = n / 8;
  std::vector<float> out(n * k);
  for (std::size_t kk = 0; kk < k; ++kk) {
    std::size_t const g = kk / kQ4GroupSize;
    for (std::size_t r = 0; r < n; ++r) {
      int const q = awqNibble(awq.qweight[kk * words + r / 8], static_cast<int>(r % 8));
      int const zero = awqNibble(awq.qzeros[g * words + r / 8], static_cast<int>(r % 8));
      out[r * k + kk] = static_cast<float>(q - zero) * tv::halfToFloat(awq.scales[g * n + r]);
    }
  }
  return out;
}

}  // namespace tv::cpu
