// Module init of the test addon (trt_vla_testing.node): direct access to native pieces that the public
// API only uses indirectly, for the tests and the benchmark scripts. Built beside the production addon
// by `npm test`'s setup, the sanitizer and the emulated-CUDA builds; never installed for users, and the
// production addon exports none of it. test/helpers/native.ts loads it (lib/native.ts testingAddon()).
#include <napi.h>

#include "napi/addon_data.h"
#include "napi/js_error.h"
#include "testing/cuda_testing.h"
#include "testing/engine_wrap.h"
#include "testing/testing.h"

namespace tv::napi {
namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Object testing = makeTestingExports(env);
  testing.Set("setErrorClass", Napi::Function::New(env, setErrorClass, "setErrorClass"));
  data->engineConstructor = Napi::Persistent(EngineHandle::defineClass(env));
  data->contextConstructor = Napi::Persistent(ContextHandle::defineClass(env));
  testing.Set("loadCpuLlmEngine", Napi::Function::New(env, loadCpuLlmEngine, "loadCpuLlmEngine"));
  testing.Set("loadCpuVisionEngine", Napi::Function::New(env, loadCpuVisionEngine, "loadCpuVisionEngine"));
  testing.Set("checkEngine", Napi::Function::New(env, checkEngine, "checkEngine"));
  testing.Set("checkBindings", Napi::Function::New(env, checkBindings, "checkBindings"));
  testing.Set("cuda", makeCudaTestingExports(env));
  return testing;
}

}  // namespace
}  // namespace tv::napi

static Napi::Object initTrtVlaTesting(Napi::Env env, Napi::Object exports) { return tv::napi::init(env, exports); }
NODE_API_MODULE(trt_vla_testing, initTrtVlaTesting)
