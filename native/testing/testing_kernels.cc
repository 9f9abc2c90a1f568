// Test hooks for the int4 formats and the matmul kernels (exports.testing.*, see testing.h). Each hook
// runs one kernel at a chosen SIMD level on JS-provided data, over a ThreadPool when asked, and returns
// the raw output so the tests compare levels, thread counts and an independent JS computation.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/cpu/awq.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/q8_buffer.h"
#include "engine/cpu/q8_weights.h"
#include "napi/js_error.h"
#include "testing/testing.h"

namespace tv::napi {

namespace {

template <typename T, napi_typedarray_type kType>
T* typedData(Napi::Value value, char const* what, std::size_t expected) {
  TV_CHECK_ARG(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == kType, what,
               " has the wrong array type");
  Napi::TypedArrayOf<T> array = value.As<Napi::TypedArrayOf<T>>();
  TV_CHECK_ARG(expected == SIZE_MAX || array.ElementLength() == expected, what, " has ", array.ElementLength(),
               " elements, expected ", expected);
  return array.Data();
}

int intArg(Napi::Value value, char const* what) {
  TV_CHECK_ARG(value.IsNumber(), what, " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

int option(Napi::Value options, char const* name, int fallback) {
  if (!options.IsObject()) return fallback;
  Napi::Value v = options.As<Napi::Object>().Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

cpu::AwqTensors awqArgs(Napi::CallbackInfo const& info, int first) {
  cpu::AwqTensors awq;
  awq.inFeatures = intArg(info[first + 3], "inFeatures");
  awq.outFeatures = intArg(info[first + 4], "outFeatures");
  std::size_t const k = static_cast<std::size_t>(awq.inFeatures), n = static_cast<std::size_t>(awq.outFeatures);
  awq.qweight = typedData<std::int32_t, napi_int32_array>(info[first], "qweight", k * n / 8);
  awq.qzeros = typedData<std::int32_t, napi_int32_array>(info[first + 1], "qzeros", k / cpu::kQ4GroupSize * n / 8);
  awq.scales = typedData<std::uint16_t, napi_uint16_array>(info[first + 2], "scales", k / cpu::kQ4GroupSize * n);
  return awq;
}

// Runs fn(rowBegin, rowEnd) over [begin, end) on a pool of `threads` threads in chunks of `grain`.
template <typename Fn>
void splitRows(int threads, int grain, int begin, int end, Fn&& fn) {
  TV_CHECK_ARG(threads >= 1 && threads <= 64 && grain >= 1, "threads must be 1..64 and grain >= 1");
  ThreadPool pool(threads);
  pool.parallelFor(end - begin, grain, [&](std::int64_t b, std::int64_t e) {
    fn(begin + static_cast<int>(b), begin + static_cast<int>(e));
  });
}

// The output of a matmul hook: [tokens][rows + kPad] filled with a sentinel, so tests can check that
// a kernel wrote exactly rows [rowBegin, rowEnd) of each token and nothing past a row's end.
constexpr int kPad = 3;
constexpr float kSentinel = -7777.25f;

Napi::Float32Array sentinelOutput(Napi::Env env, int tokens, int rows) {
  Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(tokens) * (rows + kPad));
  for (std::size_t i = 0; i < y.ElementLength(); ++i) y.Data()[i] = kSentinel;
  return y;
}

// awqQuantize(weight: Float32Array [N*K], outFeatures N, inFeatures K) -> { qweight, qzeros, scales }
Napi::Value awqQuantize(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int const n = intArg(info[1], "outFeatures"), k = intArg(info[2], "inFeatures");
    TV_CHECK_ARG(n > 0 && k > 0, "dimensions must be positive");
    float const* w = typedData<float, napi_float32_array>(info[0], "weight", static_cast<std::size_t>(n) * k);
    cpu::AwqOwned const awq = cpu::quantizeRtnAwq(w, n, k);
    Napi::Object out = Napi::Object::New(env);
    auto qweight = Napi::Int32Array::New(env, awq.qweight.size());
    auto qzeros = Napi::Int32Array::New(env, awq.qzeros.size());
    auto scales = Napi::Uint16Array::New(env, awq.scales.size());
    std::copy(awq.qweight.begin(), awq.qweight.end(), qweight.Data());
    std::copy(awq.qzeros.begin(), awq.qzeros.end(), qzeros.Data());
    std::copy(awq.scales.begin(), awq.scales.end(), scales.Data());
    out.Set("qweight", qweight);
    out.Set("qzeros", qzeros);
    out.Set("scales", scales);
    return out;
  });
}

// awqDequantize(qweight, qzeros, scales, inFeatures, outFeatures) -> Float32Array [N][K]
Napi::Value awqDequantize(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::vector<float> const w = cpu::dequantizeAwq(awqArgs(info, 0));
    Napi::Float32Array out = Napi::Float32Array::New(env, w.size());
    std::copy(w.begin(), w.end(), out.Data());
    return out;
  });
}

