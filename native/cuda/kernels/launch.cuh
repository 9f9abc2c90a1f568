// Shared launch helpers for the kernels in this folder (CUDA sources only).
//
// Every elementwise kernel here walks its index space with a grid-stride loop over 64-bit indices, so a
// launch is correct for any element count: the grid is capped (kMaxBlocks) instead of growing with the
// input, which keeps it far inside the 2^31 - 1 block limit and avoids int overflow on large images.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace tv::cuda::detail {

inline constexpr int kThreads = 256;
// Enough blocks to fill a large GPU several times over; beyond that the grid-stride loop takes over.
inline constexpr std::int64_t kMaxBlocks = 4096;

inline unsigned blocksFor(std::int64_t elements, int threads = kThreads) {
  std::int64_t const blocks = (elements + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

// Sub-buffers of one workspace are placed at multiples of this (cudaMalloc's own alignment), so each
// is aligned for any element type and vector load.
inline constexpr std::size_t kWorkspaceAlignment = 256;

inline std::size_t alignUp(std::size_t bytes) { return (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment; }

inline bool aligned(void const* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

// Checks the launch itself (bad configuration, no device); failures inside the kernel surface at the
// next synchronising call on the stream.
inline void checkLaunch(char const* kernel) {
  cudaError_t const status = cudaGetLastError();
  if (status != cudaSuccess) {
    TV_THROW(::tv::ErrorCode::kInternal, "launching ", kernel, " failed: ", cudaGetErrorName(status), " (",
             cudaGetErrorString(status), ")");
  }
}

// Grid-stride loop bounds for the calling thread.
__device__ inline std::int64_t firstIndex() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t gridStride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

}  // namespace tv::cuda::detail
