#include "testing/cuda_testing.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "napi/js_error.h"
#include "napi/js_values.h"

#if defined(TRT_VLA_WITH_CUDA)
#include "checks/kernel_checks.h"
#include "cuda/device.h"
#include "cuda/kernels/rope.h"
#include "engine/vocab_map.h"
#include "vla/frame.h"
#endif

namespace tv::napi {

namespace {

void requireDevice() {
#if defined(TRT_VLA_WITH_CUDA)
  // runtimeStatus().reason starts with "no CUDA device: ".
  TV_CHECK(cuda::deviceAvailable(), ErrorCode::kBackendUnavailable, cuda::runtimeStatus().reason);
#else
  TV_THROW(ErrorCode::kBackendUnavailable, "no CUDA device: CUDA is not compiled into this binary (", TRT_VLA_CUDA_REASON, ")");
#endif
}

template <Napi::Value (*Run)(Napi::CallbackInfo const&)>
Napi::Value hook(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    requireDevice();
    return Run(info);
  });
}

#if defined(TRT_VLA_WITH_CUDA)

// Runs one side of a comparison; a failure becomes the returned value (a TrtVlaError object), so a
// test sees both sides even when one throws, and can compare their errors.
template <typename Fn>
Napi::Value settle(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (Napi::Error const& e) {
    return e.Value();
  } catch (...) {
    return makeJsError(env, captureCurrentException()).Value();
  }
}

template <typename T, typename Array>
std::vector<T> typedVector(Napi::Value value, napi_typedarray_type type, char const* what) {
  TV_CHECK_ARG(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == type, "Expected a typed array of the right type for ",
               what);
  Array a = value.As<Array>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

template <typename T, typename Array>
std::vector<T> optionalTypedVector(Napi::Object const& o, char const* key, napi_typedarray_type type) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return {};
  return typedVector<T, Array>(v, type, key);
}

int requiredInt(Napi::Object const& o, char const* key, int min, int max) {
  TV_CHECK_ARG(!o.Get(key).IsUndefined(), "Expected an integer for ", key);
  return static_cast<int>(optionalInteger(o, key, 0, min, max));
}

template <typename Array, typename T>
Array toTypedArray(Napi::Env env, T const* data, std::size_t count) {
  Array out = Array::New(env, count);
  if (count > 0) std::memcpy(out.Data(), data, count * sizeof(T));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// preprocess(data: Uint8Array, frame: { width, height, format, stride? },
//            options?: { minPixels, maxPixels, preResizeMaxPixels, preResizeMinPixels, mapped })
//   -> { gpu: Uint16Array | Error, cpu: Uint16Array | Error | null, grid: [1, h, w], resizes: [w, h][] }
// cpu is null for bgra8, which the CPU path does not read (tests compare with the rgba8 equivalent).
// mapped (default true): the kernel reads the frame in place from mapped pinned memory; false: from a
// device copy.

Napi::Value runPreprocess(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  checks::FrameInput frame;
  frame.data = typedVector<std::uint8_t, Napi::Uint8Array>(info[0], napi_uint8_array, "data");
  Napi::Object layout = requireObject(info[1], "frame");
  Napi::Object options = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  frame.format = requireString(layout, "format");
  frame.width = requiredInt(layout, "width", 1, kMaxFrameDimension);
  frame.height = requiredInt(layout, "height", 1, kMaxFrameDimension);
  frame.stride = static_cast<int>(optionalInteger(layout, "stride", 0, 0, 4LL * kMaxFrameDimension));

  vla::PreprocessConfig config;
  config.minPixels = static_cast<int>(optionalInteger(options, "minPixels", config.minPixels, 1, INT32_MAX));
  config.maxPixels = static_cast<int>(optionalInteger(options, "maxPixels", config.maxPixels, 1, INT32_MAX));
  config.preResizeMaxPixels = static_cast<int>(optionalInteger(options, "preResizeMaxPixels", 0, 0, INT32_MAX));
  config.preResizeMinPixels = static_cast<int>(optionalInteger(options, "preResizeMinPixels", 0, 0, INT32_MAX));
  Napi::Value mappedValue = options.Get("mapped");
  bool const mapped = !mappedValue.IsBoolean() || mappedValue.As<Napi::Boolean>().Value();
  cuda::PreprocessPlan const plan = checks::preprocessPlan(frame, config);

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               std::vector<std::uint16_t> const patches = checks::preprocessOnGpu(plan, frame.data, mapped);
               return toTypedArray<Napi::Uint16Array>(env, patches.data(), patches.size());
             }));
  if (frame.format == "bgra8") {
    result.Set("cpu", env.Null());
  } else {
    result.Set("cpu", settle(env, [&]() -> Napi::Value {
                 std::vector<std::uint16_t> const patches = checks::preprocessOnCpu(frame, config);
                 return toTypedArray<Napi::Uint16Array>(env, patches.data(), patches.size());
               }));
  }
  auto const [modelWidth, modelHeight] = plan.resizes.back();
  Napi::Array grid = Napi::Array::New(env, 3);
  grid.Set(0u, 1);
  grid.Set(1u, modelHeight / config.patchSize);
  grid.Set(2u, modelWidth / config.patchSize);
  result.Set("grid", grid);
  Napi::Array resizes = Napi::Array::New(env, plan.resizes.size());
  for (std::size_t i = 0; i < plan.resizes.size(); ++i) {
    Napi::Array size = Napi::Array::New(env, 2);
    size.Set(0u, plan.resizes[i][0]);
    size.Set(1u, plan.resizes[i][1]);
    resizes.Set(static_cast<std::uint32_t>(i), size);
  }
  result.Set("resizes", resizes);
  return result;
}

