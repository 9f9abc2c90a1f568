#include "testing/testing.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/library_file.h"
#include "engine/cpu/kernels.h"
#include "engine/graph_key.h"
#include "napi/js_error.h"
#include "napi/js_values.h"
#include "vla/image_resize.h"
#include "vla/preprocess.h"
#include "vla/sampler.h"

namespace tv::napi {

SimdLevel parseLevel(Napi::Value value) {
  std::string const name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "best";
  if (name == "best") return simdLevel();
  if (name == "scalar") return SimdLevel::kScalar;
  if (name == "avx2") return SimdLevel::kAvx2;
  if (name == "avx512") return SimdLevel::kAvx512;
  if (name == "neon") return SimdLevel::kNeon;
  if (name == "neon-dotprod") return SimdLevel::kNeonDot;
  if (name == "neon-i8mm") return SimdLevel::kNeonI8mm;
  TV_THROW(ErrorCode::kInvalidArgument, "unknown SIMD level '", name, "'");
}

namespace {

// simdLevels(): the kernel levels usable in this process, best last.
Napi::Value simdLevels(Napi::CallbackInfo const& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t n = 0;
  out.Set(n++, "scalar");
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kNeon, SimdLevel::kNeonDot, SimdLevel::kNeonI8mm}) {
    if (simdLevelUsable(level)) out.Set(n++, simdLevelName(level));
  }
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

// libraryFileProblem(path) -> '' when the file may be dlopen'ed, else why not.
Napi::Value libraryFileProblem(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString(), "libraryFileProblem(path)");
    return Napi::String::New(info.Env(), tv::libraryFileProblem(info[0].As<Napi::String>().Utf8Value()));
  });
}

// graphKeyHash({ profile, shapes: [[name, dims]], addresses: [[name, bigint]] }) -> hex string
Napi::Value graphKeyHash(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Object spec = requireObject(info[0], "graph key");
    engine::GraphKey key;
    key.profile = static_cast<int>(optionalInteger(spec, "profile", 0, 0, 64));
    auto pairs = [&](char const* field) {
      Napi::Value v = spec.Get(field);
      TV_CHECK_ARG(v.IsArray(), "Expected ", field, ": an array of [name, value] pairs");
      return v.As<Napi::Array>();
    };
    Napi::Array shapes = pairs("shapes");
    for (std::uint32_t i = 0; i < shapes.Length(); ++i) {
      TV_CHECK_ARG(shapes.Get(i).IsArray() && shapes.Get(i).As<Napi::Array>().Get(0u).IsString(), "Expected [name, dims] pairs");
      Napi::Array pair = shapes.Get(i).As<Napi::Array>();
      key.setShape(pair.Get(0u).As<Napi::String>().Utf8Value(), requireIntegerArray(pair.Get(1u), "dims"));
    }
    Napi::Array addresses = pairs("addresses");
    for (std::uint32_t i = 0; i < addresses.Length(); ++i) {
      TV_CHECK_ARG(addresses.Get(i).IsArray() && addresses.Get(i).As<Napi::Array>().Get(0u).IsString(), "Expected [name, address] pairs");
      Napi::Array pair = addresses.Get(i).As<Napi::Array>();
      TV_CHECK_ARG(pair.Get(1u).IsBigInt(), "addresses are bigints");
      bool lossless = true;
      std::uint64_t const address = pair.Get(1u).As<Napi::BigInt>().Uint64Value(&lossless);
      TV_CHECK_ARG(lossless, "an address must fit in 64 bits");
      key.setAddress(pair.Get(0u).As<Napi::String>().Utf8Value(), reinterpret_cast<void const*>(static_cast<std::uintptr_t>(address)));
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key.hash()));
    return Napi::String::New(info.Env(), hex);
  });
}

// sampleCounts({ logits: Float32Array, allowed?: Int32Array, penalized?: Int32Array, temperature, topK, topP,
// repetitionPenalty, seed, draft, draws }) -> Float64Array: how often each id was picked in `draws` steps of
// one Sampler (draft >= 0: each step verifies that draft, Sampler::sample's speculative rule).
Napi::Value sampleCounts(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Object spec = requireObject(info[0], "sampleCounts spec");
    TV_CHECK_ARG(spec.Get("logits").IsTypedArray(), "logits: a Float32Array");
    Napi::Float32Array logits = spec.Get("logits").As<Napi::Float32Array>();
    int const vocab = static_cast<int>(logits.ElementLength());
    std::vector<std::int32_t> allowed, penalized;
    if (!spec.Get("allowed").IsUndefined()) {
      for (std::int64_t id : requireIntegerArray(spec.Get("allowed"), "allowed")) allowed.push_back(static_cast<std::int32_t>(id));
    }
    if (!spec.Get("penalized").IsUndefined()) {
      for (std::int64_t id : requireIntegerArray(spec.Get("penalized"), "penalized")) penalized.push_back(static_cast<std::int32_t>(id));
    }
    vla::SamplingConfig config;
    config.temperature = optionalNumber(spec, "temperature", 1.0);
    config.topK = static_cast<int>(optionalInteger(spec, "topK", 0, 0, 1 << 24));
    config.topP = optionalNumber(spec, "topP", 1.0);
    config.repetitionPenalty = optionalNumber(spec, "repetitionPenalty", 1.0);
    config.seed = static_cast<std::uint64_t>(optionalInteger(spec, "seed", 0, 0, 9007199254740991LL));
    std::int32_t const draft = static_cast<std::int32_t>(optionalInteger(spec, "draft", -1, -1, vocab - 1));
    std::int64_t const draws = optionalInteger(spec, "draws", 1, 1, 100000000);
    vla::Sampler sampler(config);
    sampler.resetHistory(penalized.data(), static_cast<int>(penalized.size()), vocab);
    std::vector<float> scratch(static_cast<std::size_t>(vocab));
    Napi::Float64Array counts = Napi::Float64Array::New(info.Env(), static_cast<std::size_t>(vocab));
    for (std::int64_t i = 0; i < draws; ++i) {
      std::copy(logits.Data(), logits.Data() + vocab, scratch.begin());
      std::int32_t const id = sampler.sample(scratch.data(), vocab, allowed.empty() ? nullptr : allowed.data(),
                                             static_cast<int>(allowed.size()), draft);
      counts[static_cast<std::size_t>(id)] += 1;
    }
    return counts;
  });
}

}  // namespace

Napi::Object makeTestingExports(Napi::Env env) {
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("simdLevels", Napi::Function::New(env, simdLevels, "simdLevels"));
  testing.Set("convert", Napi::Function::New(env, convert, "convert"));
  testing.Set("resizeBicubic", Napi::Function::New(env, resizeBicubic, "resizeBicubic"));
  testing.Set("smartResize", Napi::Function::New(env, smartResize, "smartResize"));
  testing.Set("libraryFileProblem", Napi::Function::New(env, libraryFileProblem, "libraryFileProblem"));
  testing.Set("graphKeyHash", Napi::Function::New(env, graphKeyHash, "graphKeyHash"));
  testing.Set("sampleCounts", Napi::Function::New(env, sampleCounts, "sampleCounts"));
  addKernelTestHooks(env, testing);
  addBenchHooks(env, testing);
  addDrafterHooks(env, testing);
  return testing;
}

}  // namespace tv::napi
