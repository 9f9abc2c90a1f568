// CUDA error checking: every CUDA runtime call goes through TV_CUDA_CHECK, which turns a failure into a
// tv::Error naming the call and CUDA's own error text. Only compiled where the CUDA toolkit was found.
#pragma once

#include <cuda_runtime_api.h>

#include "core/error.h"

#define TV_CUDA_CHECK(expr)                                                                      \
  do {                                                                                           \
    cudaError_t const tvCudaStatus_ = (expr);                                                    \
    if (tvCudaStatus_ != cudaSuccess) {                                                          \
      TV_THROW(::tv::ErrorCode::kInternal, #expr, " failed: ", cudaGetErrorName(tvCudaStatus_), \
               " (", cudaGetErrorString(tvCudaStatus_), ")");                                  \
    }                                                                                            \
  } while (0)
