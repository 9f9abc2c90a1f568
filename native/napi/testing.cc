#include "napi/testing.h"

#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "engine/cpu/kernels.h"
#include "napi/js_error.h"
#include "vla/image_resize.h"
#include "vla/preprocess.h"

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

// resizeBicubic(rgb: Uint8Array, width, height, newWidth, newHeight) -> Uint8Array (Pillow-compatible).
Napi::Value resizeBicubic(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array,
                 "resizeBicubic(rgb: Uint8Array, width, height, newWidth, newHeight)");
    Napi::Uint8Array rgb = info[0].As<Napi::Uint8Array>();
    vla::RgbImage in;
    in.width = info[1].As<Napi::Number>().Int32Value();
    in.height = info[2].As<Napi::Number>().Int32Value();
    TV_CHECK_ARG(in.width > 0 && in.height > 0 && rgb.ElementLength() == static_cast<std::size_t>(in.width) * in.height * 3,
                 "the RGB buffer must hold width * height * 3 bytes");
    in.pixels.assign(rgb.Data(), rgb.Data() + rgb.ElementLength());
    vla::RgbImage const out = vla::resizeBicubic(in, info[3].As<Napi::Number>().Int32Value(), info[4].As<Napi::Number>().Int32Value());
    Napi::Uint8Array result = Napi::Uint8Array::New(env, out.pixels.size());
    std::copy(out.pixels.begin(), out.pixels.end(), result.Data());
    return result;
  });
}

// smartResize(height, width, factor, minPixels, maxPixels) -> [height, width]
Napi::Value smartResize(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto const [h, w] = vla::smartResize(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
                                         info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value(),
                                         info[4].As<Napi::Number>().Int32Value());
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, h);
    out.Set(1u, w);
    return out;
  });
}

}  // namespace

Napi::Object makeTestingExports(Napi::Env env) {
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("simdLevels", Napi::Function::New(env, simdLevels, "simdLevels"));
  testing.Set("convert", Napi::Function::New(env, convert, "convert"));
  testing.Set("resizeBicubic", Napi::Function::New(env, resizeBicubic, "resizeBicubic"));
  testing.Set("smartResize", Napi::Function::New(env, smartResize, "smartResize"));
  addKernelTestHooks(env, testing);
  addBenchHooks(env, testing);
  return testing;
}

}  // namespace tv::napi
