// The device implementation of PipelineOps (pipeline_ops.h), compiled where the CUDA toolkit is
// found: the kernels of native/cuda/kernels on the session's CUDA stream, on engine buffers in device
// memory (DeviceEngineMemory).
//
//   preprocess  frame bytes (mapped pinned frame memory read in place, else uploaded) -> the
//               preprocessing kernel writes the fp16 patches into the vision engine's `input`;
//               window index, cu_seqlens and rotary angles are computed on the host (small) and
//               uploaded by the session with the other small inputs.
//   embed       ids validated on the host (EmbeddingTable::check) and uploaded; the gather reads the
//               fp16 table (device memory, uploaded once per model) and the vision engine's output in
//               place and writes inputs_embeds.
//   ropeTable   the three position rows are uploaded; the kernel fills rope_rotary_cos_sin.
//   sample      the logits stay on the device (a reduced vocabulary's are first expanded to full ids);
//               penalty, the grammar's allowed list and greedy argmax / top-k sort run there; back come
//               the token, or the top-k candidates for the host's seeded draw (Sampler::drawSorted).
//               Free-text grammar states (no list) restrict the full logits on the host instead.
//   timings     CUDA events on the session stream.
#pragma once

#include <memory>

#include "cuda/kernels/preprocess.h"
#include "vla/pipeline_ops.h"

namespace tv::vla {

struct DevicePipelineOptions {
  // Read frames in place when their memory is mapped (the default). false: always upload them first
  // (tests use it to run the upload path on mapped frames).
  bool mappedFrames = true;
};

// The preprocessing kernel's plan for one frame under a model's preprocessing config: the resize
// chain of vla::resizePlan, then patching and normalisation as the CPU path does them.
cuda::PreprocessPlan devicePreprocessPlan(cuda::FrameSource const& frame, PreprocessConfig const& config);

// Uploads the model's embedding table as fp16 (and a reduced vocabulary's map) into its engine memory,
// which must be device memory. Call once the model's embedding table, vocabulary map and memory are set.
std::shared_ptr<PipelineOpsFactory const> devicePipelineOps(VlaModel const& model, DevicePipelineOptions options = {});

}  // namespace tv::vla
