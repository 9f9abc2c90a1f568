// JS handles over the engine interface (engine/engine.h), 1:1: an engine (tensors, profiles) and its
// execution contexts (setOptimizationProfile / setInputShape / setTensorAddress / enqueue), with JS
// typed arrays as tensor memory. Used by the tests and the engine benchmark to drive the CPU engines
// exactly as the host pipeline does; the public Model API does not expose them.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "core/thread_pool.h"
#include "engine/engine.h"

namespace tv::napi {

class EngineHandle : public Napi::ObjectWrap<EngineHandle> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  explicit EngineHandle(Napi::CallbackInfo const& info);
  void adopt(std::unique_ptr<engine::Engine> engine, std::shared_ptr<ThreadPool> pool, double weightBytes);
  engine::Engine& engine() const;

 private:
  Napi::Value tensors(Napi::CallbackInfo const& info);
  Napi::Value profileShapes(Napi::CallbackInfo const& info);
  Napi::Value createContext(Napi::CallbackInfo const& info);
  Napi::Value weightBytes(Napi::CallbackInfo const& info);
  Napi::Value lmHead(Napi::CallbackInfo const& info);
  Napi::Value threads(Napi::CallbackInfo const& info);
  Napi::Value profiles(Napi::CallbackInfo const& info);
  Napi::Value dispose(Napi::CallbackInfo const& info);

  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<ThreadPool> pool_;
  double weightBytes_ = 0;
};

class ContextHandle : public Napi::ObjectWrap<ContextHandle> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  explicit ContextHandle(Napi::CallbackInfo const& info);
  void attach(Napi::Object engineObject, EngineHandle& engine);

 private:
  Napi::Value setOptimizationProfile(Napi::CallbackInfo const& info);
  Napi::Value setInputShape(Napi::CallbackInfo const& info);
  Napi::Value setTensorAddress(Napi::CallbackInfo const& info);
  Napi::Value tensorShape(Napi::CallbackInfo const& info);
  Napi::Value setOutputRows(Napi::CallbackInfo const& info);
  Napi::Value enqueue(Napi::CallbackInfo const& info);

  Napi::ObjectReference engineObject_;  // keeps the engine alive while contexts exist
  EngineHandle* engine_ = nullptr;
  std::unique_ptr<engine::ExecutionContext> context_;
  struct Binding {
    Napi::Reference<Napi::TypedArray> array;
  };
  std::unordered_map<std::string, Binding> bindings_;
};

// loadCpuLlmEngine(spec) / loadCpuVisionEngine(spec): Promise<EngineHandle>; spec = { config (JSON
// text), configName, weightFiles, embeddingFile?, limits?, threads? }.
Napi::Value loadCpuLlmEngine(Napi::CallbackInfo const& info);
Napi::Value loadCpuVisionEngine(Napi::CallbackInfo const& info);
// The engine compatibility checks (vla/engine_check.h) on an engine given by its interface only.
Napi::Value checkEngine(Napi::CallbackInfo const& info);
// checkBindings(description, { profile, shapes: { name: dims }, addresses: names[] }): the check every
// execution context runs before an enqueue (engine/binding_check.h, also before TensorRT's enqueueV3);
// throws its TrtVlaError, returns undefined when the bindings may run.
Napi::Value checkBindings(Napi::CallbackInfo const& info);

}  // namespace tv::napi
