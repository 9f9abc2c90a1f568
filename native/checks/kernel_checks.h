// The CUDA kernels run beside the CPU code they reproduce, on the same inputs: each *OnGpu runs a
// kernel (guard bytes after every output catch out-of-bounds writes) and each *OnCpu the host path.
// Shared by the test addon's hooks (native/testing/cuda_testing.cc: the tests compare the two results)
// and trt-vla-gpu-check (native/checks/gpu_check.cc: the same comparisons on a bare CUDA machine, no
// Node). Only compiled where the CUDA toolkit is found. Failures throw tv::Error.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/kernels/preprocess.h"
#include "vla/positions.h"
#include "vla/preprocess.h"
#include "vla/sampler.h"

namespace tv::checks {

// Asked for: the kernel launched `runs` more times after the checked launch, each between two CUDA
// events on its stream; medianMs is the median of those times.
struct KernelTiming {
  int runs = 0;
  double medianMs = 0.0;
};

// ---- preprocessing: frame -> fp16 patches [patches * patchDim]
struct FrameInput {
  std::vector<std::uint8_t> data;
  std::string format;  // rgb8 | bgr8 | rgba8 | bgra8 | nv12
  int width = 0;
  int height = 0;
  int stride = 0;  // 0: packed
};

// Checks the frame's size against its layout; the resize chain the kernel runs.
cuda::PreprocessPlan preprocessPlan(FrameInput const& frame, vla::PreprocessConfig const& config);
// mapped: the kernel reads the frame in place from mapped pinned memory (the zero-copy path); false, or
// where the device cannot map host memory: from a device copy.
std::vector<std::uint16_t> preprocessOnGpu(cuda::PreprocessPlan plan, std::vector<std::uint8_t> const& frame, bool mapped,
                                           KernelTiming* timing = nullptr);
// The CPU path; not for bgra8, which it does not read.
std::vector<std::uint16_t> preprocessOnCpu(FrameInput const& frame, vla::PreprocessConfig const& config);

// ---- embedding splice: inputs_embeds [ids * hidden] fp16
struct EmbedInput {
  std::string file;  // safetensors file holding tensor `name`, F16 [vocab, hidden]
  std::string name;
  int vocab = 0;
  int hidden = 0;
  std::vector<std::int32_t> ids;
  std::int32_t imageTokenId = -1;
  std::vector<std::uint16_t> image;  // [imageRows * hidden]
  int imageRows = 0;
  bool misalign = false;  // table, image rows and output 2 bytes past an aligned address
};
std::vector<std::uint16_t> embedOnGpu(EmbedInput const& in, KernelTiming* timing = nullptr);
std::vector<std::uint16_t> embedOnCpu(EmbedInput const& in);

// ---- M-RoPE cos/sin table [capacity * headDim]; rows outside [rowBegin, rowEnd) keep kUnwrittenRope
constexpr float kUnwrittenRope = -7.0f;
struct RopeInput {
  std::vector<std::int32_t> ids;
  int capacity = 0;
  std::int32_t imageTokenId = -1;
  std::vector<vla::ImageGrid> grids;
  int mergeSize = 2;
  int headDim = 0;
  std::array<int, 3> mropeSection{};
  double theta = 1000000.0;
  int rowBegin = 0;
  int rowEnd = -1;  // -1: capacity
};
std::vector<float> ropeOnGpu(RopeInput const& in, KernelTiming* timing = nullptr);
std::vector<float> ropeOnCpu(RopeInput const& in);

// ---- sampling: `steps` steps of one sampler each (same seed), noting each picked token as the decoder
// does; logits are the per-step logits after the penalty.
struct SampleInput {
  std::vector<float> logits;  // [steps * vocab]
  int vocab = 0;
  int steps = 1;
  std::vector<std::int32_t> allowed;  // empty: no mask
  std::vector<std::int32_t> prompt;
  vla::SamplingConfig config;
};
struct SampleRun {
  std::vector<std::int32_t> tokens;
  std::vector<float> logits;
};
SampleRun sampleOnGpu(SampleInput const& in, KernelTiming* timing = nullptr);
SampleRun sampleOnCpu(SampleInput const& in);

// ---- reduced-vocabulary logits written at their full ids of a row of -inf [fullCount]
struct ExpandInput {
  std::vector<float> reduced;
  std::vector<std::int32_t> map;  // ascending full ids, one per reduced logit
  int fullCount = 0;
};
std::vector<float> expandLogitsOnGpu(ExpandInput const& in, KernelTiming* timing = nullptr);
std::vector<float> expandLogitsOnCpu(ExpandInput const& in);

// ---- the device side of a greedy decode step as one CUDA graph: the sampling kernel picks the token
// from a logits row, the embedding gather reads that token where the sampler wrote it (no host round
// trip) and writes its row. Run per step as direct launches and as a replay of one captured graph; the
// CPU reference is the host sampler's pick and the table's row.
struct DecodeStepInput {
  std::string file;  // F16 [vocab, hidden] table `name`, as EmbedInput
  std::string name;
  int vocab = 0;
  int hidden = 0;
  std::vector<float> logits;  // [steps * vocab]
  int steps = 1;
};
struct DecodeStepRun {
  std::vector<std::int32_t> tokens;  // one per step
  std::vector<std::uint16_t> rows;   // [steps * hidden]
};
DecodeStepRun decodeStepsDirect(DecodeStepInput const& in, KernelTiming* timing = nullptr);
DecodeStepRun decodeStepsGraph(DecodeStepInput const& in, KernelTiming* timing = nullptr);
DecodeStepRun decodeStepsOnCpu(DecodeStepInput const& in);

}  // namespace tv::checks
