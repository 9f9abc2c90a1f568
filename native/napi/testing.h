// Test hooks (exports.testing): direct access to native pieces that the public API only uses
// indirectly — kernels at a chosen SIMD level, so tests compare every variant with its reference.
// Not part of the public TypeScript API.
#pragma once

#include <napi.h>

namespace tv::napi {

Napi::Object makeTestingExports(Napi::Env env);

}  // namespace tv::napi
