#include "napi/engine_wrap.h"

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/json.h"
#include "engine/cpu/llm_engine.h"
#include "engine/cpu/vision_engine.h"
#include "napi/addon_data.h"
#include "napi/js_error.h"
#include "napi/js_values.h"

namespace tv::napi {

namespace {

char const* dtypeJsName(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    default: return dtypeName(t);
  }
}

Napi::Array shapeToJs(Napi::Env env, engine::Shape const& shape) {
  Napi::Array a = Napi::Array::New(env, shape.dims.size());
  for (std::size_t i = 0; i < shape.dims.size(); ++i) a.Set(static_cast<std::uint32_t>(i), static_cast<double>(shape.dims[i]));
  return a;
}

// The typed array kind that holds a dtype.
bool typedArrayFits(napi_typedarray_type type, DType dtype) {
  switch (dtype) {
    case DType::kF32: return type == napi_float32_array;
    case DType::kF16:
    case DType::kBF16: return type == napi_uint16_array;
    case DType::kI32: return type == napi_int32_array;
    case DType::kI64: return type == napi_bigint64_array;
    case DType::kI8: return type == napi_int8_array;
    case DType::kU8: return type == napi_uint8_array;
    default: return false;
  }
}

std::shared_ptr<ThreadPool> makePool(Napi::Object const& spec) {
  int const threads = static_cast<int>(optionalInteger(spec, "threads", availableCpuCount(), 1, 256));
  return std::make_shared<ThreadPool>(threads);
}

template <typename Load>
class EngineLoadWorker : public PromiseWorker {
 public:
  EngineLoadWorker(Napi::Env env, Load load) : PromiseWorker(env), load_(std::move(load)) {}

 protected:
  void run() override { load_(engine_, pool_, weightBytes_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object handle = addonData(env)->engineConstructor.New({});
    EngineHandle::Unwrap(handle)->adopt(std::move(engine_), std::move(pool_), weightBytes_);
    return handle;
  }

 private:
  Load load_;
  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<ThreadPool> pool_;
  double weightBytes_ = 0;
};

template <typename Load>
Napi::Value queueLoad(Napi::Env env, Load load) {
  auto* worker = new EngineLoadWorker<Load>(env, std::move(load));
  worker->Queue();
  return worker->promise();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
Napi::Function EngineHandle::defineClass(Napi::Env env) {
  return DefineClass(env, "EngineHandle",
                     {
                         InstanceMethod<&EngineHandle::tensors>("tensors"),
                         InstanceMethod<&EngineHandle::profileShapes>("profileShapes"),
                         InstanceMethod<&EngineHandle::createContext>("createContext"),
                         InstanceMethod<&EngineHandle::dispose>("dispose"),
                         InstanceAccessor<&EngineHandle::weightBytes>("weightBytes"),
                         InstanceAccessor<&EngineHandle::threads>("threads"),
                     });
}

EngineHandle::EngineHandle(Napi::CallbackInfo const& info) : Napi::ObjectWrap<EngineHandle>(info) {}

void EngineHandle::adopt(std::unique_ptr<engine::Engine> engine, std::shared_ptr<ThreadPool> pool, double weightBytes) {
  engine_ = std::move(engine);
  pool_ = std::move(pool);
  weightBytes_ = weightBytes;
}

engine::Engine& EngineHandle::engine() const {
  TV_CHECK(engine_ != nullptr, ErrorCode::kDisposed, "this engine was disposed");
  return *engine_;
}

Napi::Value EngineHandle::tensors(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto const& descs = engine().ioTensors();
    Napi::Array out = Napi::Array::New(env, descs.size());
    for (std::size_t i = 0; i < descs.size(); ++i) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", descs[i].name);
      t.Set("dtype", dtypeJsName(descs[i].dtype));
      t.Set("shape", shapeToJs(env, descs[i].shape));
      t.Set("mode", descs[i].mode == engine::TensorIOMode::kInput ? "input" : "output");
      out.Set(static_cast<std::uint32_t>(i), t);
    }
    return out;
  });
}