// ---------------------------------------------------------------------------------------------------
// embed({ file, name, vocab, hidden, ids: Int32Array, imageTokenId, image?: Uint16Array, imageRows?,
//         misalign? }) -> { gpu: Uint16Array | Error, cpu: Uint16Array | Error }
// The table is tensor `name` (F16 [vocab, hidden]) of the safetensors file. misalign: place the table,
// the image rows and the output 2 bytes past an aligned address (the kernel's 2-byte path).

Napi::Value runEmbed(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "embed options");
  checks::EmbedInput in;
  in.file = requireString(o, "file");
  in.name = requireString(o, "name");
  in.vocab = requiredInt(o, "vocab", 1, INT32_MAX);
  in.hidden = requiredInt(o, "hidden", 1, 1 << 16);
  in.ids = typedVector<std::int32_t, Napi::Int32Array>(o.Get("ids"), napi_int32_array, "ids");
  in.imageTokenId = static_cast<std::int32_t>(optionalInteger(o, "imageTokenId", -1, INT32_MIN, INT32_MAX));
  in.image = optionalTypedVector<std::uint16_t, Napi::Uint16Array>(o, "image", napi_uint16_array);
  in.imageRows = static_cast<int>(optionalInteger(o, "imageRows", 0, 0, INT32_MAX));
  TV_CHECK_ARG(in.image.size() == static_cast<std::size_t>(in.imageRows) * static_cast<std::size_t>(in.hidden),
               "image must hold imageRows * hidden values");
  Napi::Value misalignValue = o.Get("misalign");
  in.misalign = misalignValue.IsBoolean() && misalignValue.As<Napi::Boolean>().Value();

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               std::vector<std::uint16_t> const out = checks::embedOnGpu(in);
               return toTypedArray<Napi::Uint16Array>(env, out.data(), out.size());
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               std::vector<std::uint16_t> const out = checks::embedOnCpu(in);
               return toTypedArray<Napi::Uint16Array>(env, out.data(), out.size());
             }));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// ropeTable({ ids: Int32Array, capacity, imageTokenId, grids: [t, h, w][], mergeSize, headDim,
//             mropeSection: [a, b, c], theta, rowBegin?, rowEnd? }) -> { gpu: Float32Array | Error,
//             cpu: Float32Array | Error }
// Positions come from vla::mropePositions; rows outside [rowBegin, rowEnd) keep the fill value -7.

Napi::Value runRopeTable(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "ropeTable options");
  checks::RopeInput in;
  in.ids = typedVector<std::int32_t, Napi::Int32Array>(o.Get("ids"), napi_int32_array, "ids");
  in.capacity = requiredInt(o, "capacity", 1, 1 << 20);
  in.imageTokenId = static_cast<std::int32_t>(optionalInteger(o, "imageTokenId", -1, INT32_MIN, INT32_MAX));
  in.mergeSize = static_cast<int>(optionalInteger(o, "mergeSize", 2, 1, 16));
  in.headDim = requiredInt(o, "headDim", 2, cuda::kMaxRopeHeadDim);
  in.theta = optionalNumber(o, "theta", 1000000.0);
  in.rowBegin = static_cast<int>(optionalInteger(o, "rowBegin", 0, 0, in.capacity));
  in.rowEnd = static_cast<int>(optionalInteger(o, "rowEnd", in.capacity, 0, in.capacity));
  std::vector<std::int64_t> const section = requireIntegerArray(o.Get("mropeSection"), "mropeSection");
  TV_CHECK_ARG(section.size() == 3, "mropeSection must have 3 entries");
  in.mropeSection = {static_cast<int>(section[0]), static_cast<int>(section[1]), static_cast<int>(section[2])};
  Napi::Value gridsValue = o.Get("grids");
  if (gridsValue.IsArray()) {
    Napi::Array a = gridsValue.As<Napi::Array>();
    for (std::uint32_t i = 0; i < a.Length(); ++i) {
      std::vector<std::int64_t> const g = requireIntegerArray(a.Get(i), "grids");
      TV_CHECK_ARG(g.size() == 3, "each grid is [t, h, w]");
      in.grids.push_back(vla::ImageGrid{static_cast<int>(g[0]), static_cast<int>(g[1]), static_cast<int>(g[2])});
    }
  }
  // Position errors (a grid that does not match the ids) throw from the hook, before either side runs.
  vla::mropePositions(in.ids.data(), static_cast<int>(in.ids.size()), in.capacity, in.imageTokenId, in.grids, in.mergeSize);

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> const table = checks::ropeOnGpu(in);
               return toTypedArray<Napi::Float32Array>(env, table.data(), table.size());
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> const table = checks::ropeOnCpu(in);
               return toTypedArray<Napi::Float32Array>(env, table.data(), table.size());
             }));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// sample({ logits: Float32Array [steps * vocab], vocab, steps, allowed?: Int32Array, prompt?: Int32Array,