// q4Repack(qweight, qzeros, scales, inFeatures, outFeatures, threads = 1) -> opaque handle (Q4Weights)
Napi::Value q4Repack(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    cpu::AwqTensors const awq = awqArgs(info, 0);
    int const threads = info[5].IsNumber() ? intArg(info[5], "threads") : 1;
    TV_CHECK_ARG(threads >= 1 && threads <= 64, "threads must be 1..64");
    std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
    auto weights = std::make_unique<cpu::Q4Weights>(cpu::repackAwq(awq, pool.get()));
    return Napi::External<cpu::Q4Weights>::New(env, weights.release(),
                                                [](Napi::Env, cpu::Q4Weights* w) { delete w; });
  });
}

cpu::Q4Weights const& q4Handle(Napi::Value value) {
  TV_CHECK_ARG(value.IsExternal(), "expected a handle from q4Repack");
  return *value.As<Napi::External<cpu::Q4Weights>>().Data();
}

// q4Nibbles(handle) -> Uint8Array copy of the tiled nibble array (layout checks)
Napi::Value q4Nibbles(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    cpu::Q4Weights const& w = q4Handle(info[0]);
    cpu::Q4Matrix const m = w.view();
    std::size_t const n = static_cast<std::size_t>(w.tiles()) * (m.cols / cpu::kQ8BlockSize) * cpu::kQ4BlockBytes;
    Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
    std::copy(m.nibbles, m.nibbles + n, out.Data());
    return out;
  });
}

// quantizeQ8(x: Float32Array [tokens*k], k, level, span = 32, columns?: Int32Array [c0, c1, c0, c1, ...])
//   -> { values: Int8Array, scales, groupSums, blockSums: Int32Array }; with `columns`, Q8Buffer::quantizeColumns
//   of each range in turn instead of one quantize (the buffer starts zeroed).
Napi::Value quantizeQ8(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int const k = intArg(info[1], "k");
    TV_CHECK_ARG(k > 0 && k % cpu::kQ4GroupSize == 0, "k must be a positive multiple of 128");
    float const* x = typedData<float, napi_float32_array>(info[0], "x", SIZE_MAX);
    std::size_t const length = info[0].As<Napi::Float32Array>().ElementLength();
    TV_CHECK_ARG(length > 0 && length % k == 0, "x must hold whole vectors of length k");
    int const tokens = static_cast<int>(length / k);
    cpu::Q8Buffer q(tokens, k);
    int const span = info[3].IsUndefined() ? cpu::kQ8BlockSize : intArg(info[3], "span");
    if (info[4].IsTypedArray()) {
      Napi::Int32Array const ranges = info[4].As<Napi::Int32Array>();
      TV_CHECK_ARG(ranges.ElementLength() % 2 == 0, "columns holds [c0, c1) pairs");
      for (std::size_t i = 0; i < ranges.ElementLength(); i += 2) {
        q.quantizeColumns(cpu::kernelsFor(parseLevel(info[2])), span, x, k, tokens, ranges[i], ranges[i + 1]);
      }
    } else {
      q.quantize(cpu::kernelsFor(parseLevel(info[2])), span, x, k, tokens);
    }
    auto values = Napi::Int8Array::New(env, length);
    auto scales = Napi::Float32Array::New(env, length / cpu::kQ8BlockSize);
    auto sums = Napi::Float32Array::New(env, length / cpu::kQ4GroupSize);
    auto blockSums = Napi::Int32Array::New(env, length / cpu::kQ8BlockSize);
    for (int t = 0; t < tokens; ++t) {
      cpu::Q8Vector const v = q.row(t);
      std::copy(v.values, v.values + k, values.Data() + static_cast<std::size_t>(t) * k);
      std::copy(v.scale, v.scale + k / cpu::kQ8BlockSize, scales.Data() + t * (k / cpu::kQ8BlockSize));
      std::copy(v.groupSum, v.groupSum + k / cpu::kQ4GroupSize, sums.Data() + t * (k / cpu::kQ4GroupSize));
      std::copy(v.blockSum, v.blockSum + k / cpu::kQ8BlockSize, blockSums.Data() + t * (k / cpu::kQ8BlockSize));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("values", values);
    out.Set("scales", scales);
    out.Set("groupSums", sums);
    out.Set("blockSums", blockSums);
    return out;
  });
}

