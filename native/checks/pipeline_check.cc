#include "checks/pipeline_check.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "vla/frame.h"
#include "vla/pipeline_ops.h"
#include "vla/positions.h"
#include "vla/session.h"

namespace tv::checks {

namespace {

namespace fs = std::filesystem;

std::string readText(fs::path const& file) {
  std::ifstream in(file, std::ios::binary);
  TV_CHECK(in.good(), ErrorCode::kModelLoad, "cannot read ", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The safetensors files of a folder but the side files the loader reads separately, in name order.
std::vector<std::string> weightFiles(fs::path const& folder) {
  std::vector<std::string> files;
  for (fs::directory_entry const& entry : fs::directory_iterator(folder)) {
    std::string const name = entry.path().filename().string();
    if (entry.path().extension() != ".safetensors" || name == "embedding.safetensors" || name == "vocab_map.safetensors") continue;
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Qwen chat-format ids (Qwen2.5-VL tokenizer): <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n
constexpr std::int32_t kImStart = 151644, kImEnd = 151645, kUser = 872, kAssistant = 77091, kNewline = 198;
constexpr std::int32_t kVisionEnd = 151653;
// "Describe the road ahead." in the Qwen vocabulary (any ids inside the vocabulary would do).
constexpr std::int32_t kText[] = {74785, 279, 5636, 8305, 13};

std::vector<std::int32_t> prompt(vla::SpecialTokens const& special, int imageTokens) {
  std::vector<std::int32_t> ids{kImStart, kUser, kNewline};
  if (imageTokens > 0) {
    ids.push_back(special.visionStart);
    ids.insert(ids.end(), static_cast<std::size_t>(imageTokens), special.imagePad);
    ids.push_back(kVisionEnd);
  }
  ids.insert(ids.end(), std::begin(kText), std::end(kText));
  for (std::int32_t id : {kImEnd, kNewline, kImStart, kAssistant, kNewline}) ids.push_back(id);
  return ids;
}

struct Frame {
  std::shared_ptr<FrameMemory> memory;
  vla::FrameView view;
};

// A frame in FrameMemory (pinned and mapped where a CUDA device exists), filled with seeded bytes.
Frame makeFrame(int width, int height, PixelFormat format, std::uint32_t seed) {
  Frame f;
  FrameLayout const layout = makeFrameLayout(width, height, format);
  f.memory = FrameMemory::allocate(layout.byteLength);
  std::uint32_t s = seed;
  for (std::size_t i = 0; i < layout.byteLength; ++i) {
    s = s * 1664525u + 1013904223u;
    f.memory->data()[i] = static_cast<std::uint8_t>(s >> 24);
  }
  f.view = vla::FrameView{layout, f.memory->data(), f.memory->devicePointer()};
  return f;
}

char const* stopName(vla::StopReason reason) {
  switch (reason) {
    case vla::StopReason::kStopToken: return "stop token";
    case vla::StopReason::kMaxTokens: return "max tokens";
    case vla::StopReason::kGrammarComplete: return "grammar complete";
  }
  return "?";
}

template <typename T>
void expectEqual(PipelineCase& c, char const* what, T const& host, T const& device) {
  if (!(host == device)) {
    std::ostringstream m;
    m << what << " differ: host " << host << ", device " << device;
    c.problems.push_back(m.str());
  }
}

std::string firstDifference(std::vector<std::int32_t> const& a, std::vector<std::int32_t> const& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  std::ostringstream m;
  m << "tokens differ at " << i << " (host " << a.size() << " tokens, device " << b.size() << ")";
  return m.str();
}

struct Run {
  vla::GenerateResult result;
  double ms = 0;
};

Run generate(vla::VlaSession& session, vla::GenerateRequest const& request, std::uint64_t id) {
  auto const start = std::chrono::steady_clock::now();
  Run run;
  run.result = session.generate(request, id, nullptr);
  run.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return run;
}

// The outcome the test compares (test/native/devicePipeline.test.ts outcome()): tokens, stop reason and
// step counts; on the device, every stage the request has timed by its events.
void compare(PipelineCase& c, Run const& host, Run const& device, bool withImage) {
  vla::GenerateResult const& a = host.result;
  vla::GenerateResult const& b = device.result;
  if (a.tokens != b.tokens) c.problems.push_back(firstDifference(a.tokens, b.tokens));
  expectEqual(c, "stop reasons", std::string(stopName(a.stopReason)), std::string(stopName(b.stopReason)));
  expectEqual(c, "forward passes", a.forwardPasses, b.forwardPasses);
  expectEqual(c, "forced tokens", a.forcedTokens, b.forcedTokens);
  expectEqual(c, "prompt tokens", a.promptTokens, b.promptTokens);
  expectEqual(c, "cached prompt tokens", a.cachedPromptTokens, b.cachedPromptTokens);
  expectEqual(c, "image tokens", a.imageTokens, b.imageTokens);
  vla::StageTimings const& t = b.timings;
  std::vector<std::pair<char const*, double>> stages{
      {"embedMs", t.embedMs}, {"prefillMs", t.prefillMs}, {"decodeMs", t.decodeMs}, {"firstTokenMs", t.firstTokenMs}, {"totalMs", t.totalMs}};
  if (withImage) {
    stages.emplace_back("preprocessMs", t.preprocessMs);
    stages.emplace_back("visionMs", t.visionMs);
  }
  for (auto const& [name, ms] : stages) {
    if (!(ms > 0)) c.problems.push_back(std::string("device timing ") + name + " is not positive");
  }
  c.tokens = a.tokens;
  c.promptTokens = a.promptTokens;
  c.imageTokens = a.imageTokens;
  c.forwardPasses = a.forwardPasses;
  c.hostMs = host.ms;
  c.deviceMs = device.ms;
}

}  // namespace

vla::ModelLoadSpec modelDirectorySpec(std::string const& dir, int threads, int kvCapacity) {
  fs::path const root(dir);
  vla::ModelLoadSpec spec;
  spec.backend = vla::Backend::kCpu;
  spec.threads = threads;
  spec.llmConfigName = "llm/config.json";
  spec.llmConfig = readText(root / "llm" / "config.json");
  spec.llmWeights = weightFiles(root / "llm");
  TV_CHECK(!spec.llmWeights.empty(), ErrorCode::kModelLoad, "no safetensors weights in ", (root / "llm").string());
  if (fs::exists(root / "llm" / "embedding.safetensors")) spec.llmEmbeddingFile = (root / "llm" / "embedding.safetensors").string();
  if (fs::exists(root / "llm" / "vocab_map.safetensors")) spec.vocabMapFile = (root / "llm" / "vocab_map.safetensors").string();
  spec.visualConfigName = "visual/config.json";
  spec.visualConfig = readText(root / "visual" / "config.json");
  spec.visualWeights = weightFiles(root / "visual");
  // As lib/model/modelConfig.ts nativeLoadSpec: the embedding table from embedding.safetensors, else
  // from the checkpoint, under the names the exporters use.
  spec.embeddingFiles = spec.llmEmbeddingFile.empty() ? spec.llmWeights : std::vector<std::string>{spec.llmEmbeddingFile};
  spec.embeddingNames = {"embedding", "model.embed_tokens.weight", "model.language_model.embed_tokens.weight"};
  fs::path const processor = root / "visual" / "preprocessor_config.json";
  if (fs::exists(processor)) {
    JsonValue const config = readJsonFile(processor.string());
    JsonFields const fields(config, "visual/preprocessor_config.json");
    spec.preprocess.minPixels = static_cast<int>(fields.integer("min_pixels", spec.preprocess.minPixels));
    spec.preprocess.maxPixels = static_cast<int>(fields.integer("max_pixels", spec.preprocess.maxPixels));
  }
  spec.requestedKvCapacity = kvCapacity;
  return spec;
}

std::vector<PipelineCase> checkDevicePipeline(PipelineCheckOptions const& options) {
  int const kvCapacity = 1024;
  vla::ModelLoadSpec spec = modelDirectorySpec(options.modelDir, options.threads, kvCapacity);
  std::shared_ptr<vla::VlaModel> const host = vla::loadVlaModel(spec);
  spec.devicePipeline = true;
  spec.mappedFrames = true;
  std::shared_ptr<vla::VlaModel> const device = vla::loadVlaModel(spec);
  spec.mappedFrames = false;
  std::shared_ptr<vla::VlaModel> const uploaded = vla::loadVlaModel(spec);
  TV_CHECK_INTERNAL(std::string(device->pipeline->name()) == "device" && std::string(host->pipeline->name()) == "host",
                    "the models did not get the host and device pipelines");
  vla::VlaSession hostSession(host), deviceSession(device), uploadedSession(uploaded);
  std::uint64_t requestId = 0;
  std::vector<PipelineCase> cases;

  vla::GenerateRequest base;
  base.maxNewTokens = options.decodeSteps;
  base.usePrefixCache = false;

  // 1. Text only: greedy prefill and decodeSteps greedy decode steps (no stop tokens, so all of them run).
  {
    PipelineCase c;
    c.name = "text, greedy";
    vla::GenerateRequest request = base;
    request.inputIds = prompt(host->tokens, 0);
    Run const a = generate(hostSession, request, ++requestId);
    Run const b = generate(deviceSession, request, ++requestId);
    compare(c, a, b, false);
    if (static_cast<int>(a.result.tokens.size()) != options.decodeSteps) {
      c.problems.push_back("the host run made " + std::to_string(a.result.tokens.size()) + " tokens, not " +
                           std::to_string(options.decodeSteps));
    }
    cases.push_back(std::move(c));
  }

  // 2. An rgb8 and an nv12 frame in mapped pinned memory, read in place by the preprocessing kernel;
  //    the same request on a model that uploads frames instead must agree too.
  struct FrameCase {
    char const* name;
    int width, height;
    PixelFormat format;
    std::uint32_t seed;
  };
  for (FrameCase const& f : {FrameCase{"rgb8 320x180 frame, greedy", 320, 180, PixelFormat::kRgb8, 3},
                             FrameCase{"nv12 200x112 frame, greedy", 200, 112, PixelFormat::kNv12, 5}}) {
    PipelineCase c;
    c.name = f.name;
    Frame const frame = makeFrame(f.width, f.height, f.format, f.seed);
    std::vector<std::uint8_t> const before(frame.memory->data(), frame.memory->data() + frame.memory->size());
    c.framesMapped = frame.memory->pinned() && frame.memory->devicePointer() != nullptr;
    if (!c.framesMapped) c.problems.push_back("the frame is not in mapped pinned memory");
    vla::VisionInputs const inputs = hostSession.preprocess({frame.view}, false);
    vla::GenerateRequest request = base;
    request.maxNewTokens = std::min(16, options.decodeSteps);  // the frame matters for the prefill; case 1 has the long decode
    request.inputIds = prompt(host->tokens, inputs.imageTokens());
    request.frames = {frame.view};
    request.frameMemory = {frame.memory};
    Run const a = generate(hostSession, request, ++requestId);
    Run const b = generate(deviceSession, request, ++requestId);
    compare(c, a, b, true);
    Run const u = generate(uploadedSession, request, ++requestId);
    if (u.result.tokens != a.result.tokens) c.problems.push_back("uploaded frame: " + firstDifference(a.result.tokens, u.result.tokens));
    if (std::memcmp(before.data(), frame.memory->data(), before.size()) != 0) c.problems.push_back("the frame's bytes changed");
    cases.push_back(std::move(c));
  }

  // 3. Sampling with a seed, top-k, top-p and a repetition penalty (the device draws from its sorted
  //    candidates with the host's generator).
  {
    PipelineCase c;
    c.name = "text, sampled (t 0.9, top-k 40, top-p 0.95, penalty 1.1)";
    vla::GenerateRequest request = base;
    request.maxNewTokens = std::min(16, options.decodeSteps);
    request.inputIds = prompt(host->tokens, 0);
    request.sampling.temperature = 0.9;
    request.sampling.topK = 40;
    request.sampling.topP = 0.95;
    request.sampling.repetitionPenalty = 1.1;
    request.sampling.seed = 7;
    Run const a = generate(hostSession, request, ++requestId);
    Run const b = generate(deviceSession, request, ++requestId);
    compare(c, a, b, false);
    cases.push_back(std::move(c));
  }

  for (PipelineCase& c : cases) c.passed = c.problems.empty();
  return cases;
}

}  // namespace tv::checks
