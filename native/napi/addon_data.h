// Per-environment state of the addon (one per Node.js environment / worker thread).
#pragma once

#include <napi.h>

namespace tv::napi {

struct AddonData {
  Napi::FunctionReference errorClass;        // lib/errors.ts TrtVlaError(code, message)
  Napi::FunctionReference frameConstructor;    // NativeFrame
  Napi::FunctionReference engineConstructor;   // EngineHandle (test addon)
  Napi::FunctionReference contextConstructor;  // ContextHandle (test addon)
  Napi::FunctionReference modelConstructor;    // ModelHandle
  Napi::FunctionReference sessionConstructor;  // SessionHandle
  bool externalBuffersAllowed = true;        // false under Electron's memory cage (or when simulated)
  bool logCleanupHooked = false;             // napi/log_wrap.cc registered its environment cleanup hook
};

// Each addon (production and test) keeps its own per-environment state.
inline AddonData* addonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace tv::napi