// Runs an int8-activation matmul kernel (table member `kernel`) on the JS arguments
// (handle, x: Float32Array [tokens*cols], tokens, level, { threads, grain, rowBegin, rowEnd })
//   -> Float32Array [tokens][rows + 3] (see sentinelOutput). x is quantized at the same level.
template <typename Matrix, typename Kernel>
Napi::Value runQuantizedMatmul(Napi::CallbackInfo const& info, Matrix const& w, Kernel cpu::KernelTable::*kernel, int span, int defaultGrain) {
  Napi::Env env = info.Env();
  int const tokens = intArg(info[2], "tokens");
  TV_CHECK_ARG(tokens >= 1, "tokens must be >= 1");
  float const* x = typedData<float, napi_float32_array>(info[1], "x", static_cast<std::size_t>(tokens) * w.cols);
  cpu::KernelTable const& table = cpu::kernelsFor(parseLevel(info[3]));
  int const rowBegin = option(info[4], "rowBegin", 0), rowEnd = option(info[4], "rowEnd", w.rows);
  TV_CHECK_ARG(0 <= rowBegin && rowBegin <= rowEnd && rowEnd <= w.rows, "bad row range");
  cpu::Q8Buffer q(tokens, w.cols);
  q.quantize(table, span, x, w.cols, tokens);
  Napi::Float32Array y = sentinelOutput(env, tokens, w.rows);
  auto const run = table.*kernel;
  splitRows(option(info[4], "threads", 1), option(info[4], "grain", defaultGrain), rowBegin, rowEnd,
            [&](int b, int e) { run(w, q.rows(), tokens, y.Data(), w.rows + kPad, b, e); });
  return y;
}

// matmulQ4(handle from q4Repack, x, tokens, level, options): runQuantizedMatmul over int4 weights.
Napi::Value matmulQ4(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return runQuantizedMatmul(info, q4Handle(info[0]).view(), &cpu::KernelTable::matmulQ4, cpu::kQ4ActivationSpan, cpu::kQ4TileRows);
  });
}

cpu::DenseType denseType(Napi::Value value) {
  std::string const name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "f32") return cpu::DenseType::kF32;
  if (name == "f16") return cpu::DenseType::kF16;
  TV_CHECK_ARG(name == "bf16", "dense type must be 'f32', 'f16' or 'bf16'");
  return cpu::DenseType::kBF16;
}

// A dense matrix over a JS array: type, w: Float32Array (f32) | Uint16Array (f16 / bf16) [rows*cols].
cpu::DenseMatrix denseArg(Napi::Value type, Napi::Value data, int rows, int cols) {
  cpu::DenseMatrix w;
  w.type = denseType(type);
  w.rows = rows;
  w.cols = cols;
  TV_CHECK_ARG(rows > 0 && cols > 0, "rows and cols must be positive");
  std::size_t const count = static_cast<std::size_t>(rows) * cols;
  if (w.type == cpu::DenseType::kF32) {
    w.data = typedData<float, napi_float32_array>(data, "w", count);
  } else {
    w.data = typedData<std::uint16_t, napi_uint16_array>(data, "w", count);
  }
  return w;
}

// q8Quantize(type, w, rows, cols, threads = 1) -> opaque handle (Q8Weights)
Napi::Value q8Quantize(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    cpu::DenseMatrix const w = denseArg(info[0], info[1], intArg(info[2], "rows"), intArg(info[3], "cols"));
    int const threads = info[4].IsNumber() ? intArg(info[4], "threads") : 1;
    TV_CHECK_ARG(threads >= 1 && threads <= 64, "threads must be 1..64");
    std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
    auto weights = std::make_unique<cpu::Q8Weights>(cpu::quantizeQ8Weights(w, pool.get()));
    return Napi::External<cpu::Q8Weights>::New(env, weights.release(), [](Napi::Env, cpu::Q8Weights* p) { delete p; });
  });
}

