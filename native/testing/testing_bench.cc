// Benchmark hooks (exports.testing.bench*, used by scripts/bench-kernels.mjs): run one kernel over a
// ThreadPool on large synthetic matrices and time each repetition, next to a read-bandwidth probe
// measured the same way, so kernel GB/s can be read as a fraction of what memory delivers.
// They run synchronously on the calling thread (a benchmark wants nothing else running).
//
// Weights are allocated in enough copies to exceed the last-level cache (`minBytes`, default 256 MB)
// and the repetitions rotate through them: a decode step streams ~2 GB of weights, so a GEMV timed on
// one L3-resident matrix would overstate what the engine sees.
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"
#include "engine/cpu/awq.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/q8_buffer.h"
#include "engine/cpu/q8_weights.h"
#include "napi/js_error.h"
#include "testing/testing.h"

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#include <immintrin.h>
#define TV_BENCH_AVX2 1
#endif

namespace tv::napi {

namespace {

// Sums bytes [0, n) (n % 128 == 0) as 64-bit words: the read-bandwidth probe's inner loop. Plain
// sequential loads, no software prefetch (which measured slower): this is what the hardware streams.
std::uint64_t sumWords(std::uint64_t const* p, std::size_t words) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  for (std::size_t i = 0; i < words; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a + b + c + d;
}

#if defined(TV_BENCH_AVX2)
// The same with 32-byte loads (~10% more bandwidth than the compiler's SSE2 loop on Zen 3), used when
// the CPU has AVX2 so the probe is as fast as the AVX2 kernels can possibly read.
__attribute__((target("avx2"))) std::uint64_t sumWordsAvx2(std::uint64_t const* p, std::size_t words) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (std::size_t i = 0; i < words; i += 16) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<__m256i const*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<__m256i const*>(p + i + 4)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<__m256i const*>(p + i + 8)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<__m256i const*>(p + i + 12)));
  }
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

struct Rng {  // xorshift64: deterministic synthetic data
  std::uint64_t s = 0x9e3779b97f4a7c15ull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f; }
};

