// trt-vla-gpu-check: the CUDA code against its CPU references on a bare CUDA machine (no Node), with
// one JSON report. scripts/gpu-check.sh builds and runs it; docs/gpu-check.md says how and why.
//
//   trt-vla-gpu-check --report FILE [--model DIR]... [--timed-runs 20] [--decode-steps 64] [--threads N]
//   trt-vla-gpu-check --make-model RECIPE.json OUT_DIR
//
// 1. Every kernel (preprocessing, embedding splice, M-RoPE table, sampling, logits expansion) against the
//    CPU path it reproduces (native/checks/kernel_checks.h, the runs the test addon's hooks make), on the
//    shapes the tests use and on Qwen2.5-VL-3B's; exact where the tests require exactness (all but the
//    rope table: 1e-6, device cosf / sinf); the median of --timed-runs launches between CUDA events.
// 2. A greedy decode step's device side (sampling -> embedding of the picked token, no host round
//    trip) as direct launches and as one captured CUDA graph replayed, against the host sampler.
// 3. Each --model: the device pipeline against the host pipeline on the CPU engines
//    (native/checks/pipeline_check.h): the same tokens, stop reason and step counts; frames in mapped
//    pinned memory read in place by the preprocessing kernel.
// Exits 1 on any mismatch or failure, 2 on bad arguments; prints one summary line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "checks/kernel_checks.h"
#include "checks/pipeline_check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "cuda/device.h"
#include "engine/cpu/checkpoint_tools.h"

namespace tv::checks {
namespace {

namespace fs = std::filesystem;

// ---- a small JSON writer (the report) --------------------------------------------------------------
std::string quote(std::string const& s) {
  std::string out = "\"";
  for (char ch : s) {
    auto const c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}
std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// ---- deterministic inputs ---------------------------------------------------------------------------
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  std::uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  float normal() {
    double const u = std::max(uniform(), 1e-12);
    return static_cast<float>(std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform()));
  }

 private:
  std::uint64_t state_;
};

std::vector<std::uint8_t> randomBytes(std::size_t n, std::uint64_t seed) {
  Random r(seed);
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(r.next() >> 56);
  return out;
}

// Logits like a decoder's: roughly normal, with exact ties and a few -inf (as the tests make them).
std::vector<float> randomLogits(std::size_t n, std::uint64_t seed) {
  Random r(seed);
  std::vector<float> out(n);
  for (float& v : out) {
    double const u = r.uniform();
    if (u < 0.01) v = -INFINITY;
    else if (u < 0.2) v = static_cast<float>(std::round((r.uniform() - 0.5) * 16) / 2);
    else v = 3.0f * r.normal();
  }
  return out;
}

std::vector<std::uint16_t> randomHalves(std::size_t n, std::uint64_t seed) {
  Random r(seed);
  std::vector<std::uint16_t> out(n);
  for (auto& h : out) h = floatToHalf(r.normal());
  return out;
}

// An F16 [vocab, hidden] table "embedding" in a safetensors file (written once per shape).
std::string embeddingFile(fs::path const& dir, int vocab, int hidden) {
  fs::path const file = dir / ("embedding-" + std::to_string(vocab) + "x" + std::to_string(hidden) + ".safetensors");
  if (fs::exists(file)) return file.string();
  SafetensorsWriter writer;
  writer.add("embedding", DType::kF16, {vocab, hidden}, [&](std::uint8_t* dst, std::size_t bytes) {
    // Random signs and mantissas at magnitudes in [2^-3, 2^-1): four halves per draw, cheap enough for
    // Qwen's 311M-entry table (a gather only has to copy the bits).
    Random r(static_cast<std::uint64_t>(vocab) * 131 + static_cast<std::uint64_t>(hidden));
    auto* h = reinterpret_cast<std::uint16_t*>(dst);
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < bytes / 2; ++i) {
      if (i % 4 == 0) bits = r.next();
      auto const v = static_cast<std::uint16_t>(bits >> (16 * (i % 4)));
      h[i] = static_cast<std::uint16_t>((v & 0x83ffu) | (0x3000u + ((v & 0x0400u) ? 0x0400u : 0u)));
    }
  });
  writer.write(file.string());
  return file.string();
}

