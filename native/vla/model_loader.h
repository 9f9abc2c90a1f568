// Assembles a VlaModel from a model's files for one backend: the CPU reference engines (safetensors
// weights) or TensorRT Edge-LLM engine plans, then checks every engine against config.json with
// vla/engine_check.h — the same checks for both backends, so the CPU engines prove the checks accept
// a correct engine. What the JS side resolved (file paths, processor settings) arrives here as plain
// data; nothing here knows about Node.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "engine/cpu/llm_engine.h"
#include "engine/cpu/vision_engine.h"
#include "vla/session.h"

namespace tv::vla {

enum class Backend { kCpu, kTensorrt };

struct TensorrtOptions {
  std::string llmEngineFile;     // llm/llm.engine
  std::string visualEngineFile;  // visual/visual.engine (empty: a text-only model)
  std::string pluginLibrary;     // libNvInfer_edgellm_plugin.so; empty: engines without Edge-LLM plugins
  bool cudaGraphs = true;        // capture and replay the decode step
};

struct ModelLoadSpec {
  Backend backend = Backend::kCpu;
  int threads = 1;  // CPU engines and host-side work
  std::string llmConfig, llmConfigName;
  std::vector<std::string> llmWeights;  // CPU backend
  std::string llmEmbeddingFile;
  std::string vocabMapFile;  // reduced-vocabulary engines
  engine::cpu::LmHeadPrecision lmHead = engine::cpu::LmHeadPrecision::kAuto;  // CPU backend
  std::string visualConfig, visualConfigName;
  std::vector<std::string> visualWeights;  // CPU backend
  std::vector<std::string> embeddingFiles, embeddingNames;
  PreprocessConfig preprocess;
  SpecialTokens tokens;
  // CPU: the engines' profiles. TensorRT: the profiles were fixed when the engine was built; a
  // requested maxInputLength below the engine's is honoured, a KV capacity other than the engine's is
  // an error (0 = take the engine's).
  engine::cpu::LlmLimits llmLimits;
  int requestedKvCapacity = 0;
  int requestedInputLength = 0;
  // loadModel's maxImageTokens / maxImageTokensPerImage (0 = not given): they size the CPU vision engine
  // of a bundle without visual_build's builder_config, and lower any engine's limits; more than an
  // engine was built for is an error.
  int requestedImageTokens = 0;
  int requestedImageTokensPerImage = 0;
  TensorrtOptions tensorrt;
  bool recordBindings = false;  // tests: wrap the engines in engine::RecordingEngine
  int decodeStepsBelow = 0;     // tests: VlaModel::decodeStepsBelow (0: the session's default)
  // Tests: run the CPU engines behind device memory and the device pipeline ops
  // (device_staged_engine.h), to compare the device pipeline with the host one without TensorRT.
  // ERR_BACKEND_UNAVAILABLE without a CUDA build and a device (real or emulated).
  bool devicePipeline = false;
  bool mappedFrames = true;  // with devicePipeline: false uploads frames instead of reading them in place
};

// Loads and checks everything; throws tv::Error (ERR_MODEL_LOAD, ERR_ENGINE_INCOMPATIBLE,
// ERR_BACKEND_UNAVAILABLE) naming the file and the problem.
std::shared_ptr<VlaModel> loadVlaModel(ModelLoadSpec spec);

}  // namespace tv::vla
