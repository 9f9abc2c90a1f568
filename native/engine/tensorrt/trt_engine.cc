#include "engine/tensorrt/trt_engine.h"

#include <NvInferRuntime.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <list>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/device_memory_stats.h"
#include "core/library_file.h"
#include "core/log.h"
#include "core/loaded_file.h"
#include "engine/binding_check.h"
#include "engine/graph_key.h"

namespace tv::engine::trt {

namespace {

// ---- logging ----------------------------------------------------------------------------------------

// TensorRT keeps a pointer to its logger for the life of the library: one process-wide instance that
// forwards to the addon's log, whose level and sink can change at any time.
class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, nvinfer1::AsciiChar const* message) noexcept override {
    LogLevel const level = toLevel(severity);
    if (!logEnabled(level)) return;
    try {
      tv::log(level, "tensorrt", message);
    } catch (...) {
      // Never let an exception cross into TensorRT.
    }
  }

 private:
  static LogLevel toLevel(Severity s) {
    switch (s) {
      case Severity::kINTERNAL_ERROR:
      case Severity::kERROR: return LogLevel::kError;
      case Severity::kWARNING: return LogLevel::kWarning;
      case Severity::kINFO: return LogLevel::kInfo;
      default: return LogLevel::kVerbose;
    }
  }
};

Logger& logger() {
  static Logger* instance = new Logger();  // never destroyed: TensorRT may log during static teardown
  return *instance;
}

#define TV_TRT_CUDA_CHECK(expr)                                                                                     \
  do {                                                                                                             \
    cudaError_t const tvStatus_ = (expr);                                                                          \
    if (tvStatus_ != cudaSuccess) TV_THROW(ErrorCode::kInternal, #expr, " failed: ", cudaGetErrorString(tvStatus_)); \
  } while (0)

DType fromTrt(nvinfer1::DataType t, std::string const& name) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT: return DType::kF32;
    case nvinfer1::DataType::kHALF: return DType::kF16;
    case nvinfer1::DataType::kBF16: return DType::kBF16;
    case nvinfer1::DataType::kINT32: return DType::kI32;
    case nvinfer1::DataType::kINT64: return DType::kI64;
    case nvinfer1::DataType::kINT8: return DType::kI8;
    case nvinfer1::DataType::kUINT8: return DType::kU8;
    case nvinfer1::DataType::kBOOL: return DType::kBool;
    default: TV_THROW(ErrorCode::kEngineIncompatible, "engine tensor '", name, "' has an unsupported data type (",
                      static_cast<int>(t), ")");
  }
}

Shape fromDims(nvinfer1::Dims const& d) {
  Shape s;
  for (int i = 0; i < d.nbDims; ++i) s.dims.push_back(d.d[i]);
  return s;
}

nvinfer1::Dims toDims(Shape const& s) {
  TV_CHECK_ARG(s.rank() <= nvinfer1::Dims::MAX_DIMS, "shape ", s.str(), " has too many dimensions for TensorRT");
  nvinfer1::Dims d{};
  d.nbDims = s.rank();
  for (int i = 0; i < s.rank(); ++i) d.d[i] = s[i];
  return d;
}

std::mutex gPluginMutex;
std::set<std::string> gLoadedPlugins;

}  // namespace

int runtimeVersion() { return getInferLibVersion(); }

std::string availabilityProblem() {
  int count = 0;
  cudaError_t const err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + (err != cudaSuccess ? cudaGetErrorString(err) : "none found");
  }
  int const version = getInferLibVersion();
  // Engines are tied to the TensorRT version they were built with; the library must match the
  // headers this binary was compiled against at least in major.minor.
  if (version / 100 != NV_TENSORRT_VERSION / 100) {
    return "TensorRT library version " + std::to_string(version) + " differs from the " + std::to_string(NV_TENSORRT_VERSION) +
           " this binary was built with: rebuild trt-vla (npm rebuild trt-vla)";
  }
  return "";
}