// ---- comparisons -------------------------------------------------------------------------------------
struct Comparison {
  std::size_t elements = 0;
  std::size_t mismatches = 0;  // elements whose bits differ
  double maxAbsError = 0;      // over the finite pairs; NaN where a value is NaN on one side only
};

template <typename T, typename ToDouble>
Comparison compare(std::vector<T> const& gpu, std::vector<T> const& cpu, ToDouble&& value) {
  Comparison c;
  c.elements = cpu.size();
  if (gpu.size() != cpu.size()) {
    c.mismatches = std::max(gpu.size(), cpu.size());
    c.maxAbsError = NAN;
    return c;
  }
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    if (std::memcmp(&gpu[i], &cpu[i], sizeof(T)) == 0) continue;
    ++c.mismatches;
    double const a = value(gpu[i]);
    double const b = value(cpu[i]);
    if (std::isnan(a) != std::isnan(b)) {
      c.maxAbsError = NAN;
    } else if (std::isfinite(a) && std::isfinite(b) && !std::isnan(c.maxAbsError)) {
      c.maxAbsError = std::max(c.maxAbsError, std::fabs(a - b));
    } else if (!std::isnan(a) && a != b) {
      c.maxAbsError = INFINITY;  // infinities of different sign, or one side infinite
    }
  }
  return c;
}
Comparison compareHalves(std::vector<std::uint16_t> const& g, std::vector<std::uint16_t> const& c) {
  return compare(g, c, [](std::uint16_t h) { return static_cast<double>(halfToFloat(h)); });
}
Comparison compareFloats(std::vector<float> const& g, std::vector<float> const& c) {
  return compare(g, c, [](float f) { return static_cast<double>(f); });
}
Comparison compareInts(std::vector<std::int32_t> const& g, std::vector<std::int32_t> const& c) {
  return compare(g, c, [](std::int32_t v) { return static_cast<double>(v); });
}
Comparison combine(Comparison a, Comparison const& b) {
  a.elements += b.elements;
  a.mismatches += b.mismatches;
  if (std::isnan(a.maxAbsError) || std::isnan(b.maxAbsError)) a.maxAbsError = NAN;
  else a.maxAbsError = std::max(a.maxAbsError, b.maxAbsError);
  return a;
}

struct KernelCase {
  std::string kernel;
  std::string shapes;  // "tests" | "qwen2.5-vl-3b"
  std::string name;
  bool exact = true;
  double tolerance = 0;  // max abs error allowed where not exact
  Comparison result;
  KernelTiming timing;
  double graphMedianMs = -1;  // the decode step replayed as a graph
  std::string note;
  std::string error;
  double wallMs = 0;
  bool passed() const {
    if (!error.empty()) return false;
    if (exact) return result.mismatches == 0;
    return !std::isnan(result.maxAbsError) && result.maxAbsError <= tolerance;
  }
};

KernelCase kernelCase(std::string kernel, std::string shapes, std::string name) {
  KernelCase c;
  c.kernel = std::move(kernel);
  c.shapes = std::move(shapes);
  c.name = std::move(name);
  return c;
}

class KernelChecks {
 public:
  KernelChecks(fs::path scratch, int timedRuns) : scratch_(std::move(scratch)), timedRuns_(timedRuns) {}

  std::vector<KernelCase> const& cases() const { return cases_; }

  void run() {
    preprocessCases();
    embedCases();
    ropeCases();
    sampleCases();
    expandCases();
    decodeStepCases();
  }