//          temperature?, topK?, topP?, repetitionPenalty?, seed? })
//   -> { gpu: { tokens: Int32Array, logits: Float32Array } | Error, cpu: same | Error }
// Each side runs `steps` steps of its own sampler (same seed), noting each picked token as the decoder
// does; logits are the per-step logits after the penalty.

Napi::Value sampleRunToJs(Napi::Env env, checks::SampleRun const& run) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("tokens", toTypedArray<Napi::Int32Array>(env, run.tokens.data(), run.tokens.size()));
  out.Set("logits", toTypedArray<Napi::Float32Array>(env, run.logits.data(), run.logits.size()));
  return out;
}

Napi::Value runSample(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "sample options");
  checks::SampleInput in;
  in.logits = typedVector<float, Napi::Float32Array>(o.Get("logits"), napi_float32_array, "logits");
  in.vocab = requiredInt(o, "vocab", 1, INT32_MAX);
  in.steps = static_cast<int>(optionalInteger(o, "steps", 1, 1, 1 << 16));
  TV_CHECK_ARG(in.logits.size() == static_cast<std::size_t>(in.vocab) * static_cast<std::size_t>(in.steps),
               "logits must hold steps * vocab values");
  in.allowed = optionalTypedVector<std::int32_t, Napi::Int32Array>(o, "allowed", napi_int32_array);
  in.prompt = optionalTypedVector<std::int32_t, Napi::Int32Array>(o, "prompt", napi_int32_array);
  Napi::Value allowedValue = o.Get("allowed");
  TV_CHECK_ARG(allowedValue.IsUndefined() || allowedValue.IsNull() || !in.allowed.empty(),
               "allowed must hold at least one id (omit it for no mask)");
  vla::SamplingConfig& config = in.config;
  config.temperature = optionalNumber(o, "temperature", 0.0);
  config.topK = static_cast<int>(optionalInteger(o, "topK", 0, 0, INT32_MAX));
  config.topP = optionalNumber(o, "topP", 1.0);
  config.repetitionPenalty = optionalNumber(o, "repetitionPenalty", 1.0);
  config.seed = static_cast<std::uint64_t>(optionalInteger(o, "seed", 0, 0, 9007199254740991LL));

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value { return sampleRunToJs(env, checks::sampleOnGpu(in)); }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value { return sampleRunToJs(env, checks::sampleOnCpu(in)); }));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// expandLogits({ reduced: Float32Array [R], map: Int32Array [R] (ascending full ids), fullCount })
//   -> { gpu: Float32Array [fullCount] | Error, cpu: same | Error }
// Both sides start from a full row of -inf and write the reduced logits at their full ids.

Napi::Value runExpandLogits(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "expandLogits options");
  checks::ExpandInput in;
  in.reduced = typedVector<float, Napi::Float32Array>(o.Get("reduced"), napi_float32_array, "reduced");
  in.map = typedVector<std::int32_t, Napi::Int32Array>(o.Get("map"), napi_int32_array, "map");
  in.fullCount = requiredInt(o, "fullCount", 1, INT32_MAX);
  TV_CHECK_ARG(in.reduced.size() == in.map.size(), "reduced and map must have the same length");
  engine::VocabMap::fromIds(in.map, in.fullCount);  // a bad map throws from the hook, before either side runs

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> const full = checks::expandLogitsOnGpu(in);
               return toTypedArray<Napi::Float32Array>(env, full.data(), full.size());
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> const full = checks::expandLogitsOnCpu(in);
               return toTypedArray<Napi::Float32Array>(env, full.data(), full.size());
             }));
  return result;
}

#else

Napi::Value unreachable(Napi::CallbackInfo const& info) { return info.Env().Undefined(); }  // requireDevice threw

#endif

}  // namespace

Napi::Object makeCudaTestingExports(Napi::Env env) {
  Napi::Object cuda = Napi::Object::New(env);
#if defined(TRT_VLA_WITH_CUDA)
  cuda.Set("preprocess", Napi::Function::New(env, hook<runPreprocess>, "preprocess"));
  cuda.Set("embed", Napi::Function::New(env, hook<runEmbed>, "embed"));
  cuda.Set("ropeTable", Napi::Function::New(env, hook<runRopeTable>, "ropeTable"));
  cuda.Set("sample", Napi::Function::New(env, hook<runSample>, "sample"));
  cuda.Set("expandLogits", Napi::Function::New(env, hook<runExpandLogits>, "expandLogits"));
#else
  for (char const* name : {"preprocess", "embed", "ropeTable", "sample", "expandLogits"}) {
    cuda.Set(name, Napi::Function::New(env, hook<unreachable>, name));
  }
#endif
  return cuda;
}

}  // namespace tv::napi
