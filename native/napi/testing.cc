#include "napi/testing.h"

#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "engine/cpu/kernels.h"
#include "napi/js_error.h"

namespace tv::napi {

SimdLevel parseLevel(Napi::Value value) {
  std::string const name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "best";
  if (name == "best") return simdLevel();
  if (name == "scalar") return SimdLevel::kScalar;
  if (name == "avx2") return SimdLevel::kAvx2;
  if (name == "neon") return SimdLevel::kNeon;
  TV_THROW(ErrorCode::kInvalidArgument, "unknown SIMD level '", name, "'");
}

namespace {

// simdLevels(): the kernel levels usable in this process, best last.
Napi::Value simdLevels(Napi::CallbackInfo const& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t n = 0;
  out.Set(n++, "scalar");
  CpuFeatures const& f = cpuFeatures();
  if (avx2KernelsCompiled() && f.avx2 && f.fma && f.f16c) out.Set(n++, "avx2");
  if (neonKernelsCompiled() && f.neon) out.Set(n++, "neon");
  return out;
}

// convert(kind, input, level): 'halfToFloat' | 'bf16ToFloat' (Uint16Array -> Float32Array),
// 'floatToHalf' (Float32Array -> Uint16Array).
Napi::Value convert(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info.Length() >= 2 && info[0].IsString() && info[1].IsTypedArray(), "convert(kind, typedArray, level?)");
    std::string const kind = info[0].As<Napi::String>().Utf8Value();
    cpu::KernelTable const& table = cpu::kernelsFor(parseLevel(info[2]));
    Napi::TypedArray input = info[1].As<Napi::TypedArray>();
    std::size_t const n = input.ElementLength();
    if (kind == "halfToFloat" || kind == "bf16ToFloat") {
      TV_CHECK_ARG(input.TypedArrayType() == napi_uint16_array, kind, " expects a Uint16Array");
      Napi::Float32Array out = Napi::Float32Array::New(env, n);
      auto const* src = input.As<Napi::Uint16Array>().Data();
      (kind == "halfToFloat" ? table.halfToFloat : table.bf16ToFloat)(src, out.Data(), n);
      return out;
    }
    TV_CHECK_ARG(kind == "floatToHalf", "unknown conversion '", kind, "'");
    TV_CHECK_ARG(input.TypedArrayType() == napi_float32_array, kind, " expects a Float32Array");
    Napi::Uint16Array out = Napi::Uint16Array::New(env, n);
    table.floatToHalf(input.As<Napi::Float32Array>().Data(), out.Data(), n);
    return out;
  });
}

}  // namespace

Napi::Object makeTestingExports(Napi::Env env) {
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("simdLevels", Napi::Function::New(env, simdLevels, "simdLevels"));
  testing.Set("convert", Napi::Function::New(env, convert, "convert"));
  addKernelTestHooks(env, testing);
  addBenchHooks(env, testing);
  return testing;
}

}  // namespace tv::napi
