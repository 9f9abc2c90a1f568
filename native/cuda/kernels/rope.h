// The M-RoPE cos/sin table on the GPU: the LLM engine's rope_rotary_cos_sin input
// (tensorrt-edge-llm.md §A.8), as vla::mropeCosSin computes it on the CPU. Row r holds, for the
// position triple (t[r], h[r], w[r]), headDim / 2 cosines then headDim / 2 sines of
// position(section(i)) * theta^(-2i / headDim), section(i) being t for the first mropeSection[0]
// frequencies, then h, then w.
//
// The inverse frequencies are computed on the host with the CPU path's expression (so they are the
// same floats) and the angle is the same single float product; only cosf / sinf differ: CUDA's are
// within 2 ulp of the true value and glibc's within 1, so entries may differ by a few ulp (about 1e-7
// absolute; the values lie in [-1, 1]).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>

namespace tv::cuda {

struct MropeTableArgs {
  std::int32_t const* t = nullptr;  // [device-readable, i32] [capacity] temporal positions
  std::int32_t const* h = nullptr;  // [device-readable, i32] [capacity] row positions
  std::int32_t const* w = nullptr;  // [device-readable, i32] [capacity] column positions
  int capacity = 0;                 // rows of the table (the KV capacity)
  int rowBegin = 0;                 // rows [rowBegin, rowEnd) are written; the others are left alone
  int rowEnd = 0;
  int headDim = 0;                  // rotary dimension R: even, at most kMaxRopeHeadDim
  std::array<int, 3> mropeSection{};  // sums to headDim / 2
  double theta = 10000.0;
  float* table = nullptr;           // [device, f32] [capacity, headDim]
};

inline constexpr int kMaxRopeHeadDim = 512;

void launchMropeCosSin(MropeTableArgs const& args, cudaStream_t stream);

}  // namespace tv::cuda