int option(Napi::Object options, char const* name, int fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

double optionDouble(Napi::Object options, char const* name, double fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

// Times `reps` calls of step(rep) (after one untimed call per copy) and returns per-rep seconds.
template <typename Step>
Napi::Array timeReps(Napi::Env env, int reps, int warmups, Step&& step) {
  for (int i = 0; i < warmups; ++i) step(i);
  Napi::Array seconds = Napi::Array::New(env, static_cast<std::size_t>(reps));
  for (int rep = 0; rep < reps; ++rep) {
    auto const start = std::chrono::steady_clock::now();
    step(rep);
    std::chrono::duration<double> const d = std::chrono::steady_clock::now() - start;
    seconds.Set(static_cast<std::uint32_t>(rep), d.count());
  }
  return seconds;
}

struct Common {
  int rows, cols, tokens, threads, reps;
  double minBytes;
  cpu::KernelTable const* table;
};

Common commonOptions(Napi::CallbackInfo const& info) {
  TV_CHECK_ARG(info[0].IsObject(), "expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  Common c;
  c.rows = option(o, "rows", 2048);
  c.cols = option(o, "cols", 2048);
  c.tokens = option(o, "tokens", 1);
  c.threads = option(o, "threads", 1);
  c.reps = option(o, "reps", 10);
  c.minBytes = optionDouble(o, "minBytes", 256.0 * 1024 * 1024);
  c.table = &cpu::kernelsFor(parseLevel(o.Get("level")));
  TV_CHECK_ARG(c.rows > 0 && c.cols > 0 && c.tokens > 0 && c.reps > 0 && c.threads >= 1 && c.threads <= 64,
               "bad benchmark options");
  return c;
}

int copiesFor(double minBytes, std::size_t bytes) {
  int const copies = static_cast<int>(minBytes / static_cast<double>(bytes)) + 1;
  return copies < 1 ? 1 : (copies > 64 ? 64 : copies);
}

Napi::Object result(Napi::Env env, Napi::Array seconds, double bytes, double macs, int copies) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("seconds", seconds);
  out.Set("weightBytes", bytes);
  out.Set("macs", macs);
  out.Set("copies", copies);
  return out;
}

// Times an int8-activation matmul kernel (table member `kernel`, over Weights::view()) on `copies`
// matrices of random weights (more bytes than the caches hold), rows split over the pool in `grain`s.
// fill(weights, rng) randomizes one matrix.
template <typename Weights, typename Kernel, typename Fill>
Napi::Value benchQuantized(Napi::Env env, Common const& c, Kernel cpu::KernelTable::*kernel, int span, int grain, Fill&& fill) {
  TV_CHECK_ARG(c.cols % cpu::kQ4GroupSize == 0, "cols must be a multiple of 128");
  Rng rng;
  std::vector<Weights> weights;
  std::size_t const bytes = Weights(c.rows, c.cols).bytes();
  int const copies = copiesFor(c.minBytes, bytes);
  for (int i = 0; i < copies; ++i) {
    Weights w(c.rows, c.cols);
    fill(w, rng);
    weights.push_back(std::move(w));
  }
  std::vector<float> x(static_cast<std::size_t>(c.tokens) * c.cols);
  for (float& v : x) v = rng.uniform();
  cpu::Q8Buffer q(c.tokens, c.cols);
  q.quantize(*c.table, span, x.data(), c.cols, c.tokens);
  std::vector<float> y(static_cast<std::size_t>(c.tokens) * c.rows);
  ThreadPool pool(c.threads);
  auto const run = c.table->*kernel;
  auto step = [&](int rep) {
    auto const m = weights[static_cast<std::size_t>(rep % copies)].view();
    pool.parallelFor(c.rows, grain, [&](std::int64_t b, std::int64_t e) {
      run(m, q.rows(), c.tokens, y.data(), c.rows, static_cast<int>(b), static_cast<int>(e));
    });
  };
  Napi::Array seconds = timeReps(env, c.reps, copies, step);
  return result(env, seconds, static_cast<double>(bytes), static_cast<double>(c.rows) * c.cols * c.tokens, copies);
}

// benchQ4({ rows, cols, tokens, threads, reps, level, minBytes }) -> { seconds[], weightBytes, macs, copies }
Napi::Value benchQ4(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Common const c = commonOptions(info);
    return benchQuantized<cpu::Q4Weights>(env, c, &cpu::KernelTable::matmulQ4, cpu::kQ4ActivationSpan, cpu::kQ4TileRows, [&](cpu::Q4Weights& w, Rng& rng) {
      std::size_t const nibbleBytes = static_cast<std::size_t>(w.tiles()) * (c.cols / 32) * cpu::kQ4BlockBytes;
      for (std::size_t j = 0; j < nibbleBytes; ++j) w.nibbles()[j] = static_cast<std::uint8_t>(rng.next());
      std::size_t const groupEntries = static_cast<std::size_t>(w.tiles()) * (c.cols / 128) * cpu::kQ4TileRows;
      for (std::size_t j = 0; j < groupEntries; ++j) {
        w.scales()[j] = floatToHalf(0.01f + 0.01f * std::abs(rng.uniform()));
        w.zeros()[j] = static_cast<std::uint8_t>(rng.next() & 15);
      }
    });
  });
}

// benchQ8({ rows, cols, tokens, threads, reps, level, minBytes }) -> { seconds[], weightBytes, macs, copies }
Napi::Value benchQ8(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Common const c = commonOptions(info);
    // Split in 16 rows, as Linear does (kRowGrain).
    return benchQuantized<cpu::Q8Weights>(env, c, &cpu::KernelTable::matmulQ8, cpu::kQ8BlockSize, 16, [&](cpu::Q8Weights& w, Rng& rng) {
      std::size_t const blocks = static_cast<std::size_t>(w.tiles()) * (c.cols / cpu::kQ8BlockSize);
      for (std::size_t j = 0; j < blocks * cpu::kQ8WeightBlockBytes; ++j) {
        w.values()[j] = static_cast<std::int8_t>(static_cast<int>(rng.next() % 255) - 127);
      }
      for (std::size_t j = 0; j < blocks * cpu::kQ8TileRows; ++j) w.scales()[j] = floatToHalf(0.001f + 0.001f * std::abs(rng.uniform()));
    });
  });
}