cpu::Q8Weights const& q8Handle(Napi::Value value) {
  TV_CHECK_ARG(value.IsExternal(), "expected a handle from q8Quantize");
  return *value.As<Napi::External<cpu::Q8Weights>>().Data();
}

// q8Layout(handle) -> { values: Int8Array, scales: Uint16Array }: copies of the tiled arrays (layout checks)
Napi::Value q8Layout(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    cpu::Q8Weights const& w = q8Handle(info[0]);
    cpu::Q8Matrix const m = w.view();
    std::size_t const blocks = static_cast<std::size_t>(w.tiles()) * (m.cols / cpu::kQ8BlockSize);
    Napi::Int8Array values = Napi::Int8Array::New(env, blocks * cpu::kQ8WeightBlockBytes);
    Napi::Uint16Array scales = Napi::Uint16Array::New(env, blocks * cpu::kQ8TileRows);
    std::copy(m.values, m.values + values.ElementLength(), values.Data());
    std::copy(m.scales, m.scales + scales.ElementLength(), scales.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("values", values);
    out.Set("scales", scales);
    return out;
  });
}

// matmulQ8(handle from q8Quantize, x, tokens, level, options): runQuantizedMatmul over int8 weights.
Napi::Value matmulQ8(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return runQuantizedMatmul(info, q8Handle(info[0]).view(), &cpu::KernelTable::matmulQ8, cpu::kQ8BlockSize, cpu::kQ8TileRows);
  });
}

// matmulDense(type, w: Float32Array | Uint16Array [rows*cols], rows, cols, x [tokens*cols], tokens, level,
//             { threads, grain, rowBegin, rowEnd }) -> Float32Array [tokens][rows + 3]
Napi::Value matmulDense(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    cpu::DenseMatrix const w = denseArg(info[0], info[1], intArg(info[2], "rows"), intArg(info[3], "cols"));
    int const tokens = intArg(info[5], "tokens");
    TV_CHECK_ARG(tokens > 0, "tokens must be positive");
    float const* x = typedData<float, napi_float32_array>(info[4], "x", static_cast<std::size_t>(tokens) * w.cols);
    cpu::KernelTable const& table = cpu::kernelsFor(parseLevel(info[6]));
    int const rowBegin = option(info[7], "rowBegin", 0), rowEnd = option(info[7], "rowEnd", w.rows);
    TV_CHECK_ARG(0 <= rowBegin && rowBegin <= rowEnd && rowEnd <= w.rows, "bad row range");
    Napi::Float32Array y = sentinelOutput(env, tokens, w.rows);
    splitRows(option(info[7], "threads", 1), option(info[7], "grain", 4), rowBegin, rowEnd,
              [&](int b, int e) { table.matmulDense(w, x, w.cols, tokens, y.Data(), w.rows + kPad, b, e); });
    return y;
  });
}

// dotHalf(k: Uint16Array, q: Float32Array, level) -> number
Napi::Value dotHalf(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsTypedArray(), "k must be a Uint16Array");
    std::size_t const n = info[0].As<Napi::TypedArray>().ElementLength();
    auto const* k = typedData<std::uint16_t, napi_uint16_array>(info[0], "k", n);
    auto const* q = typedData<float, napi_float32_array>(info[1], "q", n);
    return Napi::Number::New(env, cpu::kernelsFor(parseLevel(info[2])).dotHalf(k, q, static_cast<int>(n)));
  });
}

// axpyHalf(a, v: Uint16Array, y: Float32Array, level) -> new Float32Array y + a * v
Napi::Value axpyHalf(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsNumber() && info[1].IsTypedArray(), "axpyHalf(a, v, y, level)");
    std::size_t const n = info[1].As<Napi::TypedArray>().ElementLength();
    auto const* v = typedData<std::uint16_t, napi_uint16_array>(info[1], "v", n);
    auto const* y = typedData<float, napi_float32_array>(info[2], "y", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    std::copy(y, y + n, out.Data());
    cpu::kernelsFor(parseLevel(info[3]))
        .axpyHalf(info[0].As<Napi::Number>().FloatValue(), v, out.Data(), static_cast<int>(n));
    return out;
  });
}

