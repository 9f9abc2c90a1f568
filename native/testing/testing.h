// Test hooks (exports.testing): direct access to native pieces that the public API only uses
// indirectly — kernels at a chosen SIMD level, so tests compare every variant with its reference.
// Not part of the public TypeScript API.
#pragma once

#include <napi.h>

#include "core/cpu_features.h"

namespace tv::napi {

Napi::Object makeTestingExports(Napi::Env env);

// Pieces shared by the hook files (testing.cc, testing_kernels.cc, testing_bench.cc).
// A SIMD level name: 'scalar' | 'avx2' | 'neon' | 'best' (also when the value is not a string).
SimdLevel parseLevel(Napi::Value value);
void addKernelTestHooks(Napi::Env env, Napi::Object testing);
void addBenchHooks(Napi::Env env, Napi::Object testing);
void addDrafterHooks(Napi::Env env, Napi::Object testing);  // testing_drafter.cc

}  // namespace tv::napi