 private:
  // Runs one case; an exception is the case's error (the other cases still run).
  void add(KernelCase c, std::function<void(KernelCase&)> const& body) {
    auto const start = std::chrono::steady_clock::now();
    c.timing.runs = timedRuns_;
    try {
      body(c);
    } catch (std::exception const& e) {
      c.error = e.what();
    }
    c.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "  %-10s %-14s %-52s %s (%.0f ms)\n", c.kernel.c_str(), c.shapes.c_str(), c.name.c_str(),
                 c.passed() ? "ok" : "MISMATCH", c.wallMs);
    cases_.push_back(std::move(c));
  }

  void preprocessCase(std::string const& shapes, std::string name, FrameInput frame, vla::PreprocessConfig const& config, bool mapped) {
    add(kernelCase("preprocess", shapes, std::move(name)), [&, frame = std::move(frame)](KernelCase& c) {
      cuda::PreprocessPlan const plan = preprocessPlan(frame, config);
      std::vector<std::uint8_t> const before = frame.data;
      c.result = compareHalves(preprocessOnGpu(plan, frame.data, mapped, &c.timing), preprocessOnCpu(frame, config));
      TV_CHECK_INTERNAL(frame.data == before, "the frame's bytes changed");
      bool const canMap = cuda::runtimeStatus().devices.front().canMapHostMemory;
      c.note = mapped ? (canMap ? "read in place from mapped pinned memory" : "device cannot map host memory: read from a device copy")
                      : "read from a device copy";
    });
  }

  void preprocessCases() {
    auto frame = [](char const* format, int width, int height, int stride, std::uint64_t seed) {
      FrameInput f;
      f.format = format;
      f.width = width;
      f.height = height;
      f.stride = stride;
      int const bpp = std::strcmp(format, "nv12") == 0 ? 1 : (std::strcmp(format, "rgba8") == 0 || std::strcmp(format, "bgra8") == 0) ? 4 : 3;
      std::size_t bytes = static_cast<std::size_t>(stride == 0 ? width * bpp : stride) * static_cast<std::size_t>(height);
      if (std::strcmp(format, "nv12") == 0) bytes = bytes * 3 / 2;
      f.data = randomBytes(bytes, seed);
      return f;
    };
    vla::PreprocessConfig const plain;
    preprocessCase("tests", "rgb8 64x64", frame("rgb8", 64, 64, 0, 1), plain, true);
    preprocessCase("tests", "bgr8 97x61", frame("bgr8", 97, 61, 0, 2), plain, true);
    preprocessCase("tests", "rgba8 130x74, padded stride", frame("rgba8", 130, 74, 130 * 4 + 24, 4), plain, true);
    preprocessCase("tests", "nv12 200x112", frame("nv12", 200, 112, 0, 5), plain, true);
    // A nuScenes camera frame with the Impromptu checkpoints' regularisation (262144 / 1024 pixels).
    vla::PreprocessConfig impromptu;
    impromptu.preResizeMaxPixels = 262144;
    impromptu.preResizeMinPixels = 1024;
    preprocessCase("qwen2.5-vl-3b", "rgb8 1600x900, Impromptu regularisation", frame("rgb8", 1600, 900, 0, 6), impromptu, true);
    preprocessCase("qwen2.5-vl-3b", "rgb8 1600x900, Impromptu, uploaded", frame("rgb8", 1600, 900, 0, 6), impromptu, false);
    preprocessCase("qwen2.5-vl-3b", "nv12 1600x900, Impromptu regularisation", frame("nv12", 1600, 900, 0, 7), impromptu, true);
  }

  void embedCase(std::string const& shapes, std::string name, int vocab, int hidden, int textTokens, int imageRows, bool misalign) {
    add(kernelCase("embed", shapes, std::move(name)), [&](KernelCase& c) {
      EmbedInput in;
      in.file = embeddingFile(scratch_, vocab, hidden);
      in.name = "embedding";
      in.vocab = vocab;
      in.hidden = hidden;
      in.imageTokenId = vocab - 1;
      Random r(static_cast<std::uint64_t>(textTokens) * 7 + static_cast<std::uint64_t>(imageRows));
      for (int i = 0; i < textTokens; ++i) in.ids.push_back(static_cast<std::int32_t>(r.next() % static_cast<std::uint64_t>(vocab - 1)));
      // The image's rows in one run after the first few text tokens, as a prompt has them.
      in.ids.insert(in.ids.begin() + std::min(textTokens, 3), static_cast<std::size_t>(imageRows), in.imageTokenId);
      in.image = randomHalves(static_cast<std::size_t>(imageRows) * static_cast<std::size_t>(hidden), 11);
      in.imageRows = imageRows;
      in.misalign = misalign;
      c.result = compareHalves(embedOnGpu(in, &c.timing), embedOnCpu(in));
    });
  }

  void embedCases() {
    embedCase("tests", "vocab 1000 x hidden 64, 40 tokens + 8 image rows", 1000, 64, 40, 8, false);
    embedCase("tests", "vocab 1000 x hidden 64, misaligned by 2 bytes", 1000, 64, 40, 8, true);
    // A 1600x900 frame under the Impromptu regularisation gives 1036 image tokens (37 x 28 after the merge).
    embedCase("qwen2.5-vl-3b", "vocab 151936 x hidden 2048, 180 tokens + 1036 image rows", 151936, 2048, 180, 1036, false);
  }

  void ropeCase(std::string const& shapes, std::string name, RopeInput in) {
    add(kernelCase("rope", shapes, std::move(name)), [&, in = std::move(in)](KernelCase& c) {
      c.exact = false;
      c.tolerance = 1e-6;  // device cosf / sinf within 2 ulp, glibc's within 1 (test/native/cudaKernels.test.ts)
      c.result = compareFloats(ropeOnGpu(in, &c.timing), ropeOnCpu(in));
    });
  }

  void ropeCases() {
    auto ids = [](int before, int imageTokens, int after, std::int32_t pad) {
      std::vector<std::int32_t> v;
      for (int i = 0; i < before; ++i) v.push_back(100 + i);
      v.insert(v.end(), static_cast<std::size_t>(imageTokens), pad);
      for (int i = 0; i < after; ++i) v.push_back(200 + i);
      return v;
    };
    std::int32_t const pad = 151655;
    RopeInput small;
    small.ids = ids(5, 16, 7, pad);
    small.imageTokenId = pad;
    small.grids = {vla::ImageGrid{1, 8, 8}};
    small.capacity = 64;
    small.headDim = 16;
    small.mropeSection = {2, 3, 3};
    ropeCase("tests", "capacity 64, headDim 16, one 8x8 grid", small);
    RopeInput window = small;
    window.rowBegin = 20;
    window.rowEnd = 40;
    ropeCase("tests", "capacity 64, rows [20, 40)", window);
    RopeInput qwen;
    qwen.ids = ids(15, 1036, 165, pad);
    qwen.imageTokenId = pad;
    qwen.grids = {vla::ImageGrid{1, 56, 74}};
    qwen.capacity = 4096;
    qwen.headDim = 128;
    qwen.mropeSection = {16, 24, 24};
    ropeCase("qwen2.5-vl-3b", "capacity 4096, headDim 128, 1036 image tokens", qwen);
  }

  void sampleCase(std::string const& shapes, std::string name, int vocab, int steps, vla::SamplingConfig config, bool masked) {
    add(kernelCase("sample", shapes, std::move(name)), [&](KernelCase& c) {
      SampleInput in;
      in.vocab = vocab;
      in.steps = steps;
      in.logits = randomLogits(static_cast<std::size_t>(vocab) * static_cast<std::size_t>(steps), static_cast<std::uint64_t>(vocab) + config.seed);
      in.config = config;
      in.prompt = {1, 2, 3, 17, 17, 42};
      if (masked) {
        for (int id = 0; id < vocab; id += 7) in.allowed.push_back(id);
      }
      SampleRun const gpu = sampleOnGpu(in, &c.timing);
      SampleRun const cpu = sampleOnCpu(in);
      c.result = combine(compareInts(gpu.tokens, cpu.tokens), compareFloats(gpu.logits, cpu.logits));
    });
  }

  void sampleCases() {
    vla::SamplingConfig greedy;
    vla::SamplingConfig sampled;
    sampled.temperature = 0.9;
    sampled.topK = 40;
    sampled.topP = 0.95;
    sampled.repetitionPenalty = 1.1;
    sampled.seed = 7;
    vla::SamplingConfig everyToken;
    everyToken.temperature = 0.7;
    everyToken.topP = 0.9;
    everyToken.repetitionPenalty = 1.05;
    everyToken.seed = 3;
    sampleCase("tests", "vocab 1000, greedy, 4 steps", 1000, 4, greedy, false);
    sampleCase("tests", "vocab 1000, t 0.9 top-k 40 top-p 0.95 penalty 1.1", 1000, 4, sampled, false);
    sampleCase("tests", "vocab 1000, allowed list, sampled", 1000, 4, sampled, true);
    sampleCase("qwen2.5-vl-3b", "vocab 151936, greedy, penalty 1.05", 151936, 2, [] {
      vla::SamplingConfig c;
      c.repetitionPenalty = 1.05;
      return c;
    }(), false);
    sampleCase("qwen2.5-vl-3b", "vocab 151936, t 0.9 top-k 40 top-p 0.95", 151936, 2, sampled, false);
    sampleCase("qwen2.5-vl-3b", "vocab 151936, top-p 0.9, every token a candidate", 151936, 1, everyToken, false);
  }

  void expandCase(std::string const& shapes, std::string name, int reduced, int full) {
    add(kernelCase("expand", shapes, std::move(name)), [&](KernelCase& c) {
      ExpandInput in;
      in.fullCount = full;
      in.reduced = randomLogits(static_cast<std::size_t>(reduced), 99);
      // Every id below reduced - 6, then the Qwen special ids at the top of the vocabulary.
      for (int id = 0; id < reduced - 6; ++id) in.map.push_back(id);
      for (int id = full - 6; id < full; ++id) in.map.push_back(id);
      c.result = compareFloats(expandLogitsOnGpu(in, &c.timing), expandLogitsOnCpu(in));
    });
  }

  void expandCases() {
    expandCase("tests", "1006 reduced ids -> 2000", 1006, 2000);
    expandCase("qwen2.5-vl-3b", "32006 reduced ids -> 151936", 32006, 151936);
  }

  void decodeStepCases() {
    add(kernelCase("decode-step", "qwen2.5-vl-3b", "greedy sample -> embed, direct launches and a CUDA graph replay"), [&](KernelCase& c) {
      DecodeStepInput in;
      in.file = embeddingFile(scratch_, 151936, 2048);
      in.name = "embedding";
      in.vocab = 151936;
      in.hidden = 2048;
      in.steps = 4;
      in.logits = randomLogits(static_cast<std::size_t>(in.vocab) * static_cast<std::size_t>(in.steps), 5);
      DecodeStepRun const cpu = decodeStepsOnCpu(in);
      DecodeStepRun const direct = decodeStepsDirect(in, &c.timing);
      KernelTiming graphTiming;
      graphTiming.runs = timedRuns_;
      DecodeStepRun const graph = decodeStepsGraph(in, &graphTiming);
      c.graphMedianMs = graphTiming.medianMs;
      c.result = combine(combine(compareInts(direct.tokens, cpu.tokens), compareHalves(direct.rows, cpu.rows)),
                         combine(compareInts(graph.tokens, cpu.tokens), compareHalves(graph.rows, cpu.rows)));
      c.note = "captured once, replayed for each of 4 steps";
    });
  }

  fs::path scratch_;
  int timedRuns_;
  std::vector<KernelCase> cases_;
};