// attentionRows(rows: Uint16Array, stride, n, q: Float32Array, w: Float32Array, level, queries = 1) -> { scores, sum }:
// dotHalfRows of the `queries` queries in q (q.length / queries values each) with the n rows (`stride`
// apart) -> scores [queries][n], and weightedSumHalf of the rows with the weights w [queries][n] -> sum
// [queries][dim], in one call each.
Napi::Value attentionRows(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsTypedArray() && info[3].IsTypedArray() && info[4].IsTypedArray(), "attentionRows(rows, stride, n, q, w, level, queries)");
    int const stride = intArg(info[1], "stride");
    int const n = intArg(info[2], "n");
    int const queries = info[6].IsUndefined() ? 1 : intArg(info[6], "queries");
    std::size_t const qLength = info[3].As<Napi::TypedArray>().ElementLength();
    TV_CHECK_ARG(queries >= 1 && qLength % static_cast<std::size_t>(queries) == 0, "q.length must be a multiple of queries");
    std::size_t const dim = qLength / static_cast<std::size_t>(queries);
    TV_CHECK_ARG(n >= 1 && dim >= 1 && stride >= static_cast<int>(dim), "need n >= 1 and stride >= the query length");
    std::size_t const need = static_cast<std::size_t>(n - 1) * static_cast<std::size_t>(stride) + dim;
    TV_CHECK_ARG(info[0].As<Napi::TypedArray>().ElementLength() >= need, "rows holds fewer than (n - 1) * stride + dim values");
    std::size_t const cells = static_cast<std::size_t>(queries) * static_cast<std::size_t>(n);
    auto const* rows = typedData<std::uint16_t, napi_uint16_array>(info[0], "rows", info[0].As<Napi::TypedArray>().ElementLength());
    auto const* q = typedData<float, napi_float32_array>(info[3], "q", qLength);
    auto const* w = typedData<float, napi_float32_array>(info[4], "w", cells);
    cpu::KernelTable const& k = cpu::kernelsFor(parseLevel(info[5]));
    Napi::Float32Array scores = Napi::Float32Array::New(env, cells);
    Napi::Float32Array sum = Napi::Float32Array::New(env, qLength);
    k.dotHalfRows(rows, static_cast<std::size_t>(stride), n, q, dim, queries, static_cast<int>(dim), scores.Data(), static_cast<std::size_t>(n));
    k.weightedSumHalf(w, static_cast<std::size_t>(n), queries, rows, static_cast<std::size_t>(stride), n, static_cast<int>(dim), sum.Data(), dim);
    Napi::Object out = Napi::Object::New(env);
    out.Set("scores", scores);
    out.Set("sum", sum);
    return out;
  });
}

// softmax(x: Float32Array, scale, level, rows = 1) -> new Float32Array: the kernel table's softmax of a copy of
// x, as `rows` rows of x.length / rows values in one call.
Napi::Value softmax(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsTypedArray() && info[1].IsNumber(), "softmax(x, scale, level)");
    std::size_t const n = info[0].As<Napi::TypedArray>().ElementLength();
    TV_CHECK_ARG(n >= 1 && n <= (1u << 24), "softmax needs 1 to 2^24 values");
    int const rows = info[3].IsUndefined() ? 1 : intArg(info[3], "rows");
    TV_CHECK_ARG(rows >= 1 && n % static_cast<std::size_t>(rows) == 0, "x.length must be a multiple of rows");
    std::size_t const length = n / static_cast<std::size_t>(rows);
    auto const* x = typedData<float, napi_float32_array>(info[0], "x", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    std::copy(x, x + n, out.Data());
    cpu::kernelsFor(parseLevel(info[2])).softmax(out.Data(), length, rows, static_cast<int>(length), info[1].As<Napi::Number>().FloatValue());
    return out;
  });
}

// siluMultiply(gate: Float32Array, up: Float32Array, level) -> new Float32Array silu(gate) * up
Napi::Value siluMultiply(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsTypedArray(), "gate must be a Float32Array");
    std::size_t const n = info[0].As<Napi::TypedArray>().ElementLength();
    auto const* gate = typedData<float, napi_float32_array>(info[0], "gate", n);
    auto const* up = typedData<float, napi_float32_array>(info[1], "up", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    cpu::kernelsFor(parseLevel(info[2])).siluMultiply(gate, up, out.Data(), n);
    return out;
  });
}