// profileShapes(name, profile) -> { min, opt, max }
Napi::Value EngineHandle::profileShapes(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    TV_CHECK_ARG(info[0].IsString() && info[1].IsNumber(), "profileShapes(name, profile)");
    engine::ProfileShapes const p =
        engine().profileShapes(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value());
    Napi::Object out = Napi::Object::New(env);
    out.Set("min", shapeToJs(env, p.min));
    out.Set("opt", shapeToJs(env, p.opt));
    out.Set("max", shapeToJs(env, p.max));
    return out;
  });
}

Napi::Value EngineHandle::createContext(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    engine();  // throws when disposed
    Napi::Object context = addonData(info.Env())->contextConstructor.New({});
    ContextHandle::Unwrap(context)->attach(Value(), *this);
    return context;
  });
}

Napi::Value EngineHandle::weightBytes(Napi::CallbackInfo const& info) { return Napi::Number::New(info.Env(), weightBytes_); }

Napi::Value EngineHandle::threads(Napi::CallbackInfo const& info) {
  return Napi::Number::New(info.Env(), pool_ ? pool_->size() : 0);
}

Napi::Value EngineHandle::dispose(Napi::CallbackInfo const& info) {
  engine_.reset();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------------
Napi::Function ContextHandle::defineClass(Napi::Env env) {
  return DefineClass(env, "ContextHandle",
                     {
                         InstanceMethod<&ContextHandle::setOptimizationProfile>("setOptimizationProfile"),
                         InstanceMethod<&ContextHandle::setInputShape>("setInputShape"),
                         InstanceMethod<&ContextHandle::setTensorAddress>("setTensorAddress"),
                         InstanceMethod<&ContextHandle::tensorShape>("tensorShape"),
                         InstanceMethod<&ContextHandle::enqueue>("enqueue"),
                     });
}

ContextHandle::ContextHandle(Napi::CallbackInfo const& info) : Napi::ObjectWrap<ContextHandle>(info) {}

void ContextHandle::attach(Napi::Object engineObject, EngineHandle& engine) {
  engineObject_ = Napi::Persistent(engineObject);
  engine_ = &engine;
  context_ = engine.engine().createExecutionContext();
}

Napi::Value ContextHandle::setOptimizationProfile(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsNumber(), "setOptimizationProfile(profile)");
    engine::HostStream stream;
    context_->setOptimizationProfile(info[0].As<Napi::Number>().Int32Value(), stream);
    return info.Env().Undefined();
  });
}

Napi::Value ContextHandle::setInputShape(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString(), "setInputShape(name, dims)");
    context_->setInputShape(info[0].As<Napi::String>().Utf8Value(), engine::Shape(requireIntegerArray(info[1], "dims")));
    return info.Env().Undefined();
  });
}

// setTensorAddress(name, typedArray): the array's memory is the tensor (held until rebound).
Napi::Value ContextHandle::setTensorAddress(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString() && info[1].IsTypedArray(), "setTensorAddress(name, typedArray)");
    std::string const name = info[0].As<Napi::String>().Utf8Value();
    engine::TensorDesc const* desc = engine_->engine().findTensor(name);
    TV_CHECK_ARG(desc != nullptr, "the engine has no tensor '", name, "'");
    Napi::TypedArray array = info[1].As<Napi::TypedArray>();
    TV_CHECK_ARG(typedArrayFits(array.TypedArrayType(), desc->dtype), "tensor '", name, "' is ", dtypeJsName(desc->dtype),
                 " and needs the matching typed array");
    auto* data = static_cast<std::uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    context_->setTensorAddress(name, data);
    bindings_[name] = Binding{Napi::Persistent(array)};
    return info.Env().Undefined();
  });
}

Napi::Value ContextHandle::tensorShape(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString(), "tensorShape(name)");
    return shapeToJs(info.Env(), context_->tensorShape(info[0].As<Napi::String>().Utf8Value()));
  });
}

