#include "napi/cuda_testing.h"

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
#include "core/safetensors.h"
#include "engine/vocab_map.h"
#include "cuda/device.h"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/preprocess.h"
#include "cuda/kernels/rope.h"
#include "cuda/kernels/sampling.h"
#include "cuda/memory.h"
#include "cuda/stream.h"
#include "vla/device_pipeline_ops.h"
#include "vla/embedding.h"
#include "vla/frame.h"
#include "vla/positions.h"
#include "vla/preprocess.h"
#include "vla/sampler.h"
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

// Elements after each output that a kernel must leave alone: filled with a pattern before the launch and
// checked after it (an out-of-bounds write shows up here rather than as silent corruption).
constexpr std::size_t kGuardBytes = 4096;
constexpr unsigned char kGuardByte = 0xa5;

void checkGuard(std::vector<std::uint8_t> const& bytes, std::size_t used, char const* what) {
  for (std::size_t i = used; i < bytes.size(); ++i) {
    TV_CHECK_INTERNAL(bytes[i] == kGuardByte, what, " kernel wrote past its output (byte ", i - used, " after the end)");
  }
}

// Copies `bytes` of device memory back to the host after the stream finishes.
std::vector<std::uint8_t> download(cuda::DeviceBuffer const& buffer, std::size_t bytes, cuda::Stream const& stream) {
  std::vector<std::uint8_t> host(bytes);
  if (bytes > 0) TV_CUDA_CHECK(cudaMemcpyAsync(host.data(), buffer.get(), bytes, cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  return host;
}

cuda::DeviceBuffer upload(void const* data, std::size_t bytes, cuda::Stream const& stream) {
  cuda::DeviceBuffer buffer(bytes);
  if (bytes > 0) TV_CUDA_CHECK(cudaMemcpyAsync(buffer.get(), data, bytes, cudaMemcpyHostToDevice, stream.get()));
  stream.synchronize();  // the source may be a temporary
  return buffer;
}

// A device output of `bytes` followed by the guard pattern.
cuda::DeviceBuffer guardedOutput(std::size_t bytes, cuda::Stream const& stream) {
  cuda::DeviceBuffer buffer(bytes + kGuardBytes);
  TV_CUDA_CHECK(cudaMemsetAsync(buffer.get(), kGuardByte, bytes + kGuardBytes, stream.get()));
  return buffer;
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

cuda::FrameFormat parseCudaFormat(std::string const& name) {
  if (name == "rgb8") return cuda::FrameFormat::kRgb8;
  if (name == "bgr8") return cuda::FrameFormat::kBgr8;
  if (name == "rgba8") return cuda::FrameFormat::kRgba8;
  if (name == "bgra8") return cuda::FrameFormat::kBgra8;
  if (name == "nv12") return cuda::FrameFormat::kNv12;
  TV_THROW(ErrorCode::kInvalidArgument, "Expected one of 'rgb8', 'bgr8', 'rgba8', 'bgra8', 'nv12' for format but received '",
           name, "'");
}

std::vector<std::uint16_t> preprocessOnGpu(cuda::PreprocessPlan plan, std::vector<std::uint8_t> const& frame, bool mapped) {
  cuda::Stream stream;
  cuda::PinnedHostBuffer pinned(frame.size());
  std::memcpy(pinned.host(), frame.data(), frame.size());
  cuda::DeviceBuffer copy;
  if (mapped && pinned.devicePointer() != nullptr) {
    plan.frame.data = pinned.devicePointer();
  } else {
    copy = upload(pinned.host(), frame.size(), stream);
    plan.frame.data = copy.get();
  }
  plan.frame.byteLength = frame.size();
  std::size_t const count = static_cast<std::size_t>(cuda::preprocessPatchCount(plan)) * static_cast<std::size_t>(plan.patchDim());
  std::size_t const bytes = count * sizeof(std::uint16_t);
  cuda::DeviceBuffer workspace(cuda::preprocessWorkspaceBytes(plan));
  cuda::DeviceBuffer out = guardedOutput(bytes, stream);
  cuda::launchPreprocess(plan, workspace.get(), workspace.bytes(), static_cast<std::uint16_t*>(out.get()), stream.get());
  std::vector<std::uint8_t> const host = download(out, bytes + kGuardBytes, stream);
  checkGuard(host, bytes, "the preprocessing");
  std::vector<std::uint16_t> patches(count);
  std::memcpy(patches.data(), host.data(), bytes);
  return patches;
}

Napi::Value runPreprocess(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  std::vector<std::uint8_t> const data = typedVector<std::uint8_t, Napi::Uint8Array>(info[0], napi_uint8_array, "data");
  Napi::Object frame = requireObject(info[1], "frame");
  Napi::Object options = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  std::string const format = requireString(frame, "format");
  int const width = requiredInt(frame, "width", 1, kMaxFrameDimension);
  int const height = requiredInt(frame, "height", 1, kMaxFrameDimension);
  int const stride = static_cast<int>(optionalInteger(frame, "stride", 0, 0, 4LL * kMaxFrameDimension));

  vla::PreprocessConfig config;
  config.minPixels = static_cast<int>(optionalInteger(options, "minPixels", config.minPixels, 1, INT32_MAX));
  config.maxPixels = static_cast<int>(optionalInteger(options, "maxPixels", config.maxPixels, 1, INT32_MAX));
  config.preResizeMaxPixels = static_cast<int>(optionalInteger(options, "preResizeMaxPixels", 0, 0, INT32_MAX));
  config.preResizeMinPixels = static_cast<int>(optionalInteger(options, "preResizeMinPixels", 0, 0, INT32_MAX));
  Napi::Value mappedValue = options.Get("mapped");
  bool const mapped = !mappedValue.IsBoolean() || mappedValue.As<Napi::Boolean>().Value();

  cuda::FrameSource source;
  source.format = parseCudaFormat(format);
  source.width = width;
  source.height = height;
  int const bytesPerPixel = source.format == cuda::FrameFormat::kNv12 ? 1
                            : (source.format == cuda::FrameFormat::kRgba8 || source.format == cuda::FrameFormat::kBgra8) ? 4
                                                                                                                          : 3;
  source.stride = stride == 0 ? width * bytesPerPixel : stride;
  std::size_t needed = static_cast<std::size_t>(source.stride) * static_cast<std::size_t>(height);
  if (source.format == cuda::FrameFormat::kNv12) needed = needed * 3 / 2;
  TV_CHECK_ARG(data.size() >= needed, "the frame needs ", needed, " bytes but data holds ", data.size());
  cuda::PreprocessPlan const plan = vla::devicePreprocessPlan(source, config);

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               std::vector<std::uint16_t> const patches = preprocessOnGpu(plan, data, mapped);
               return toTypedArray<Napi::Uint16Array>(env, patches.data(), patches.size());
             }));
  if (format == "bgra8") {
    result.Set("cpu", env.Null());
  } else {
    result.Set("cpu", settle(env, [&]() -> Napi::Value {
                 vla::FrameView view;
                 view.layout = makeFrameLayout(width, height, parsePixelFormat(format), stride);
                 view.data = data.data();
                 vla::VisionInputs const inputs = vla::preprocessImages({vla::frameToRgb(view)}, config, false);
                 return toTypedArray<Napi::Uint16Array>(env, inputs.patches.data(), inputs.patches.size());
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
  std::string const file = requireString(o, "file");
  std::string const name = requireString(o, "name");
  int const vocab = requiredInt(o, "vocab", 1, INT32_MAX);
  int const hidden = requiredInt(o, "hidden", 1, 1 << 16);
  std::vector<std::int32_t> const ids = typedVector<std::int32_t, Napi::Int32Array>(o.Get("ids"), napi_int32_array, "ids");
  auto const imageTokenId = static_cast<std::int32_t>(optionalInteger(o, "imageTokenId", -1, INT32_MIN, INT32_MAX));
  std::vector<std::uint16_t> const image = optionalTypedVector<std::uint16_t, Napi::Uint16Array>(o, "image", napi_uint16_array);
  int const imageRows = static_cast<int>(optionalInteger(o, "imageRows", 0, 0, INT32_MAX));
  TV_CHECK_ARG(image.size() == static_cast<std::size_t>(imageRows) * static_cast<std::size_t>(hidden),
               "image must hold imageRows * hidden values");
  Napi::Value misalignValue = o.Get("misalign");
  std::size_t const shift = misalignValue.IsBoolean() && misalignValue.As<Napi::Boolean>().Value() ? 2 : 0;
  int const count = static_cast<int>(ids.size());
  std::size_t const outValues = static_cast<std::size_t>(count) * static_cast<std::size_t>(hidden);

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               SafetensorsFile const weights(file);
               TensorView const* table = weights.find(name);
               std::vector<std::int64_t> const shape{vocab, hidden};
               TV_CHECK_ARG(table != nullptr && table->dtype == DType::kF16 && table->shape == shape, "expected an F16 [",
                            vocab, ", ", hidden, "] tensor '", name, "' in ", file);
               cuda::Stream stream;
               std::vector<std::uint8_t> shifted(shift + table->bytes);
               std::memcpy(shifted.data() + shift, table->data, table->bytes);
               cuda::DeviceBuffer tableDevice = upload(shifted.data(), shifted.size(), stream);
               std::vector<std::uint8_t> imageBytes(shift + image.size() * sizeof(std::uint16_t));
               if (!image.empty()) std::memcpy(imageBytes.data() + shift, image.data(), image.size() * sizeof(std::uint16_t));
               cuda::DeviceBuffer imageDevice = upload(imageBytes.data(), imageBytes.size(), stream);
               cuda::DeviceBuffer idsDevice = upload(ids.data(), ids.size() * sizeof(std::int32_t), stream);
               std::size_t const outBytes = shift + outValues * sizeof(std::uint16_t);
               cuda::DeviceBuffer out = guardedOutput(outBytes, stream);
               cuda::DeviceBuffer workspace(cuda::embedWorkspaceBytes(count));
               cuda::DeviceBuffer status(sizeof(cuda::EmbedStatus));

               cuda::EmbedArgs args;
               args.table = reinterpret_cast<std::uint16_t const*>(static_cast<std::uint8_t const*>(tableDevice.get()) + shift);
               args.vocab = vocab;
               args.hidden = hidden;
               args.ids = static_cast<std::int32_t const*>(idsDevice.get());
               args.count = count;
               args.imageTokenId = imageTokenId;
               args.image = imageRows > 0
                                ? reinterpret_cast<std::uint16_t const*>(static_cast<std::uint8_t const*>(imageDevice.get()) + shift)
                                : nullptr;
               args.imageRows = imageRows;
               args.out = reinterpret_cast<std::uint16_t*>(static_cast<std::uint8_t*>(out.get()) + shift);
               cuda::launchEmbed(args, workspace.get(), workspace.bytes(), static_cast<cuda::EmbedStatus*>(status.get()),
                                 stream.get());
               std::vector<std::uint8_t> const statusBytes = download(status, sizeof(cuda::EmbedStatus), stream);
               std::vector<std::uint8_t> const host = download(out, outBytes + kGuardBytes, stream);
               cuda::EmbedStatus embedStatus;
               std::memcpy(&embedStatus, statusBytes.data(), sizeof embedStatus);
               cuda::checkEmbedStatus(embedStatus, vocab, imageRows);
               checkGuard(host, outBytes, "the embedding");
               return toTypedArray<Napi::Uint16Array>(env, reinterpret_cast<std::uint16_t const*>(host.data() + shift), outValues);
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               vla::EmbeddingTable const table = vla::EmbeddingTable::load({file}, {name}, vocab, hidden);
               std::vector<std::uint16_t> out(outValues);
               table.embed(ids.data(), count, imageTokenId, image.empty() ? nullptr : image.data(), imageRows, out.data());
               return toTypedArray<Napi::Uint16Array>(env, out.data(), out.size());
             }));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// ropeTable({ ids: Int32Array, capacity, imageTokenId, grids: [t, h, w][], mergeSize, headDim,
//             mropeSection: [a, b, c], theta, rowBegin?, rowEnd? }) -> { gpu: Float32Array | Error,
//             cpu: Float32Array | Error }
// Positions come from vla::mropePositions; rows outside [rowBegin, rowEnd) keep the fill value -7.

constexpr float kUnwritten = -7.0f;

Napi::Value runRopeTable(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "ropeTable options");
  std::vector<std::int32_t> const ids = typedVector<std::int32_t, Napi::Int32Array>(o.Get("ids"), napi_int32_array, "ids");
  int const capacity = requiredInt(o, "capacity", 1, 1 << 20);
  auto const imageTokenId = static_cast<std::int32_t>(optionalInteger(o, "imageTokenId", -1, INT32_MIN, INT32_MAX));
  int const mergeSize = static_cast<int>(optionalInteger(o, "mergeSize", 2, 1, 16));
  int const headDim = requiredInt(o, "headDim", 2, cuda::kMaxRopeHeadDim);
  double const theta = optionalNumber(o, "theta", 1000000.0);
  int const rowBegin = static_cast<int>(optionalInteger(o, "rowBegin", 0, 0, capacity));
  int const rowEnd = static_cast<int>(optionalInteger(o, "rowEnd", capacity, 0, capacity));
  std::vector<std::int64_t> const section = requireIntegerArray(o.Get("mropeSection"), "mropeSection");
  TV_CHECK_ARG(section.size() == 3, "mropeSection must have 3 entries");
  std::array<int, 3> const mropeSection{static_cast<int>(section[0]), static_cast<int>(section[1]), static_cast<int>(section[2])};
  std::vector<vla::ImageGrid> grids;
  Napi::Value gridsValue = o.Get("grids");
  if (gridsValue.IsArray()) {
    Napi::Array a = gridsValue.As<Napi::Array>();
    for (std::uint32_t i = 0; i < a.Length(); ++i) {
      std::vector<std::int64_t> const g = requireIntegerArray(a.Get(i), "grids");
      TV_CHECK_ARG(g.size() == 3, "each grid is [t, h, w]");
      grids.push_back(vla::ImageGrid{static_cast<int>(g[0]), static_cast<int>(g[1]), static_cast<int>(g[2])});
    }
  }
  vla::MropePositions const positions =
      vla::mropePositions(ids.data(), static_cast<int>(ids.size()), capacity, imageTokenId, grids, mergeSize);
  std::size_t const values = static_cast<std::size_t>(capacity) * static_cast<std::size_t>(headDim);

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               cuda::Stream stream;
               cuda::DeviceBuffer t = upload(positions.t.data(), positions.t.size() * sizeof(std::int32_t), stream);
               cuda::DeviceBuffer h = upload(positions.h.data(), positions.h.size() * sizeof(std::int32_t), stream);
               cuda::DeviceBuffer w = upload(positions.w.data(), positions.w.size() * sizeof(std::int32_t), stream);
               std::size_t const bytes = values * sizeof(float);
               cuda::DeviceBuffer table = guardedOutput(bytes, stream);
               std::vector<float> const fill(values, kUnwritten);
               TV_CUDA_CHECK(cudaMemcpyAsync(table.get(), fill.data(), bytes, cudaMemcpyHostToDevice, stream.get()));
               cuda::MropeTableArgs args;
               args.t = static_cast<std::int32_t const*>(t.get());
               args.h = static_cast<std::int32_t const*>(h.get());
               args.w = static_cast<std::int32_t const*>(w.get());
               args.capacity = capacity;
               args.rowBegin = rowBegin;
               args.rowEnd = rowEnd;
               args.headDim = headDim;
               args.mropeSection = mropeSection;
               args.theta = theta;
               args.table = static_cast<float*>(table.get());
               cuda::launchMropeCosSin(args, stream.get());
               std::vector<std::uint8_t> const host = download(table, bytes + kGuardBytes, stream);
               checkGuard(host, bytes, "the rope table");
               return toTypedArray<Napi::Float32Array>(env, reinterpret_cast<float const*>(host.data()), values);
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> table(values, kUnwritten);
               vla::mropeCosSin(positions, rowBegin, rowEnd, headDim, mropeSection, theta, table.data());
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

struct SampleRun {
  std::vector<std::int32_t> tokens;
  std::vector<float> logits;
};

Napi::Value sampleRunToJs(Napi::Env env, SampleRun const& run) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("tokens", toTypedArray<Napi::Int32Array>(env, run.tokens.data(), run.tokens.size()));
  out.Set("logits", toTypedArray<Napi::Float32Array>(env, run.logits.data(), run.logits.size()));
  return out;
}

SampleRun sampleOnCpu(vla::SamplingConfig const& config, std::vector<float> const& logits, int vocab, int steps,
                      std::vector<std::int32_t> const& allowed, std::vector<std::int32_t> const& prompt) {
  vla::Sampler sampler(config);
  sampler.resetHistory(prompt.data(), static_cast<int>(prompt.size()), vocab);
  SampleRun run;
  run.logits = logits;
  for (int step = 0; step < steps; ++step) {
    float* row = run.logits.data() + static_cast<std::size_t>(step) * static_cast<std::size_t>(vocab);
    std::int32_t const token = sampler.sample(row, vocab, allowed.empty() ? nullptr : allowed.data(), static_cast<int>(allowed.size()));
    run.tokens.push_back(token);
    sampler.noteToken(token);
  }
  return run;
}

SampleRun sampleOnGpu(vla::SamplingConfig const& config, std::vector<float> const& logits, int vocab, int steps,
                      std::vector<std::int32_t> const& allowed, std::vector<std::int32_t> const& prompt) {
  vla::Sampler sampler(config);
  sampler.resetHistory(prompt.data(), static_cast<int>(prompt.size()), vocab);
  cuda::Stream stream;
  std::size_t const rowBytes = static_cast<std::size_t>(vocab) * sizeof(float);
  cuda::DeviceBuffer logitsDevice(rowBytes);
  cuda::DeviceBuffer allowedDevice = upload(allowed.data(), allowed.size() * sizeof(std::int32_t), stream);
  // Penalised ids are distinct and inside the vocabulary, so vocab bounds their number.
  cuda::DeviceBuffer penalizedDevice(rowBytes);

  cuda::SamplingArgs args;
  args.logits = static_cast<float*>(logitsDevice.get());
  args.vocab = vocab;
  args.allowed = allowed.empty() ? nullptr : static_cast<std::int32_t const*>(allowedDevice.get());
  args.allowedCount = static_cast<int>(allowed.size());
  args.penalized = static_cast<std::int32_t const*>(penalizedDevice.get());
  args.repetitionPenalty = static_cast<float>(config.repetitionPenalty);
  args.greedy = sampler.greedy();
  args.topK = config.topK;
  cuda::DeviceBuffer workspace(cuda::samplingWorkspaceBytes(args));
  std::size_t const outputBytes = cuda::samplingOutputBytes(cuda::samplingCandidateCapacity(args));
  cuda::DeviceBuffer output = guardedOutput(outputBytes, stream);

  SampleRun run;
  run.logits.resize(logits.size());
  for (int step = 0; step < steps; ++step) {
    std::size_t const offset = static_cast<std::size_t>(step) * static_cast<std::size_t>(vocab);
    TV_CUDA_CHECK(cudaMemcpyAsync(logitsDevice.get(), logits.data() + offset, rowBytes, cudaMemcpyHostToDevice, stream.get()));
    std::vector<std::int32_t> const& penalized = sampler.penalized();
    TV_CHECK_INTERNAL(penalized.size() <= static_cast<std::size_t>(vocab), "more penalised ids than the vocabulary");
    if (!penalized.empty()) {
      TV_CUDA_CHECK(cudaMemcpyAsync(penalizedDevice.get(), penalized.data(), penalized.size() * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, stream.get()));
    }
    args.penalizedCount = static_cast<int>(penalized.size());
    cuda::launchSampling(args, workspace.get(), workspace.bytes(), output.get(), outputBytes, stream.get());
    TV_CUDA_CHECK(cudaMemcpyAsync(run.logits.data() + offset, logitsDevice.get(), rowBytes, cudaMemcpyDeviceToHost, stream.get()));
    std::vector<std::uint8_t> const host = download(output, outputBytes + kGuardBytes, stream);
    checkGuard(host, outputBytes, "the sampling");
    cuda::SamplingResult const result = cuda::readSamplingOutput(host.data(), outputBytes);
    cuda::checkSamplingResult(result, args);
    std::int32_t const token =
        args.greedy ? result.header.token : sampler.drawSorted(result.candidates.data(), result.candidates.size());
    run.tokens.push_back(token);
    sampler.noteToken(token);
  }
  return run;
}

Napi::Value runSample(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "sample options");
  std::vector<float> const logits = typedVector<float, Napi::Float32Array>(o.Get("logits"), napi_float32_array, "logits");
  int const vocab = requiredInt(o, "vocab", 1, INT32_MAX);
  int const steps = static_cast<int>(optionalInteger(o, "steps", 1, 1, 1 << 16));
  TV_CHECK_ARG(logits.size() == static_cast<std::size_t>(vocab) * static_cast<std::size_t>(steps),
               "logits must hold steps * vocab values");
  std::vector<std::int32_t> const allowed = optionalTypedVector<std::int32_t, Napi::Int32Array>(o, "allowed", napi_int32_array);
  std::vector<std::int32_t> const prompt = optionalTypedVector<std::int32_t, Napi::Int32Array>(o, "prompt", napi_int32_array);
  Napi::Value allowedValue = o.Get("allowed");
  TV_CHECK_ARG(allowedValue.IsUndefined() || allowedValue.IsNull() || !allowed.empty(),
               "allowed must hold at least one id (omit it for no mask)");
  vla::SamplingConfig config;
  config.temperature = optionalNumber(o, "temperature", 0.0);
  config.topK = static_cast<int>(optionalInteger(o, "topK", 0, 0, INT32_MAX));
  config.topP = optionalNumber(o, "topP", 1.0);
  config.repetitionPenalty = optionalNumber(o, "repetitionPenalty", 1.0);
  config.seed = static_cast<std::uint64_t>(optionalInteger(o, "seed", 0, 0, 9007199254740991LL));

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               return sampleRunToJs(env, sampleOnGpu(config, logits, vocab, steps, allowed, prompt));
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               return sampleRunToJs(env, sampleOnCpu(config, logits, vocab, steps, allowed, prompt));
             }));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// expandLogits({ reduced: Float32Array [R], map: Int32Array [R] (ascending full ids), fullCount })