// parallelForClaims(n, grain, threads, stallFirstClaimMs) -> { begin: Int32Array, end: Int32Array, byCaller:
// Uint8Array }: the ranges one ThreadPool::parallelFor call handed out, in the order they finished, and
// whether the calling thread (index 0) ran each. With stallFirstClaimMs > 0 the caller sleeps that long in
// its first range, as if the OS had preempted it, so the other threads must take over the rest of its share.
Napi::Value parallelForClaims(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::int64_t const n = intArg(info[0], "n");
    int const grain = intArg(info[1], "grain");
    int const threads = intArg(info[2], "threads");
    int const stallMs = intArg(info[3], "stallFirstClaimMs");
    TV_CHECK_ARG(n >= 0 && threads >= 1 && threads <= 64 && stallMs >= 0 && stallMs <= 1000, "bad parallelForClaims arguments");
    struct Claim {
      std::int64_t begin, end;
      bool byCaller;
    };
    std::mutex mutex;
    std::vector<Claim> claims;
    std::thread::id const caller = std::this_thread::get_id();
    bool stalled = false;
    ThreadPool pool(threads);
    pool.parallelFor(n, grain, [&](std::int64_t b, std::int64_t e) {
      bool const byCaller = std::this_thread::get_id() == caller;
      if (byCaller && stallMs > 0 && !stalled) {
        stalled = true;  // only the caller reads or writes it
        std::this_thread::sleep_for(std::chrono::milliseconds(stallMs));
      }
      std::lock_guard<std::mutex> lock(mutex);
      claims.push_back({b, e, byCaller});
    });
    Napi::Int32Array begin = Napi::Int32Array::New(env, claims.size());
    Napi::Int32Array end = Napi::Int32Array::New(env, claims.size());
    Napi::Uint8Array byCaller = Napi::Uint8Array::New(env, claims.size());
    for (std::size_t i = 0; i < claims.size(); ++i) {
      begin[i] = static_cast<std::int32_t>(claims[i].begin);
      end[i] = static_cast<std::int32_t>(claims[i].end);
      byCaller[i] = claims[i].byCaller ? 1 : 0;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("begin", begin);
    out.Set("end", end);
    out.Set("byCaller", byCaller);
    return out;
  });
}

}  // namespace

void addKernelTestHooks(Napi::Env env, Napi::Object testing) {
  testing.Set("awqQuantize", Napi::Function::New(env, awqQuantize, "awqQuantize"));
  testing.Set("awqDequantize", Napi::Function::New(env, awqDequantize, "awqDequantize"));
  testing.Set("q4Repack", Napi::Function::New(env, q4Repack, "q4Repack"));
  testing.Set("q4Nibbles", Napi::Function::New(env, q4Nibbles, "q4Nibbles"));
  testing.Set("quantizeQ8", Napi::Function::New(env, quantizeQ8, "quantizeQ8"));
  testing.Set("matmulQ4", Napi::Function::New(env, matmulQ4, "matmulQ4"));
  testing.Set("matmulDense", Napi::Function::New(env, matmulDense, "matmulDense"));
  testing.Set("q8Quantize", Napi::Function::New(env, q8Quantize, "q8Quantize"));
  testing.Set("q8Layout", Napi::Function::New(env, q8Layout, "q8Layout"));
  testing.Set("matmulQ8", Napi::Function::New(env, matmulQ8, "matmulQ8"));
  testing.Set("dotHalf", Napi::Function::New(env, dotHalf, "dotHalf"));
  testing.Set("axpyHalf", Napi::Function::New(env, axpyHalf, "axpyHalf"));
  testing.Set("siluMultiply", Napi::Function::New(env, siluMultiply, "siluMultiply"));
  testing.Set("softmax", Napi::Function::New(env, softmax, "softmax"));
  testing.Set("parallelForClaims", Napi::Function::New(env, parallelForClaims, "parallelForClaims"));
  testing.Set("attentionRows", Napi::Function::New(env, attentionRows, "attentionRows"));
}

}  // namespace tv::napi
