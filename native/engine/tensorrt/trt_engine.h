// The TensorRT 10 adapter: engine/engine.h implemented over nvinfer1 (compiled only where TensorRT is
// found). It holds no model logic: deserialization of a memory-mapped plan, introspection, one
// execution context per session with user-managed device memory sized for every profile, profile
// switching, and CUDA-graph capture and replay of steps keyed by shapes and addresses.
//
// Teardown order is contexts, then engine, then runtime: contexts hold the engine's shared core.
// Errors from TensorRT become tv::Error (ERR_ENGINE_INCOMPATIBLE, ERR_MODEL_LOAD, ERR_INVALID_ARGUMENT),
// never aborts: every shape and address is checked against the selected profile before enqueueV3
// (engine/binding_check.h), because Edge-LLM's plugins terminate the process on a bad binding.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace tv::engine::trt {

// TensorRT's messages go to the addon's log (core/log.h, source "tensorrt"), at its level. The Edge-LLM
// plugin library's own messages cannot: 0.6.1 writes them to stderr (warnings, errors) and stdout (info,
// debug) itself (see loadPluginLibrary in trt_engine.cc).

// The TensorRT version this process runs with (getInferLibVersion), e.g. 100300 for 10.3.0.
int runtimeVersion();
// Empty when TensorRT can run here, else why not (no CUDA device, library version mismatch...).
std::string availabilityProblem();

// Loads the TensorRT Edge-LLM plugin library (libNvInfer_edgellm_plugin.so) before engines that use
// its plugins are deserialized. The file is checked first (core/library_file.h); loading the same path
// twice is a no-op. Throws ERR_MODEL_LOAD with the reason.
void loadPluginLibrary(std::string const& path);

// Options of one engine's execution contexts.
struct ContextOptions {
  // Capture the decode-profile step as a CUDA graph per shape/address set and replay it.
  bool cudaGraphs = true;
  int graphProfile = 1;
};

class TrtEngine final : public Engine {
 public:
  // Maps and deserializes a plan file. ERR_ENGINE_INCOMPATIBLE when TensorRT rejects it (built by
  // another TensorRT version or for another GPU, or its plugins are not loaded).
  static std::unique_ptr<TrtEngine> load(std::string const& path, ContextOptions options = {});
  ~TrtEngine() override;

  std::vector<TensorDesc> const& ioTensors() const override;
  int optimizationProfiles() const override;
  ProfileShapes profileShapes(std::string_view name, int profile) const override;
  MemoryLocation memoryLocation() const override { return MemoryLocation::kDevice; }
  std::unique_ptr<ExecutionContext> createExecutionContext() override;

  // Device memory one execution context needs (the maximum over profiles).
  std::int64_t contextMemoryBytes() const;

  struct Core;

 private:
  TrtEngine() = default;
  std::shared_ptr<Core> core_;
};

}  // namespace tv::engine::trt