void loadPluginLibrary(std::string const& path) {
  std::lock_guard<std::mutex> lock(gPluginMutex);
  if (gLoadedPlugins.count(path) != 0) return;
  std::string const problem = libraryFileProblem(path);
  TV_CHECK(problem.empty(), ErrorCode::kModelLoad, "the TensorRT Edge-LLM plugin library cannot be loaded: ", problem);
  // RTLD_GLOBAL is not needed: the plugins register themselves with TensorRT from static initializers.
  void* handle = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    char const* why = ::dlerror();
    TV_THROW(ErrorCode::kModelLoad, "cannot load the TensorRT Edge-LLM plugin library ", path, ": ", why != nullptr ? why : "unknown error",
             " (build it with TensorRT Edge-LLM 0.6.1 against this TensorRT)");
  }
  // Edge-LLM >= 0.6 exports initEdgellmPlugins(logger, namespace). In 0.6.1 it only copies the level of a
  // logger that dynamic_casts to its own EdgeLLMLogger, so with ours it changes nothing, and the plugins'
  // own LOG_* lines always go to std::cerr (warnings, errors) / std::cout (info, debug) at the plugin
  // library's level, never through TensorRT's ILogger (Edge-LLM 0.6.1 cpp/plugins/utils/pluginUtils.cpp:26-37,
  // cpp/common/logger.h:100-111). Called anyway: it is the documented entry point.
  using InitPlugins = bool (*)(void*, char const*);
  if (auto init = reinterpret_cast<InitPlugins>(::dlsym(handle, "initEdgellmPlugins")); init != nullptr) {
    init(static_cast<nvinfer1::ILogger*>(&logger()), "");
  }
  gLoadedPlugins.insert(path);  // the handle stays open for the life of the process
}

// ---- engine -----------------------------------------------------------------------------------------

struct TrtEngine::Core {
  std::unique_ptr<nvinfer1::IRuntime> runtime;
  std::unique_ptr<nvinfer1::ICudaEngine> engine;  // destroyed before runtime (declared after it)
  std::vector<TensorDesc> tensors;
  // profiles[p][name]: the engine's profile shapes of each input, read once at load (the binding check
  // before every enqueue compares against them).
  std::vector<std::unordered_map<std::string, ProfileShapes>> profiles;
  ContextOptions options;
  std::string path;
  ProfileShapes const& profileShapes(std::string const& name, int profile) const {
    TV_CHECK_ARG(profile >= 0 && profile < static_cast<int>(profiles.size()), "no optimization profile ", profile);
    auto const& byName = profiles[static_cast<std::size_t>(profile)];
    auto it = byName.find(name);
    TV_CHECK_ARG(it != byName.end(), "'", name, "' is not an input of ", path, ": only inputs have profile shapes");
    return it->second;
  }
  ~Core() {
    engine.reset();
    runtime.reset();
  }
};

TrtEngine::~TrtEngine() = default;

std::unique_ptr<TrtEngine> TrtEngine::load(std::string const& path, ContextOptions options) {
  std::string const problem = availabilityProblem();
  TV_CHECK(problem.empty(), ErrorCode::kBackendUnavailable, "TensorRT cannot run here: ", problem);
  auto core = std::make_shared<Core>();
  core->path = path;
  core->options = options;
  core->runtime.reset(nvinfer1::createInferRuntime(logger()));
  TV_CHECK(core->runtime != nullptr, ErrorCode::kBackendUnavailable, "TensorRT could not create a runtime");
  {
    // Released right after: TensorRT copies the plan into the engine.
    std::shared_ptr<LoadedFile const> const plan = LoadedFile::open(path);
    core->engine.reset(core->runtime->deserializeCudaEngine(plan->data(), plan->size()));
  }
  TV_CHECK(core->engine != nullptr, ErrorCode::kEngineIncompatible, path,
           " could not be deserialized: it was built by another TensorRT version or for another GPU, or its plugin library "
           "(libNvInfer_edgellm_plugin.so) is not loaded; the TensorRT log above says which");
  nvinfer1::ICudaEngine const& e = *core->engine;
  for (int i = 0; i < e.getNbIOTensors(); ++i) {
    char const* name = e.getIOTensorName(i);
    TensorDesc t;
    t.name = name;
    t.dtype = fromTrt(e.getTensorDataType(name), t.name);
    t.shape = fromDims(e.getTensorShape(name));
    t.mode = e.getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? TensorIOMode::kInput : TensorIOMode::kOutput;
    TV_CHECK(e.getTensorLocation(name) == nvinfer1::TensorLocation::kDEVICE, ErrorCode::kEngineIncompatible, "engine tensor '", t.name,
             "' lives in host memory; Edge-LLM engines keep every tensor on the device");
    core->tensors.push_back(std::move(t));
  }
  core->profiles.resize(static_cast<std::size_t>(e.getNbOptimizationProfiles()));
  for (int p = 0; p < e.getNbOptimizationProfiles(); ++p) {
    for (TensorDesc const& t : core->tensors) {
      if (t.mode != TensorIOMode::kInput) continue;
      auto get = [&](nvinfer1::OptProfileSelector sel) { return fromDims(e.getProfileShape(t.name.c_str(), p, sel)); };
      core->profiles[static_cast<std::size_t>(p)][t.name] = ProfileShapes{get(nvinfer1::OptProfileSelector::kMIN),
                                                                           get(nvinfer1::OptProfileSelector::kOPT),
                                                                           get(nvinfer1::OptProfileSelector::kMAX)};
    }
  }
  tv::log(LogLevel::kInfo, "tensorrt",
          path + ": " + std::to_string(core->tensors.size()) + " I/O tensors, " + std::to_string(e.getNbOptimizationProfiles()) +
              " optimization profiles, " + std::to_string(e.getDeviceMemorySizeV2() >> 20) + " MiB context memory");
  std::unique_ptr<TrtEngine> engine(new TrtEngine());
  engine->core_ = std::move(core);
  return engine;
}