// enqueue(): runs synchronously on the calling thread (and the engine's thread pool).
Napi::Value ContextHandle::enqueue(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    engine::Engine const& engine = engine_->engine();
    // Every bound array must hold its tensor: this check is what keeps JS memory safe. Addresses and
    // lengths are re-read now, since a buffer may have been detached or resized since binding.
    for (engine::TensorDesc const& desc : engine.ioTensors()) {
      auto it = bindings_.find(desc.name);
      TV_CHECK_ARG(it != bindings_.end(), "tensor '", desc.name, "' has no memory: call setTensorAddress first");
      Napi::TypedArray array = it->second.array.Value();
      std::size_t const available = array.ByteLength();
      engine::Shape const shape = context_->tensorShape(desc.name);
      std::int64_t const elements = shape.elements();
      TV_CHECK_ARG(elements >= 0, "tensor '", desc.name, "' has no shape yet");
      std::size_t const needed = static_cast<std::size_t>(elements) * dtypeSize(desc.dtype);
      TV_CHECK_ARG(available >= needed && available > 0, "tensor '", desc.name, "' ", shape.str(), " needs ", needed,
                   " bytes but the bound array has ", available);
      context_->setTensorAddress(desc.name, static_cast<std::uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
    }
    engine::HostStream stream;
    context_->enqueue(stream);
    return info.Env().Undefined();
  });
}

// ---------------------------------------------------------------------------------------------------
Napi::Value loadCpuLlmEngine(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Object spec = requireObject(info[0], "engine spec");
    engine::cpu::LlmLoadSpec load;
    load.configName = optionalString(spec, "configName", "config.json");
    load.config = parseJson(requireString(spec, "config"), load.configName);
    load.weightFiles = requireStringArray(spec, "weightFiles");
    load.embeddingFile = optionalString(spec, "embeddingFile", "");
    Napi::Value limits = spec.Get("limits");
    if (limits.IsObject()) {
      Napi::Object l = limits.As<Napi::Object>();
      load.limits.maxBatch = static_cast<int>(optionalInteger(l, "maxBatch", 1, 1, 64));
      load.limits.maxInputLength = static_cast<int>(optionalInteger(l, "maxInputLength", 4096, 1, 1 << 20));
      load.limits.maxKvCapacity = static_cast<int>(optionalInteger(l, "maxKvCapacity", 4096, 1, 1 << 20));
    }
    load.pool = makePool(spec);
    return queueLoad(env, [load = std::move(load)](std::unique_ptr<engine::Engine>& engine, std::shared_ptr<ThreadPool>& pool,
                                                   double& weightBytes) mutable {
      pool = load.pool;
      auto llm = engine::cpu::CpuLlmEngine::load(std::move(load));
      weightBytes = static_cast<double>(llm->weights().weightBytes);
      engine = std::move(llm);
    });
  });
}

Napi::Value loadCpuVisionEngine(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Object spec = requireObject(info[0], "engine spec");
    engine::cpu::VisionLoadSpec load;
    load.configName = optionalString(spec, "configName", "config.json");
    load.config = parseJson(requireString(spec, "config"), load.configName);
    load.weightFiles = requireStringArray(spec, "weightFiles");
    Napi::Value limits = spec.Get("limits");
    if (limits.IsObject()) {
      Napi::Object l = limits.As<Napi::Object>();
      load.limits.minImageTokens = static_cast<int>(optionalInteger(l, "minImageTokens", 1, 1, 1 << 20));
      load.limits.maxImageTokens = static_cast<int>(optionalInteger(l, "maxImageTokens", 4096, 1, 1 << 20));
      load.limits.maxImageTokensPerImage = static_cast<int>(optionalInteger(l, "maxImageTokensPerImage", 2048, 1, 1 << 20));
    }
    load.pool = makePool(spec);
    return queueLoad(env, [load = std::move(load)](std::unique_ptr<engine::Engine>& engine, std::shared_ptr<ThreadPool>& pool,
                                                   double&) mutable {
      pool = load.pool;
      engine = engine::cpu::CpuVisionEngine::load(std::move(load));
    });
  });
}

}  // namespace tv::napi
