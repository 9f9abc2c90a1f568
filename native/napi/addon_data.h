// Per-environment state of the addon (one per Node.js environment / worker thread).
#pragma once

#include <napi.h>

namespace tv::napi {

struct AddonData {
  Napi::FunctionReference errorClass;        // lib/errors.ts TrtVlaError(code, message)
  Napi::FunctionReference frameConstructor;    // NativeFrame
  Napi::FunctionReference engineConstructor;   // EngineHandle
  Napi::FunctionReference contextConstructor;  // ContextHandle
  Napi::FunctionReference modelConstructor;    // ModelHandle
  Napi::FunctionReference sessionConstructor;  // SessionHandle
  bool externalBuffersAllowed = true;        // false under Electron's memory cage (or when simulated)
  bool logCleanupHooked = false;             // napi/log_wrap.cc registered its environment cleanup hook
};

AddonData* addonData(Napi::Env env);

}  // namespace tv::napi