//   -> { gpu: Float32Array [fullCount] | Error, cpu: same | Error }
// Both sides start from a full row of -inf and write the reduced logits at their full ids.

Napi::Value runExpandLogits(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  Napi::Object o = requireObject(info[0], "expandLogits options");
  std::vector<float> const reduced = typedVector<float, Napi::Float32Array>(o.Get("reduced"), napi_float32_array, "reduced");
  std::vector<std::int32_t> map = typedVector<std::int32_t, Napi::Int32Array>(o.Get("map"), napi_int32_array, "map");
  int const fullCount = requiredInt(o, "fullCount", 1, INT32_MAX);
  TV_CHECK_ARG(reduced.size() == map.size(), "reduced and map must have the same length");
  engine::VocabMap const vocabMap = engine::VocabMap::fromIds(map, fullCount);
  std::vector<float> const start(static_cast<std::size_t>(fullCount), -std::numeric_limits<float>::infinity());

  Napi::Object result = Napi::Object::New(env);
  result.Set("gpu", settle(env, [&]() -> Napi::Value {
               cuda::Stream stream;
               cuda::DeviceBuffer in = upload(reduced.data(), reduced.size() * sizeof(float), stream);
               cuda::DeviceBuffer ids = upload(map.data(), map.size() * sizeof(std::int32_t), stream);
               std::size_t const bytes = start.size() * sizeof(float);
               cuda::DeviceBuffer full = guardedOutput(bytes, stream);
               TV_CUDA_CHECK(cudaMemcpyAsync(full.get(), start.data(), bytes, cudaMemcpyHostToDevice, stream.get()));
               cuda::ExpandLogitsArgs args;
               args.reduced = static_cast<float const*>(in.get());
               args.reducedCount = static_cast<int>(reduced.size());
               args.reducedToFull = static_cast<std::int32_t const*>(ids.get());
               args.full = static_cast<float*>(full.get());
               args.fullCount = fullCount;
               cuda::launchExpandLogits(args, stream.get());
               std::vector<std::uint8_t> const host = download(full, bytes + kGuardBytes, stream);
               checkGuard(host, bytes, "the expanded logits");
               return toTypedArray<Napi::Float32Array>(env, reinterpret_cast<float const*>(host.data()), start.size());
             }));
  result.Set("cpu", settle(env, [&]() -> Napi::Value {
               std::vector<float> full = start;
               vocabMap.expandLogits(reduced.data(), full.data());
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
