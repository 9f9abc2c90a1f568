#include "napi/checkpoint_tools.h"

#include "core/cpu_features.h"
#include "core/error.h"
#include "engine/cpu/checkpoint_tools.h"
#include "napi/js_error.h"
#include "napi/js_values.h"

namespace tv::napi {

namespace {

class WriteRandomWorker : public PromiseWorker {
 public:
  WriteRandomWorker(Napi::Env env, std::string path, std::vector<engine::cpu::TensorPlan> plan, std::uint64_t seed, int threads,
                    std::vector<std::pair<std::string, std::string>> metadata)
      : PromiseWorker(env), path_(std::move(path)), plan_(std::move(plan)), seed_(seed), threads_(threads), metadata_(std::move(metadata)) {}

 protected:
  void run() override {
    ThreadPool pool(threads_);
    engine::cpu::writeRandomCheckpoint(path_, plan_, seed_, pool, metadata_);
  }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_;
  std::vector<engine::cpu::TensorPlan> plan_;
  std::uint64_t seed_;
  int threads_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

class QuantizeWorker : public PromiseWorker {
 public:
  QuantizeWorker(Napi::Env env, std::vector<std::string> inputs, std::string output)
      : PromiseWorker(env), inputs_(std::move(inputs)), output_(std::move(output)) {}

 protected:
  void run() override { report_ = engine::cpu::quantizeCheckpointRtn(inputs_, output_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("quantizedLayers", report_.quantizedLayers);
    out.Set("copiedTensors", report_.copiedTensors);
    out.Set("bytesIn", static_cast<double>(report_.bytesIn));
    out.Set("bytesOut", static_cast<double>(report_.bytesOut));
    return out;
  }

 private:
  std::vector<std::string> inputs_;
  std::string output_;
  engine::cpu::QuantizeReport report_;
};

engine::cpu::TensorPlan parsePlanEntry(Napi::Value value) {
  Napi::Object o = requireObject(value, "plan entry");
  engine::cpu::TensorPlan p;
  p.name = requireString(o, "name");
  p.awq = o.Get("awq").ToBoolean().Value();
  std::string const dtype = optionalString(o, "dtype", "F16");
  TV_CHECK_ARG(parseDType(dtype, &p.dtype), "unknown dtype '", dtype, "' for ", p.name);
  p.shape = requireIntegerArray(o.Get("shape"), "shape");
  std::string const init = optionalString(o, "init", "normal");
  TV_CHECK_ARG(init == "normal" || init == "constant", "init must be 'normal' or 'constant' for ", p.name);
  p.init = init == "normal" ? engine::cpu::InitKind::kNormal : engine::cpu::InitKind::kConstant;
  p.stddev = optionalNumber(o, "std", 0.02);
  p.mean = optionalNumber(o, "mean", 0.0);
  p.seedName = optionalString(o, "seedName", "");
  return p;
}

}  // namespace

Napi::Value writeRandomCheckpoint(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString() && info[1].IsArray() && info[2].IsNumber(), "writeRandomCheckpoint(path, plan, seed, options?)");
    Napi::Array planArray = info[1].As<Napi::Array>();
    std::vector<engine::cpu::TensorPlan> plan;
    for (std::uint32_t i = 0; i < planArray.Length(); ++i) plan.push_back(parsePlanEntry(planArray.Get(i)));
    double const seed = info[2].As<Napi::Number>().DoubleValue();
    TV_CHECK_ARG(seed >= 0 && seed <= 9007199254740991.0 && seed == static_cast<double>(static_cast<std::uint64_t>(seed)),
                 "seed must be a non-negative integer");
    int threads = availableCpuCount();
    std::vector<std::pair<std::string, std::string>> metadata;
    if (info.Length() > 3 && info[3].IsObject()) {
      Napi::Object options = info[3].As<Napi::Object>();
      threads = static_cast<int>(optionalInteger(options, "threads", threads, 1, 256));
      Napi::Value meta = options.Get("metadata");
      if (meta.IsObject()) {
        Napi::Object m = meta.As<Napi::Object>();
        Napi::Array keys = m.GetPropertyNames();
        for (std::uint32_t i = 0; i < keys.Length(); ++i) {
          std::string const key = keys.Get(i).As<Napi::String>().Utf8Value();
          metadata.emplace_back(key, requireString(m, key.c_str()));
        }
      }
    }
    auto* worker = new WriteRandomWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(plan),
                                         static_cast<std::uint64_t>(seed), threads, std::move(metadata));
    worker->Queue();
    return worker->promise();
  });
}

Napi::Value quantizeCheckpoint(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsArray() && info[1].IsString(), "quantizeCheckpoint(inputs, output)");
    std::vector<std::string> inputs;
    Napi::Array a = info[0].As<Napi::Array>();
    for (std::uint32_t i = 0; i < a.Length(); ++i) {
      TV_CHECK_ARG(a.Get(i).IsString(), "inputs must be paths");
      inputs.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
    auto* worker = new QuantizeWorker(env, std::move(inputs), info[1].As<Napi::String>().Utf8Value());
    worker->Queue();
    return worker->promise();
  });
}

}  // namespace tv::napi
