#include "vla/model_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/binding_names.h"
#include "engine/cpu/qwen_config.h"
#include "engine/recording_engine.h"
#include "vla/engine_check.h"
#include "vla/pipeline_ops.h"

#if defined(TRT_VLA_WITH_CUDA)
#include "vla/device_engine_memory.h"
#include "vla/device_pipeline_ops.h"
#include "vla/device_staged_engine.h"
#endif
#if defined(TRT_VLA_WITH_TENSORRT)
#include "engine/tensorrt/trt_engine.h"
#endif

namespace tv::vla {

namespace {

TextModelInfo textInfo(engine::cpu::QwenTextConfig const& c) {
  return TextModelInfo{c.hiddenSize, c.layers, c.kvHeads, c.headDim, c.vocabSize, c.mropeSection, c.ropeTheta};
}

// The image processor and the vision encoder must agree on patching, and its output must be the LLM's width.
void checkVisionConfig(engine::cpu::QwenVisionConfig const& vc, PreprocessConfig const& pre, int llmHidden) {
  TV_CHECK(vc.patchSize == pre.patchSize && vc.temporalPatchSize == pre.temporalPatchSize && vc.spatialMergeSize == pre.mergeSize,
           ErrorCode::kModelLoad, "the image processor's patch / temporal patch / merge sizes (", pre.patchSize, ", ",
           pre.temporalPatchSize, ", ", pre.mergeSize, ") disagree with the vision encoder's config");
  TV_CHECK(vc.outHiddenSize == llmHidden, ErrorCode::kModelLoad, "the vision encoder's out_hidden_size (", vc.outHiddenSize,
           ") differs from the language model's hidden_size (", llmHidden, ")");
}

// reduced_vocab_size in config.json and vocab_map.safetensors come together (Edge-LLM's rule).
std::shared_ptr<engine::VocabMap const> loadVocabMap(ModelLoadSpec const& spec, JsonValue const& llmConfig, int vocabSize) {
  JsonFields const fields(llmConfig, spec.llmConfigName);
  std::int64_t const reduced = fields.integer("reduced_vocab_size", 0);
  if (spec.vocabMapFile.empty()) {
    TV_CHECK(reduced == 0, ErrorCode::kModelLoad, spec.llmConfigName, " declares reduced_vocab_size = ", reduced,
             " but the bundle has no vocab_map.safetensors next to it");
    return nullptr;
  }
  auto map = std::make_shared<engine::VocabMap const>(engine::VocabMap::load(spec.vocabMapFile, vocabSize));
  TV_CHECK(reduced == 0 || reduced == map->reducedSize(), ErrorCode::kModelLoad, spec.llmConfigName, " declares reduced_vocab_size = ",
           reduced, " but ", spec.vocabMapFile, " maps ", map->reducedSize(), " ids");
  return map;
}

// visual_build's flags from visual/config.json "builder_config" (Edge-LLM 0.6.1 visualBuilder.h:46-53,
// builderUtils.cpp:324-331); absent in CPU checkpoints and bundles made without visual_build.
VisualBuildFlags visualBuildFlags(JsonValue const& visualConfig, std::string const& configName) {
  VisualBuildFlags flags;
  JsonFields const config(visualConfig, configName);
  if (!config.has("builder_config")) return flags;
  JsonFields const b = config.object("builder_config");
  auto positive = [&](char const* key) {
    std::int64_t const v = b.integer(key);
    if (v < 1 || v > (1 << 20)) b.fail(key, "a positive image token count");
    return static_cast<int>(v);
  };
  flags.present = true;
  flags.minImageTokens = positive("min_image_tokens");
  flags.maxImageTokens = positive("max_image_tokens");
  flags.maxImageTokensPerImage = positive("max_image_tokens_per_image");
  // visual_build refuses these itself (examples/multimodal/visual_build.cpp:170-178).
  if (flags.maxImageTokensPerImage < flags.minImageTokens || flags.maxImageTokensPerImage > flags.maxImageTokens) {
    b.fail("max_image_tokens_per_image", "between min_image_tokens and max_image_tokens");
  }
  return flags;
}

// The image token limits a request gets: the engine's profile, lowered by loadModel's maxImageTokens /
// maxImageTokensPerImage; asking for more than the engine was built for is an error naming the flag.
ImageTokenLimits requestLimits(VisionEngineLimits const& engine, ModelLoadSpec const& spec) {
  ImageTokenLimits limits = engine.tokens();
  auto lower = [](int& limit, int asked, char const* option, char const* flag) {
    if (asked <= 0) return;
    TV_CHECK_ARG(asked <= limit, option, " ", asked, " exceeds the visual engine's ", limit, ", fixed when it was built (visual_build ", flag, ")");
    limit = asked;
  };
  lower(limits.maxTotal, spec.requestedImageTokens, "maxImageTokens", "--maxImageTokens");
  lower(limits.maxPerImage, spec.requestedImageTokensPerImage, "maxImageTokensPerImage", "--maxImageTokensPerImage");
  limits.maxPerImage = std::min(limits.maxPerImage, limits.maxTotal);
  TV_CHECK_ARG(limits.maxPerImage >= limits.minPerImage, "maxImageTokensPerImage ", limits.maxPerImage,
               " is below the visual engine's minimum of ", limits.minPerImage, " image tokens per image (visual_build --minImageTokens)");
  return limits;
}

void loadCpuEngines(ModelLoadSpec& spec, JsonValue llmConfig, VisualBuildFlags const& build, VlaModel& model) {
  engine::cpu::LlmLoadSpec llm;
  llm.configName = spec.llmConfigName;
  llm.config = std::move(llmConfig);
  llm.weightFiles = spec.llmWeights;
  llm.embeddingFile = spec.llmEmbeddingFile;
  llm.limits = spec.llmLimits;
  llm.lmHead = spec.lmHead;
  llm.pool = model.pool;
  llm.vocabMap = model.vocabMap;
  auto llmEngine = engine::cpu::CpuLlmEngine::load(std::move(llm));
  model.weightBytes = static_cast<double>(llmEngine->weights().weightBytes);
  model.lmHead = engine::cpu::weightFormatName(llmEngine->weights().lmHead);
  model.kvCapacity = spec.llmLimits.maxKvCapacity;
  model.maxInputLength = spec.llmLimits.maxInputLength;
  model.llm = std::move(llmEngine);
  model.memory = std::make_unique<HostEngineMemory>();
  if (spec.visualConfig.empty()) return;
  engine::cpu::VisionLoadSpec vision;
  vision.configName = spec.visualConfigName;
  vision.config = parseJson(spec.visualConfig, vision.configName);
  vision.weightFiles = spec.visualWeights;
  // The CPU engine takes the profile visual_build would make from the bundle's builder_config, else
  // the one loadModel's options ask for (then defaults).
  if (build.present) {
    vision.limits = {build.minImageTokens, build.maxImageTokens, build.maxImageTokensPerImage};
  } else {
    if (spec.requestedImageTokens > 0) vision.limits.maxImageTokens = spec.requestedImageTokens;
    int const perImage = spec.requestedImageTokensPerImage > 0 ? spec.requestedImageTokensPerImage : vision.limits.maxImageTokensPerImage;
    vision.limits.maxImageTokensPerImage = std::min(perImage, vision.limits.maxImageTokens);
  }
  vision.pool = model.pool;
  model.vision = engine::cpu::CpuVisionEngine::load(std::move(vision));
}

#if defined(TRT_VLA_WITH_TENSORRT)
void loadTensorrtEngines(ModelLoadSpec& spec, VlaModel& model) {
  TensorrtOptions const& o = spec.tensorrt;
  TV_CHECK(!o.llmEngineFile.empty(), ErrorCode::kModelLoad, "the TensorRT backend needs llm/llm.engine");
  // The device first: without one, say so before touching any engine file.
  model.memory = std::make_unique<DeviceEngineMemory>();
  if (!o.pluginLibrary.empty()) engine::trt::loadPluginLibrary(o.pluginLibrary);
  engine::trt::ContextOptions llmOptions;
  llmOptions.cudaGraphs = o.cudaGraphs;
  llmOptions.graphProfile = engine::names::kDecodeProfile;
  model.llm = engine::trt::TrtEngine::load(o.llmEngineFile, llmOptions);
  if (!o.visualEngineFile.empty()) {
    engine::trt::ContextOptions visionOptions;
    visionOptions.cudaGraphs = false;  // image sizes vary per plan; nothing repeats to replay
    model.vision = engine::trt::TrtEngine::load(o.visualEngineFile, visionOptions);
  }
}
#endif

// testing.devicePipeline: device memory for the CPU engines, made before any weights are read.
std::unique_ptr<EngineMemory> testingDeviceMemory(ModelLoadSpec const& spec) {
  if (!spec.devicePipeline) return nullptr;
  TV_CHECK_ARG(spec.backend == Backend::kCpu, "testing.devicePipeline runs the CPU engines on device memory; the TensorRT "
                                              "backend always uses the device pipeline");
#if defined(TRT_VLA_WITH_CUDA)
  return std::make_unique<DeviceEngineMemory>();  // ERR_BACKEND_UNAVAILABLE "no CUDA device: ..." without one
#else
  TV_THROW(ErrorCode::kBackendUnavailable, "no CUDA device: CUDA is not compiled into this build (", TRT_VLA_CUDA_REASON, ")");
#endif
}

// The pipeline ops for the model's memory: the CPU code next to host memory, the CUDA kernels next to
// device memory.
std::shared_ptr<PipelineOpsFactory const> pipelineFor(VlaModel const& model, [[maybe_unused]] ModelLoadSpec const& spec) {
  if (model.memory->location() == engine::MemoryLocation::kHost) return hostPipelineOps();
#if defined(TRT_VLA_WITH_CUDA)
  DevicePipelineOptions options;
  options.mappedFrames = spec.mappedFrames;
  return devicePipelineOps(model, options);
#else
  TV_THROW(ErrorCode::kInternal, "device engine memory in a build without CUDA");
#endif
}

}  // namespace

std::shared_ptr<VlaModel> loadVlaModel(ModelLoadSpec spec) {
  std::unique_ptr<EngineMemory> deviceMemory = testingDeviceMemory(spec);
  auto model = std::make_shared<VlaModel>();
  model->pool = std::make_shared<ThreadPool>(spec.threads);
  JsonValue llmConfig = parseJson(spec.llmConfig, spec.llmConfigName);
  engine::cpu::QwenTextConfig const tc = engine::cpu::parseQwenTextConfig(llmConfig, spec.llmConfigName);
  model->text = textInfo(tc);
  model->vocabMap = loadVocabMap(spec, llmConfig, tc.vocabSize);

  engine::cpu::QwenVisionConfig vc;
  VisualBuildFlags visualBuild;
  if (!spec.visualConfig.empty()) {
    JsonValue const visualConfig = parseJson(spec.visualConfig, spec.visualConfigName);
    vc = engine::cpu::parseQwenVisionConfig(visualConfig, spec.visualConfigName);
    visualBuild = visualBuildFlags(visualConfig, spec.visualConfigName);
    checkVisionConfig(vc, spec.preprocess, tc.hiddenSize);
    spec.preprocess.windowSize = vc.windowSize;
    spec.preprocess.visionHeadDim = vc.headDim();
  }

  if (spec.backend == Backend::kCpu) {
    model->backend = "cpu";
    spec.llmLimits.maxKvCapacity = spec.requestedKvCapacity > 0 ? spec.requestedKvCapacity : 4096;
    spec.llmLimits.maxInputLength =
        std::min(spec.requestedInputLength > 0 ? spec.requestedInputLength : spec.llmLimits.maxKvCapacity, spec.llmLimits.maxKvCapacity);
    loadCpuEngines(spec, std::move(llmConfig), visualBuild, *model);
#if defined(TRT_VLA_WITH_CUDA)
    if (deviceMemory) {
      model->memory = std::move(deviceMemory);
      model->llm = stageOnDevice(std::move(model->llm));
      if (model->vision) model->vision = stageOnDevice(std::move(model->vision));
    }
#endif
  } else {
#if defined(TRT_VLA_WITH_TENSORRT)
    model->backend = "tensorrt";
    loadTensorrtEngines(spec, *model);
#else
    TV_THROW(ErrorCode::kBackendUnavailable, "the TensorRT backend is not compiled into this build (", TRT_VLA_TENSORRT_REASON, ")");
#endif
  }

  if (spec.recordBindings) {
    model->bindingLog = std::make_shared<engine::BindingLog>();
    model->llm = std::make_unique<engine::RecordingEngine>(std::move(model->llm), "llm", model->bindingLog);
    if (model->vision) model->vision = std::make_unique<engine::RecordingEngine>(std::move(model->vision), "visual", model->bindingLog);
  }
  // Every engine, of either backend, must match the configs before anything runs.
  LlmEngineLimits llmLimits;
  requireCompatible(checkLlmEngine(*model->llm, model->text, model->logitsWidth(), llmLimits), "the LLM engine");
  model->maxVerifyTokens = llmLimits.maxVerifyTokens;
  model->decodeStepsBelow = spec.decodeStepsBelow;
  if (model->vision) {
    VisionEngineLimits visionLimits;
    requireCompatible(checkVisionEngine(*model->vision, vc.patchDim(), vc.headDim() / 2, tc.hiddenSize, visualBuild, visionLimits),
                      "the visual engine");
    // Every image is sized inside the engine's per-image range, and requests beyond its profile are
    // refused before anything is enqueued (checkImageTokens).
    limitImageTokens(spec.preprocess, requestLimits(visionLimits, spec));
  }
  if (spec.backend == Backend::kTensorrt) {
    TV_CHECK_ARG(llmLimits.maxBatch >= 1, "the LLM engine's profiles allow no batch");
    TV_CHECK_ARG(spec.requestedKvCapacity == 0 || spec.requestedKvCapacity == llmLimits.kvCapacity, "maxKvCapacity ",
                 spec.requestedKvCapacity, " differs from the engine's KV capacity ", llmLimits.kvCapacity,
                 ", which is fixed when the engine is built (llm_build --maxKVCacheCapacity)");
    model->kvCapacity = llmLimits.kvCapacity;
    model->maxInputLength = spec.requestedInputLength > 0 ? std::min(spec.requestedInputLength, llmLimits.maxInputLength)
                                                          : llmLimits.maxInputLength;
  } else {
    TV_CHECK_INTERNAL(llmLimits.kvCapacity == model->kvCapacity && llmLimits.maxInputLength == model->maxInputLength,
                      "the CPU LLM engine's profiles disagree with its limits");
  }
  model->preprocess = spec.preprocess;
  model->tokens = spec.tokens;
  model->embedding = EmbeddingTable::load(spec.embeddingFiles, spec.embeddingNames, tc.vocabSize, tc.hiddenSize);
  model->pipeline = pipelineFor(*model, spec);
  if (logEnabled(LogLevel::kInfo)) {
    std::string vocab = std::to_string(tc.vocabSize) + "-token vocabulary";
    if (model->vocabMap) vocab += " (engine logits reduced to " + std::to_string(model->vocabMap->reducedSize()) + ")";
    log(LogLevel::kInfo, "model",
        "loaded on " + model->backend + ": " + std::to_string(tc.layers) + " layers, hidden " + std::to_string(tc.hiddenSize) + ", " + vocab +
            ", KV capacity " + std::to_string(model->kvCapacity) + ", prefill chunk " + std::to_string(model->maxInputLength) +
            (model->vision ? ", vision encoder" : ", text only") + ", " + model->pipeline->name() + " pipeline" +
            (spec.backend == Backend::kCpu ? ", " + std::to_string(model->pool->size()) + " CPU threads" : std::string()));
  }
  return model;
}

}  // namespace tv::vla
