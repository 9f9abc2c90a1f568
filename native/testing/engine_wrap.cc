#include "testing/engine_wrap.h"

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/json.h"
#include "engine/cpu/llm_engine.h"
#include "engine/cpu/vision_engine.h"
#include "engine/binding_check.h"
#include "engine/described_engine.h"
#include "vla/engine_check.h"
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
                         InstanceAccessor<&EngineHandle::lmHead>("lmHead"),
                         InstanceAccessor<&EngineHandle::threads>("threads"),
                         InstanceAccessor<&EngineHandle::profiles>("profiles"),
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

// The LM head's storage as loaded ("q8", "fp16", ...; see weightFormatName) for CPU LLM engines,
// undefined for other engines.
Napi::Value EngineHandle::lmHead(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto const* llm = dynamic_cast<engine::cpu::CpuLlmEngine const*>(&engine());
    if (llm == nullptr) return info.Env().Undefined();
    return Napi::String::New(info.Env(), engine::cpu::weightFormatName(llm->weights().lmHead));
  });
}

Napi::Value EngineHandle::threads(Napi::CallbackInfo const& info) {
  return Napi::Number::New(info.Env(), pool_ ? pool_->size() : 0);
}

Napi::Value EngineHandle::profiles(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), engine().optimizationProfiles()); });
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
                         InstanceMethod<&ContextHandle::setOutputRows>("setOutputRows"),
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

// setOutputRows(name, rows: Int32Array): ExecutionContext::setOutputRows (an empty list: every row again).
// Returns whether the engine computes selected rows.
Napi::Value ContextHandle::setOutputRows(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString() && info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array,
                 "setOutputRows(name, rows: Int32Array)");
    Napi::Int32Array rows = info[1].As<Napi::Int32Array>();
    bool const done = context_->setOutputRows(info[0].As<Napi::String>().Utf8Value(), rows.Data(), static_cast<int>(rows.ElementLength()));
    return Napi::Boolean::New(info.Env(), done);
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
    load.lmHead = engine::cpu::parseLmHeadPrecision(optionalString(spec, "lmHead", "auto"));
    Napi::Value vocabMap = spec.Get("vocabMap");
    if (!vocabMap.IsUndefined()) {
      JsonFields const fields(load.config, load.configName);
      std::vector<std::int32_t> ids;
      for (std::int64_t id : requireIntegerArray(vocabMap, "vocabMap")) ids.push_back(static_cast<std::int32_t>(id));
      load.vocabMap = std::make_shared<engine::VocabMap const>(
          engine::VocabMap::fromIds(std::move(ids), static_cast<int>(fields.integer("vocab_size"))));
    }
    Napi::Value limits = spec.Get("limits");
    if (limits.IsObject()) {
      Napi::Object l = limits.As<Napi::Object>();
      load.limits.maxBatch = static_cast<int>(optionalInteger(l, "maxBatch", 1, 1, 64));
      load.limits.maxInputLength = static_cast<int>(optionalInteger(l, "maxInputLength", 4096, 1, 1 << 20));
      load.limits.maxKvCapacity = static_cast<int>(optionalInteger(l, "maxKvCapacity", 4096, 1, 1 << 20));
      load.limits.maxVerifyTreeSize = static_cast<int>(optionalInteger(l, "maxVerifyTreeSize", 0, 0, 1 << 20));
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

namespace {

DType dtypeFromJs(std::string const& name) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kI8, DType::kU8}) {
    if (name == dtypeJsName(t)) return t;
  }
  TV_THROW(ErrorCode::kInvalidArgument, "unknown dtype '", name, "'");
}

// { profiles, tensors: [{ name, dtype, shape, mode, profiles?: [{ min, opt, max }] }] } -> DescribedEngine
std::unique_ptr<engine::DescribedEngine> describedEngineFromJs(Napi::Object d) {
  int const profileCount = static_cast<int>(optionalInteger(d, "profiles", 1, 0, 64));
  Napi::Value tensorsValue = d.Get("tensors");
  TV_CHECK_ARG(tensorsValue.IsArray(), "Expected tensors: an array");
  Napi::Array tensors = tensorsValue.As<Napi::Array>();
  std::vector<engine::TensorDesc> descs;
  std::map<std::string, std::vector<engine::ProfileShapes>> profiles;
  for (std::uint32_t i = 0; i < tensors.Length(); ++i) {
    Napi::Object t = requireObject(tensors.Get(i), "tensor");
    engine::TensorDesc desc;
    desc.name = requireString(t, "name");
    desc.dtype = dtypeFromJs(requireString(t, "dtype"));
    desc.shape = engine::Shape(requireIntegerArray(t.Get("shape"), "shape"));
    std::string const mode = requireString(t, "mode");
    TV_CHECK_ARG(mode == "input" || mode == "output", "mode must be 'input' or 'output'");
    desc.mode = mode == "input" ? engine::TensorIOMode::kInput : engine::TensorIOMode::kOutput;
    Napi::Value p = t.Get("profiles");
    if (p.IsArray()) {
      Napi::Array list = p.As<Napi::Array>();
      for (std::uint32_t k = 0; k < list.Length(); ++k) {
        Napi::Object shapes = requireObject(list.Get(k), "profile shapes");
        profiles[desc.name].push_back(engine::ProfileShapes{engine::Shape(requireIntegerArray(shapes.Get("min"), "min")),
                                                            engine::Shape(requireIntegerArray(shapes.Get("opt"), "opt")),
                                                            engine::Shape(requireIntegerArray(shapes.Get("max"), "max"))});
      }
    }
    descs.push_back(std::move(desc));
  }
  return std::make_unique<engine::DescribedEngine>(std::move(descs), profileCount, std::move(profiles));
}

