// Test hooks for the CUDA kernels (exports.testing.cuda): each runs a kernel and the CPU path it
// reproduces on the same inputs and returns both, so tests compare them. The runs themselves are
// native/checks/kernel_checks.h, which trt-vla-gpu-check shares. Without CUDA in the build, or
// without a usable device, every hook throws ERR_BACKEND_UNAVAILABLE ("no CUDA device: ...").
// Not part of the public TypeScript API.
#pragma once

#include <napi.h>

namespace tv::napi {

Napi::Object makeCudaTestingExports(Napi::Env env);

}  // namespace tv::napi
