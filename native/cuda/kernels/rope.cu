#include "cuda/kernels/rope.h"

#include <cmath>

#include "cuda/kernels/launch.cuh"

namespace tv::cuda {

namespace {

using detail::firstIndex;
using detail::gridStride;

// Per-frequency constants, passed by value as a kernel parameter (1.25 KB, within the 4 KB limit of
// every toolkit): no device allocation, and concurrent launches with other parameters cannot clash
// as they could in __constant__ memory.
struct Frequencies {
  float inverse[kMaxRopeHeadDim / 2];
  std::uint8_t axis[kMaxRopeHeadDim / 2];  // 0: t, 1: h, 2: w
};

// One thread per (row, frequency), writing the cosine and the sine of that pair.
__global__ void mropeKernel(std::int32_t const* __restrict__ t, std::int32_t const* __restrict__ h,
                            std::int32_t const* __restrict__ w, int rowBegin, int rowEnd, int headDim,
                            Frequencies const freqs, float* __restrict__ table) {
  int const half = headDim / 2;
  std::int64_t const total = static_cast<std::int64_t>(rowEnd - rowBegin) * half;
  for (std::int64_t e = firstIndex(); e < total; e += gridStride()) {
    std::int64_t const row = rowBegin + e / half;
    int const i = static_cast<int>(e % half);
    int const axis = freqs.axis[i];
    std::int32_t const position = axis == 0 ? t[row] : (axis == 1 ? h[row] : w[row]);
    float const angle = __fmul_rn(__int2float_rn(position), freqs.inverse[i]);
    float s;
    float c;
    sincosf(angle, &s, &c);  // the accurate version (no --use_fast_math): positions reach thousands of radians
    float* out = table + row * headDim;
    out[i] = c;
    out[half + i] = s;
  }
}

}  // namespace

void launchMropeCosSin(MropeTableArgs const& a, cudaStream_t stream) {
  TV_CHECK_ARG(a.headDim >= 2 && a.headDim % 2 == 0 && a.headDim <= kMaxRopeHeadDim,
               "the rotary dimension must be even and between 2 and ", kMaxRopeHeadDim, ", got ", a.headDim);
  int const half = a.headDim / 2;
  auto const& s = a.mropeSection;
  TV_CHECK_ARG(s[0] >= 0 && s[1] >= 0 && s[2] >= 0 && s[0] + s[1] + s[2] == half, "mrope_section [", s[0], ", ", s[1],
               ", ", s[2], "] must be non-negative and sum to head_dim / 2 (", half, ")");
  TV_CHECK_ARG(a.capacity >= 0 && a.rowBegin >= 0 && a.rowBegin <= a.rowEnd && a.rowEnd <= a.capacity, "rope rows [",
               a.rowBegin, ", ", a.rowEnd, ") are outside the table's ", a.capacity, " rows");
  TV_CHECK_ARG(a.theta > 0.0 && std::isfinite(a.theta), "rope theta must be positive and finite");
  if (a.rowBegin == a.rowEnd) return;
  TV_CHECK_ARG(a.t != nullptr && a.h != nullptr && a.w != nullptr, "the position arrays must be device pointers");
  TV_CHECK_ARG(a.table != nullptr && detail::aligned(a.table, alignof(float)), "the table must be a 4-byte aligned device pointer");

  Frequencies freqs{};
  for (int i = 0; i < half; ++i) {
    // The CPU path's expression (vla::mropeCosSin), evaluated by the same libm on the host.
    freqs.inverse[i] = static_cast<float>(1.0 / std::pow(a.theta, (2.0 * i) / a.headDim));
    freqs.axis[i] = static_cast<std::uint8_t>(i < s[0] ? 0 : (i < s[0] + s[1] ? 1 : 2));
  }
  std::int64_t const total = static_cast<std::int64_t>(a.rowEnd - a.rowBegin) * half;
  mropeKernel<<<detail::blocksFor(total), detail::kThreads, 0, stream>>>(a.t, a.h, a.w, a.rowBegin, a.rowEnd, a.headDim,
                                                                        freqs, a.table);
  detail::checkLaunch("mropeKernel");
}

}  // namespace tv::cuda
