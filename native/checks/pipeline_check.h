// The device pipeline against the host pipeline on the same CPU engines (what
// test/native/devicePipeline.test.ts compares through the addon, here without Node): a model directory
// loaded twice, once with host engine memory and the host pipeline, once with device engine memory and
// the CUDA kernels (ModelLoadSpec::devicePipeline), and each request run on both from token ids (no
// tokenizer). Used by trt-vla-gpu-check.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vla/model_loader.h"

namespace tv::checks {

// The load spec of a model directory in the bundle layout (DESIGN.md §2; what `trt-vla make-model`
// writes): llm/ and visual/ configs and safetensors, the CPU backend.
vla::ModelLoadSpec modelDirectorySpec(std::string const& dir, int threads, int kvCapacity);

struct PipelineCase {
  std::string name;
  bool passed = false;
  std::vector<std::string> problems;  // each difference, in words
  std::vector<std::int32_t> tokens;   // the host pipeline's
  int promptTokens = 0;
  int imageTokens = 0;
  int forwardPasses = 0;
  bool framesMapped = false;  // the frame was in mapped pinned memory (the kernel read it in place)
  double hostMs = 0;
  double deviceMs = 0;
};

struct PipelineCheckOptions {
  std::string modelDir;
  int decodeSteps = 64;
  int threads = 1;
};

// Throws only when a model cannot be loaded; differences are the cases' problems.
std::vector<PipelineCase> checkDevicePipeline(PipelineCheckOptions const& options);

}  // namespace tv::checks