// benchDense({ type: 'f16' | 'bf16' | 'f32', rows, cols, tokens, threads, reps, level, minBytes })
Napi::Value benchDense(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Common const c = commonOptions(info);
    Napi::Value typeValue = info[0].As<Napi::Object>().Get("type");
    std::string const type = typeValue.IsString() ? typeValue.As<Napi::String>().Utf8Value() : "f16";
    cpu::DenseMatrix w;
    w.rows = c.rows;
    w.cols = c.cols;
    w.type = type == "f32" ? cpu::DenseType::kF32 : type == "bf16" ? cpu::DenseType::kBF16 : cpu::DenseType::kF16;
    std::size_t const elementBytes = w.type == cpu::DenseType::kF32 ? 4 : 2;
    std::size_t const bytes = static_cast<std::size_t>(c.rows) * c.cols * elementBytes;
    int const copies = copiesFor(c.minBytes, bytes);
    Rng rng;
    std::vector<AlignedBuffer<std::uint8_t>> data;
    for (int i = 0; i < copies; ++i) {
      AlignedBuffer<std::uint8_t> buffer(bytes);
      for (std::size_t j = 0; j < bytes / elementBytes; ++j) {
        float const v = 0.05f * rng.uniform();
        if (w.type == cpu::DenseType::kF32) {
          std::memcpy(buffer.data() + j * 4, &v, 4);
        } else {
          std::uint16_t const h = w.type == cpu::DenseType::kF16 ? floatToHalf(v) : floatToBf16(v);
          std::memcpy(buffer.data() + j * 2, &h, 2);
        }
      }
      data.push_back(std::move(buffer));
    }
    std::vector<float> x(static_cast<std::size_t>(c.tokens) * c.cols);
    for (float& v : x) v = rng.uniform();
    std::vector<float> y(static_cast<std::size_t>(c.tokens) * c.rows);
    ThreadPool pool(c.threads);
    auto step = [&](int rep) {
      cpu::DenseMatrix m = w;
      m.data = data[static_cast<std::size_t>(rep % copies)].data();
      pool.parallelFor(c.rows, 4, [&](std::int64_t b, std::int64_t e) {
        c.table->matmulDense(m, x.data(), c.cols, c.tokens, y.data(), c.rows, static_cast<int>(b), static_cast<int>(e));
      });
    };
    Napi::Array seconds = timeReps(env, c.reps, copies, step);
    return result(env, seconds, static_cast<double>(bytes), static_cast<double>(c.rows) * c.cols * c.tokens, copies);
  });
}

// readBandwidth({ megabytes = 512, threads, reps }) -> { seconds[], bytes }: every thread sums its
// contiguous share of one large buffer with the widest loads this CPU has.
Napi::Value readBandwidth(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsObject(), "expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    int const threads = option(o, "threads", 1), reps = option(o, "reps", 5);
    std::size_t const bytes = static_cast<std::size_t>(option(o, "megabytes", 512)) << 20;
    TV_CHECK_ARG(threads >= 1 && threads <= 64 && reps >= 1 && bytes > 0, "bad bandwidth options");
    std::size_t const words = bytes / sizeof(std::uint64_t);
    std::size_t const per = words / static_cast<std::size_t>(threads) / 16 * 16;  // whole 128-byte steps
    AlignedBuffer<std::uint64_t> buffer(words);
    for (std::size_t i = 0; i < words; ++i) buffer[i] = i;
    bool const avx2 = cpuFeatures().avx2;
    ThreadPool pool(threads);
    std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads) * 8);
    auto step = [&](int) {
      pool.run([&](int index, int) {
        std::uint64_t const* p = buffer.data() + per * static_cast<std::size_t>(index);
#if defined(TV_BENCH_AVX2)
        std::uint64_t const sum = avx2 ? sumWordsAvx2(p, per) : sumWords(p, per);
#else
        std::uint64_t const sum = sumWords(p, per);
        (void)avx2;
#endif
        sums[static_cast<std::size_t>(index) * 8] = sum;  // one cache line per thread
      });
    };
    Napi::Array seconds = timeReps(env, reps, 1, step);
    Napi::Object out = Napi::Object::New(env);
    out.Set("seconds", seconds);
    out.Set("bytes", static_cast<double>(per * threads * sizeof(std::uint64_t)));
    return out;
  });
}

}  // namespace

void addBenchHooks(Napi::Env env, Napi::Object testing) {
  testing.Set("benchQ4", Napi::Function::New(env, benchQ4, "benchQ4"));
  testing.Set("benchDense", Napi::Function::New(env, benchDense, "benchDense"));
  testing.Set("benchQ8", Napi::Function::New(env, benchQ8, "benchQ8"));
  testing.Set("readBandwidth", Napi::Function::New(env, readBandwidth, "readBandwidth"));
}

}  // namespace tv::napi