struct ModelResult {
  std::string dir;
  std::vector<PipelineCase> cases;
  std::string error;
  double wallMs = 0;
  bool passed() const {
    return error.empty() && !cases.empty() && std::all_of(cases.begin(), cases.end(), [](PipelineCase const& c) { return c.passed; });
  }
};

// ---- make-model: a generated model from its recipe ---------------------------------------------------
// A recipe (scripts/gpu-check.sh --recipes writes them from `trt-vla make-model`) lists the JSON files
// and the random checkpoints of a model; the checkpoints are written by the generator's own native code
// (engine/cpu/checkpoint_tools.h: same seed and plan, same bytes), then checked against the FNV-1a
// digests of make-model's files. So a model of hundreds of MB travels as a few kB.
std::uint64_t fileDigest(std::string const& path) {
  std::ifstream in(path, std::ios::binary);
  TV_CHECK(in.good(), ErrorCode::kInvalidArgument, "cannot read ", path);
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buffer[static_cast<std::size_t>(i)]);
      h *= 0x100000001b3ull;  // FNV prime
    }
  }
  return h;
}

void makeModel(std::string const& recipePath, fs::path const& out, int threads) {
  JsonValue const recipe = readJsonFile(recipePath);
  JsonFields const fields(recipe, recipePath, ErrorCode::kInvalidArgument);
  fs::create_directories(out);
  JsonValue const& files = fields.get("json");
  TV_CHECK_ARG(files.isObject(), recipePath, ": json must map file names to their text");
  for (auto const& [name, text] : files.members()) {
    TV_CHECK_ARG(text.isString(), recipePath, ": json.", name, " must be a string");
    fs::create_directories((out / name).parent_path());
    std::ofstream(out / name, std::ios::binary) << text.string();
  }
  ThreadPool pool(threads);
  JsonValue const& checkpoints = fields.get("checkpoints");
  TV_CHECK_ARG(checkpoints.isArray(), recipePath, ": checkpoints must be an array");
  for (JsonValue const& checkpoint : checkpoints.items()) {
    JsonFields const c(checkpoint, recipePath + " checkpoint", ErrorCode::kInvalidArgument);
    std::string const file = c.string("file");
    std::vector<engine::cpu::TensorPlan> plan;
    for (JsonValue const& entry : c.get("plan").items()) {
      JsonFields const e(entry, recipePath + " plan entry", ErrorCode::kInvalidArgument);
      engine::cpu::TensorPlan t;
      t.name = e.string("name");
      std::string const dtype = e.has("dtype") ? e.string("dtype") : "F16";
      t.dtype = dtype == "F32" ? DType::kF32 : dtype == "BF16" ? DType::kBF16 : DType::kF16;
      for (JsonValue const& d : e.get("shape").items()) t.shape.push_back(d.integer());
      t.init = e.has("init") && e.string("init") == "constant" ? engine::cpu::InitKind::kConstant : engine::cpu::InitKind::kNormal;
      t.stddev = e.number("std", t.stddev);
      t.mean = e.number("mean", t.mean);
      t.seedName = e.has("seedName") ? e.string("seedName") : "";
      t.awq = e.boolean("awq", false);
      plan.push_back(std::move(t));
    }
    std::vector<std::pair<std::string, std::string>> metadata;
    if (c.has("metadata")) {
      for (auto const& [k, v] : c.get("metadata").members()) metadata.emplace_back(k, v.string());
    }
    std::string const path = (out / file).string();
    fs::create_directories(fs::path(path).parent_path());
    engine::cpu::writeRandomCheckpoint(path, plan, static_cast<std::uint64_t>(c.integer("seed")), pool, metadata);
    char expected[17];
    std::snprintf(expected, sizeof expected, "%016llx", static_cast<unsigned long long>(fileDigest(path)));
    TV_CHECK_ARG(c.string("fnv1a64") == expected, path, ": digest ", expected, " differs from make-model's ", c.string("fnv1a64"));
  }
  std::printf("trt-vla-gpu-check: wrote %s from %s (digests match make-model's)\n", out.string().c_str(), recipePath.c_str());
}

