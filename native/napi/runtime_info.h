// info(): what this binary contains (buildInfo, synchronous, no device access) and what this machine
// can run (runtimeInfo, asynchronous: the first CUDA query initialises the driver).
#pragma once

#include <napi.h>

namespace tv::napi {

Napi::Value buildInfo(Napi::CallbackInfo const& info);
Napi::Value runtimeInfo(Napi::CallbackInfo const& info);
Napi::Value memoryStats(Napi::CallbackInfo const& info);
Napi::Value cudaSelfTest(Napi::CallbackInfo const& info);

}  // namespace tv::napi