int intField(Napi::Object const& o, char const* key) { return static_cast<int>(optionalInteger(o, key, 0, 0, 1 << 30)); }

}  // namespace

// checkEngine('llm' | 'visual', description, model) -> { problems: string[], limits }
// llm model: { hiddenSize, layers, kvHeads, headDim, vocabSize, logitsWidth? }; visual: { patchDim, rotaryAngles, outHidden }.
Napi::Value checkEngine(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString(), "checkEngine(kind, description, model)");
    std::string const kind = info[0].As<Napi::String>().Utf8Value();
    std::unique_ptr<engine::DescribedEngine> engine = describedEngineFromJs(requireObject(info[1], "description"));
    Napi::Object m = requireObject(info[2], "model");
    Napi::Object out = Napi::Object::New(env);
    Napi::Object limits = Napi::Object::New(env);
    std::vector<std::string> problems;
    if (kind == "llm") {
      vla::TextModelInfo text;
      text.hiddenSize = intField(m, "hiddenSize");
      text.layers = intField(m, "layers");
      text.kvHeads = intField(m, "kvHeads");
      text.headDim = intField(m, "headDim");
      text.vocabSize = intField(m, "vocabSize");
      int const width = static_cast<int>(optionalInteger(m, "logitsWidth", text.vocabSize, 1, 1 << 30));
      vla::LlmEngineLimits l;
      problems = vla::checkLlmEngine(*engine, text, width, l);
      limits.Set("maxBatch", l.maxBatch);
      limits.Set("maxInputLength", l.maxInputLength);
      limits.Set("kvCapacity", l.kvCapacity);
      limits.Set("vocabSize", l.vocabSize);
      limits.Set("maxVerifyTokens", l.maxVerifyTokens);
    } else {
      TV_CHECK_ARG(kind == "visual", "kind must be 'llm' or 'visual'");
      vla::VisualBuildFlags build;
      Napi::Value flags = m.Get("builderConfig");
      if (flags.IsObject()) {
        Napi::Object f = flags.As<Napi::Object>();
        build.present = true;
        build.minImageTokens = intField(f, "min_image_tokens");
        build.maxImageTokens = intField(f, "max_image_tokens");
        build.maxImageTokensPerImage = intField(f, "max_image_tokens_per_image");
      }
      vla::VisionEngineLimits l;
      problems = vla::checkVisionEngine(*engine, intField(m, "patchDim"), intField(m, "rotaryAngles"), intField(m, "outHidden"), build, l);
      limits.Set("minImageTokens", l.minImageTokens);
      limits.Set("maxImageTokens", l.maxImageTokens);
      limits.Set("maxImageTokensPerImage", l.maxImageTokensPerImage);
      limits.Set("maxImages", l.maxImages);
      limits.Set("maxWindows", l.maxWindows);
    }
    Napi::Array list = Napi::Array::New(env, problems.size());
    for (std::size_t i = 0; i < problems.size(); ++i) list.Set(static_cast<std::uint32_t>(i), problems[i]);
    out.Set("problems", list);
    out.Set("limits", limits);
    return out;
  });
}

Napi::Value checkBindings(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::unique_ptr<engine::DescribedEngine> engine = describedEngineFromJs(requireObject(info[0], "description"));
    Napi::Object b = requireObject(info[1], "bindings");
    int const profile = static_cast<int>(optionalInteger(b, "profile", 0, 0, 64));
    TV_CHECK_ARG(profile < engine->optimizationProfiles(), "no optimization profile ", profile);
    engine::BindingTable table;
    Napi::Object shapes = requireObject(b.Get("shapes"), "shapes");
    Napi::Array names = shapes.GetPropertyNames();
    for (std::uint32_t i = 0; i < names.Length(); ++i) {
      std::string const name = names.Get(i).As<Napi::String>().Utf8Value();
      engine::Shape const shape(requireIntegerArray(shapes.Get(name), "shape"));
      engine::TensorDesc const* desc = engine->findTensor(name);
      TV_CHECK_ARG(desc != nullptr && desc->mode == engine::TensorIOMode::kInput, "'", name, "' is not an input of this engine");
      // As setInputShape does on every backend.
      engine::checkInputShape(*desc, engine->profileShapes(name, profile), profile, shape);
      table.setShape(name, shape);
    }
    static char const kSomewhere = 0;  // any non-null address: only presence is checked
    for (std::string const& name : requireStringArray(b, "addresses")) table.setAddress(name, const_cast<char*>(&kSomewhere));
    table.requireRunnable(engine->ioTensors(), profile, [&](std::string const& name, int p) { return engine->profileShapes(name, p); });
    return env.Undefined();
  });
}

}  // namespace tv::napi