// ---- the report ----------------------------------------------------------------------------------------
std::string report(KernelChecks const& kernels, std::vector<ModelResult> const& models, double wallMs, int timedRuns) {
  std::ostringstream o;
  cuda::RuntimeStatus const& status = cuda::runtimeStatus();
  cuda::DeviceInfo const& d = status.devices.front();
  o << "{\n  \"tool\": \"trt-vla-gpu-check\",\n  \"version\": " << quote(TRT_VLA_VERSION) << ",\n  \"gitRevision\": "
    << quote(TRT_VLA_GIT_REVISION) << ",\n  \"cudaArchitectures\": " << quote(TRT_VLA_CUDA_ARCHS) << ",\n";
  o << "  \"device\": {\"name\": " << quote(d.name) << ", \"computeCapability\": \"" << d.smMajor << "." << d.smMinor
    << "\", \"multiprocessors\": " << d.multiprocessors << ", \"totalMemoryBytes\": " << d.totalMemory
    << ", \"canMapHostMemory\": " << (d.canMapHostMemory ? "true" : "false") << ", \"driverVersion\": "
    << quote(cuda::formatCudaVersion(status.driverVersion)) << ", \"runtimeVersion\": " << quote(cuda::formatCudaVersion(status.runtimeVersion))
    << "},\n";
  o << "  \"timedRuns\": " << timedRuns << ",\n  \"kernels\": [\n";
  for (std::size_t i = 0; i < kernels.cases().size(); ++i) {
    KernelCase const& c = kernels.cases()[i];
    o << "    {\"kernel\": " << quote(c.kernel) << ", \"shapes\": " << quote(c.shapes) << ", \"name\": " << quote(c.name)
      << ", \"passed\": " << (c.passed() ? "true" : "false") << ", \"exact\": " << (c.exact ? "true" : "false")
      << ", \"tolerance\": " << number(c.tolerance) << ", \"elements\": " << c.result.elements << ", \"mismatches\": " << c.result.mismatches
      << ", \"maxAbsError\": " << number(c.result.maxAbsError) << ", \"medianMs\": " << number(c.timing.medianMs);
    if (c.graphMedianMs >= 0) o << ", \"graphMedianMs\": " << number(c.graphMedianMs);
    o << ", \"wallMs\": " << number(c.wallMs);
    if (!c.note.empty()) o << ", \"note\": " << quote(c.note);
    if (!c.error.empty()) o << ", \"error\": " << quote(c.error);
    o << "}" << (i + 1 < kernels.cases().size() ? "," : "") << "\n";
  }
  o << "  ],\n  \"models\": [\n";
  for (std::size_t m = 0; m < models.size(); ++m) {
    ModelResult const& r = models[m];
    o << "    {\"dir\": " << quote(r.dir) << ", \"passed\": " << (r.passed() ? "true" : "false") << ", \"wallMs\": " << number(r.wallMs);
    if (!r.error.empty()) o << ", \"error\": " << quote(r.error);
    o << ", \"pipeline\": [\n";
    for (std::size_t i = 0; i < r.cases.size(); ++i) {
      PipelineCase const& c = r.cases[i];
      o << "      {\"name\": " << quote(c.name) << ", \"passed\": " << (c.passed ? "true" : "false") << ", \"promptTokens\": " << c.promptTokens
        << ", \"imageTokens\": " << c.imageTokens << ", \"generatedTokens\": " << c.tokens.size() << ", \"forwardPasses\": " << c.forwardPasses
        << ", \"framesMapped\": " << (c.framesMapped ? "true" : "false") << ", \"hostMs\": " << number(c.hostMs)
        << ", \"deviceMs\": " << number(c.deviceMs) << ", \"problems\": [";
      for (std::size_t p = 0; p < c.problems.size(); ++p) o << (p ? ", " : "") << quote(c.problems[p]);
      o << "], \"tokens\": [";
      for (std::size_t t = 0; t < c.tokens.size(); ++t) o << (t ? "," : "") << c.tokens[t];
      o << "]}" << (i + 1 < r.cases.size() ? "," : "") << "\n";
    }
    o << "    ]}" << (m + 1 < models.size() ? "," : "") << "\n";
  }
  o << "  ],\n  \"wallMs\": " << number(wallMs) << "\n}\n";
  return o.str();
}