std::vector<TensorDesc> const& TrtEngine::ioTensors() const { return core_->tensors; }

int TrtEngine::optimizationProfiles() const { return core_->engine->getNbOptimizationProfiles(); }

ProfileShapes TrtEngine::profileShapes(std::string_view name, int profile) const {
  TensorDesc const& t = requireTensor(name);
  TV_CHECK_ARG(t.mode == TensorIOMode::kInput, "'", name, "' is an output: outputs have no profile shapes");
  return core_->profileShapes(t.name, profile);
}

std::int64_t TrtEngine::contextMemoryBytes() const { return core_->engine->getDeviceMemorySizeV2(); }

// ---- execution context ------------------------------------------------------------------------------

namespace {

class TrtContext final : public ExecutionContext {
 public:
  explicit TrtContext(std::shared_ptr<TrtEngine::Core> core) : core_(std::move(core)) {
    context_.reset(core_->engine->createExecutionContext(nvinfer1::ExecutionContextAllocationStrategy::kUSER_MANAGED));
    TV_CHECK(context_ != nullptr, ErrorCode::kOutOfMemory, "TensorRT could not create an execution context");
    // One scratch allocation sized for the largest profile serves prefill and decode alike.
    std::int64_t const bytes = core_->engine->getDeviceMemorySizeV2();
    if (bytes > 0) {
      TV_TRT_CUDA_CHECK(cudaMalloc(&scratch_, static_cast<std::size_t>(bytes)));
      scratchBytes_ = static_cast<std::size_t>(bytes);
      noteDeviceAllocation(scratchBytes_);
    }
    context_->setDeviceMemoryV2(scratch_, bytes);
  }

  ~TrtContext() override {
    for (Graph& graph : graphs_) destroy(graph);
    context_.reset();  // before its memory and before the engine (core_)
    if (scratch_ != nullptr) {
      cudaFree(scratch_);
      noteDeviceRelease(scratchBytes_);
    }
  }

  void setOptimizationProfile(int profile, Stream& stream) override {
    TV_CHECK_ARG(profile >= 0 && profile < core_->engine->getNbOptimizationProfiles(), "no optimization profile ", profile);
    if (profile == profile_ && profileSet_) return;
    TV_CHECK(context_->setOptimizationProfileAsync(profile, static_cast<cudaStream_t>(stream.handle())), ErrorCode::kInternal,
             "TensorRT rejected optimization profile ", profile);
    profile_ = profile;
    profileSet_ = true;
    key_.profile = profile;
    bindings_.clearShapes();  // every input needs its shape again under the new profile
  }

  int optimizationProfile() const override { return profile_; }

  void setInputShape(std::string_view name, Shape const& shape) override {
    std::string const n(name);
    TensorDesc const* desc = findTensor(n);
    TV_CHECK_ARG(desc != nullptr && desc->mode == TensorIOMode::kInput, "'", n, "' is not an input of ", core_->path);
    checkInputShape(*desc, core_->profileShapes(n, profile_), profile_, shape);
    TV_CHECK_ARG(context_->setInputShape(n.c_str(), toDims(shape)), "TensorRT rejected shape ", shape.str(), " for input '", n,
                 "' in profile ", profile_, " (outside the engine's profile?)");
    key_.setShape(n, shape.dims);
    bindings_.setShape(n, shape);
  }

  void setTensorAddress(std::string_view name, void* address) override {
    std::string const n(name);
    TV_CHECK_ARG(findTensor(n) != nullptr, "the engine has no tensor '", n, "'");
    TV_CHECK_ARG(address != nullptr, "tensor '", n, "' needs a non-null address (bind a dummy for zero-size tensors)");
    TV_CHECK_ARG(context_->setTensorAddress(n.c_str(), address), "TensorRT rejected the address of tensor '", n, "'");
    key_.setAddress(n, address);
    bindings_.setAddress(n, address);
  }

  Shape tensorShape(std::string_view name) const override {
    std::string const n(name);
    return fromDims(context_->getTensorShape(n.c_str()));
  }

