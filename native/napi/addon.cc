// Module init of the production addon: the only place that lists what it exports. lib/native.ts declares
// the same surface in TypeScript. The test hooks live in a separate addon (native/testing/addon.cc).
#include <napi.h>

#include <cstdlib>
#include <cstring>

#include "napi/addon_data.h"
#include "napi/checkpoint_tools.h"
#include "napi/frame_wrap.h"
#include "napi/js_error.h"
#include "napi/log_wrap.h"
#include "napi/model_wrap.h"
#include "napi/runtime_info.h"

namespace tv::napi {

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  // TRT_VLA_NO_EXTERNAL_BUFFERS=1 behaves like Electron's memory cage (tests use it for the copy path).
  char const* noExternal = std::getenv("TRT_VLA_NO_EXTERNAL_BUFFERS");
  data->externalBuffersAllowed = !(noExternal != nullptr && std::strcmp(noExternal, "1") == 0);
  env.SetInstanceData<AddonData>(data);

  Napi::Function frame = NativeFrame::defineClass(env);
  data->frameConstructor = Napi::Persistent(frame);
  exports.Set("NativeFrame", frame);
  exports.Set("setErrorClass", Napi::Function::New(env, setErrorClass, "setErrorClass"));
  exports.Set("buildInfo", Napi::Function::New(env, buildInfo, "buildInfo"));
  exports.Set("runtimeInfo", Napi::Function::New(env, runtimeInfo, "runtimeInfo"));
  exports.Set("memoryStats", Napi::Function::New(env, memoryStats, "memoryStats"));
  exports.Set("cudaSelfTest", Napi::Function::New(env, cudaSelfTest, "cudaSelfTest"));
  Napi::Function modelClass = ModelHandle::defineClass(env);
  Napi::Function sessionClass = SessionHandle::defineClass(env);
  data->modelConstructor = Napi::Persistent(modelClass);
  data->sessionConstructor = Napi::Persistent(sessionClass);
  exports.Set("loadModel", Napi::Function::New(env, loadModel, "loadModel"));
  exports.Set("setLogLevel", Napi::Function::New(env, setLogLevel, "setLogLevel"));
  exports.Set("setLogHandler", Napi::Function::New(env, setLogHandler, "setLogHandler"));
  exports.Set("logMessage", Napi::Function::New(env, logMessage, "logMessage"));
  exports.Set("GrammarHandle", GrammarHandle::defineClass(env));
  exports.Set("writeRandomCheckpoint", Napi::Function::New(env, writeRandomCheckpoint, "writeRandomCheckpoint"));
  exports.Set("quantizeCheckpoint", Napi::Function::New(env, quantizeCheckpoint, "quantizeCheckpoint"));

  return exports;
}

}  // namespace
}  // namespace tv::napi

static Napi::Object initTrtVla(Napi::Env env, Napi::Object exports) { return tv::napi::init(env, exports); }
NODE_API_MODULE(trt_vla, initTrtVla)