int usage(char const* problem) {
  std::fprintf(stderr,
               "trt-vla-gpu-check: %s\n"
               "usage: trt-vla-gpu-check --report FILE [--model DIR]... [--timed-runs N] [--decode-steps N] [--threads N]\n"
               "       trt-vla-gpu-check --make-model RECIPE.json OUT_DIR [--threads N]\n",
               problem);
  return 2;
}

int run(int argc, char** argv) {
  std::string reportPath, recipe, recipeOut;
  std::vector<std::string> modelDirs;
  int timedRuns = 20, decodeSteps = 64, threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    auto integer = [&](int min, int max) {
      std::string const v = value();
      char* end = nullptr;
      long const n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < min || n > max) throw std::invalid_argument(a + " needs an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
      return static_cast<int>(n);
    };
    if (a == "--report") reportPath = value();
    else if (a == "--model") modelDirs.push_back(value());
    else if (a == "--timed-runs") timedRuns = integer(0, 1000);
    else if (a == "--decode-steps") decodeSteps = integer(1, 512);
    else if (a == "--threads") threads = integer(1, 256);
    else if (a == "--make-model") {
      recipe = value();
      recipeOut = value();
    } else throw std::invalid_argument("unknown argument " + a);
  }
  if (!recipe.empty()) {
    makeModel(recipe, recipeOut, threads);
    return 0;
  }
  if (reportPath.empty()) return usage("--report FILE is required");
  if (!cuda::deviceAvailable()) {
    std::printf("trt-vla-gpu-check: FAIL: %s\n", cuda::runtimeStatus().reason.c_str());
    return 1;
  }
  auto const start = std::chrono::steady_clock::now();
  fs::path const scratch = fs::temp_directory_path() / ("trt-vla-gpu-check-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::fprintf(stderr, "trt-vla-gpu-check: kernels against their CPU references (%d timed runs each)\n", timedRuns);
  KernelChecks kernels(scratch, timedRuns);
  kernels.run();
  fs::remove_all(scratch);

  std::vector<ModelResult> models;
  for (std::string const& dir : modelDirs) {
    std::fprintf(stderr, "trt-vla-gpu-check: device pipeline = host pipeline on %s\n", dir.c_str());
    ModelResult r;
    r.dir = dir;
    auto const t0 = std::chrono::steady_clock::now();
    try {
      PipelineCheckOptions options;
      options.modelDir = dir;
      options.decodeSteps = decodeSteps;
      options.threads = threads;
      r.cases = checkDevicePipeline(options);
    } catch (std::exception const& e) {
      r.error = e.what();
    }
    r.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (PipelineCase const& c : r.cases) {
      std::fprintf(stderr, "  %-60s %s (host %.0f ms, device %.0f ms)\n", c.name.c_str(), c.passed ? "ok" : "MISMATCH", c.hostMs, c.deviceMs);
      for (std::string const& p : c.problems) std::fprintf(stderr, "    %s\n", p.c_str());
    }
    if (!r.error.empty()) std::fprintf(stderr, "  FAILED: %s\n", r.error.c_str());
    models.push_back(std::move(r));
  }
  double const wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  {
    std::ofstream out(reportPath, std::ios::binary);
    out << report(kernels, models, wallMs, timedRuns);
    if (!out.good()) throw std::runtime_error("cannot write " + reportPath);
  }

  std::size_t kernelPassed = 0, pipelinePassed = 0, pipelineTotal = 0, modelsPassed = 0;
  for (KernelCase const& c : kernels.cases()) kernelPassed += c.passed() ? 1 : 0;
  for (ModelResult const& m : models) {
    modelsPassed += m.passed() ? 1 : 0;
    pipelineTotal += m.cases.size();
    for (PipelineCase const& c : m.cases) pipelinePassed += c.passed ? 1 : 0;
  }
  bool const ok = kernelPassed == kernels.cases().size() && modelsPassed == models.size();
  cuda::DeviceInfo const& d = cuda::runtimeStatus().devices.front();
  std::printf("trt-vla-gpu-check: %s: kernels %zu/%zu matched, pipeline %zu/%zu cases on %zu/%zu models, on %s (sm_%d%d), %.1f s; report %s\n",
              ok ? "PASS" : "FAIL", kernelPassed, kernels.cases().size(), pipelinePassed, pipelineTotal, modelsPassed, models.size(),
              d.name.c_str(), d.smMajor, d.smMinor, wallMs / 1000.0, reportPath.c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace tv::checks

int main(int argc, char** argv) {
  try {
    return tv::checks::run(argc, argv);
  } catch (std::invalid_argument const& e) {
    return tv::checks::usage(e.what());
  } catch (std::exception const& e) {
    std::printf("trt-vla-gpu-check: FAIL: %s\n", e.what());
    return 1;
  }
}