  void enqueue(Stream& stream) override {
    // Every shape inside the selected profile, every I/O tensor at a non-null address, before TensorRT
    // (and the plugins' noexcept enqueue, which would terminate the process) sees them.
    bindings_.requireRunnable(core_->tensors, profile_,
                              [this](std::string const& name, int profile) { return core_->profileShapes(name, profile); });
    auto const s = static_cast<cudaStream_t>(stream.handle());
    if (!core_->options.cudaGraphs || graphsFailed_ || profile_ != core_->options.graphProfile) {
      TV_CHECK(context_->enqueueV3(s), ErrorCode::kInternal, "TensorRT enqueueV3 failed (see the TensorRT log)");
      return;
    }
    // Decode steps repeat with identical shapes and addresses: replay a captured graph. As in Edge-LLM,
    // a step with new bindings first runs normally (TensorRT may set up state), then is captured.
    std::uint64_t const key = key_.hash();
    auto it = graphIndex_.find(key);
    if (it != graphIndex_.end()) {
      graphs_.splice(graphs_.begin(), graphs_, it->second);  // most recently used first
      TV_TRT_CUDA_CHECK(cudaGraphLaunch(it->second->exec, s));
      return;
    }
    TV_CHECK(context_->enqueueV3(s), ErrorCode::kInternal, "TensorRT enqueueV3 failed (see the TensorRT log)");
    TV_TRT_CUDA_CHECK(cudaStreamSynchronize(s));
    Graph graph;
    bool captured = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (captured) {
      bool const ran = context_->enqueueV3(s);
      captured = cudaStreamEndCapture(s, &graph.graph) == cudaSuccess && ran;
#if CUDART_VERSION >= 12000
      captured = captured && cudaGraphInstantiate(&graph.exec, graph.graph, 0) == cudaSuccess;
#else
      captured = captured && cudaGraphInstantiate(&graph.exec, graph.graph, nullptr, nullptr, 0) == cudaSuccess;
#endif
    }
    if (!captured) {
      // Not capturable (some plugins are not): this context runs without graphs from now on.
      cudaGetLastError();
      cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
      if (cudaStreamIsCapturing(s, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
        cudaGraph_t ignored = nullptr;
        cudaStreamEndCapture(s, &ignored);
        if (ignored != nullptr) cudaGraphDestroy(ignored);
      }
      cudaGetLastError();
      if (graph.graph != nullptr) cudaGraphDestroy(graph.graph);
      graphsFailed_ = true;
      tv::log(LogLevel::kWarning, "tensorrt", core_->path + ": the decode step could not be captured as a CUDA graph; running it without graphs");
      return;
    }
    // The normal run above produced this step's results; the graph serves the next ones.
    graph.key = key;
    if (graphs_.size() >= kMaxGraphs) {
      destroy(graphs_.back());
      graphIndex_.erase(graphs_.back().key);
      graphs_.pop_back();
    }
    graphs_.push_front(graph);
    graphIndex_[key] = graphs_.begin();
  }

 private:
  struct Graph {
    std::uint64_t key = 0;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
  };

  // Captured graphs kept per context, least recently used dropped first. The session decodes from one
  // fixed embeddings buffer with fixed scalar buffers, so a vanilla engine needs exactly one decode graph;
  // the bound leaves room for a graph per verification length of an EAGLE-base engine (S <= 6 keeps the
  // INT4 plugin on its GEMV kernel, audit §5.4) and keeps a binding pattern that changes every step (which
  // would otherwise capture one graph per step, each holding device memory) from growing without limit.
  static constexpr std::size_t kMaxGraphs = 8;

  TensorDesc const* findTensor(std::string const& name) const {
    for (TensorDesc const& t : core_->tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  static void destroy(Graph& graph) {
    if (graph.exec != nullptr) cudaGraphExecDestroy(graph.exec);
    if (graph.graph != nullptr) cudaGraphDestroy(graph.graph);
    graph.exec = nullptr;
    graph.graph = nullptr;
  }

  std::shared_ptr<TrtEngine::Core> core_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  void* scratch_ = nullptr;
  std::size_t scratchBytes_ = 0;
  int profile_ = 0;
  bool profileSet_ = false;
  GraphKey key_;
  BindingTable bindings_;
  std::list<Graph> graphs_;  // most recently used first
  std::unordered_map<std::uint64_t, std::list<Graph>::iterator> graphIndex_;
  bool graphsFailed_ = false;
};

}  // namespace

std::unique_ptr<ExecutionContext> TrtEngine::createExecutionContext() { return std::make_unique<TrtContext>(core_); }

}  // namespace tv::engine::trt
