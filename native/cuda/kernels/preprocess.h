// Image preprocessing on the GPU: one camera frame -> the visual engine's fp16 patch input.
//
//   frame (rgb8 / bgr8 / rgba8 / bgra8 / nv12, read in place: mapped pinned or device memory)
//     -> RGB8 in device memory (read once: on Jetson, pinned memory is uncached for the GPU)
//     -> the chain of Pillow bicubic resizes (vla::resizePlan: regularisation steps, then smart resize)
//     -> rescale + normalise -> patches in Hugging Face Qwen2VLImageProcessor order
//        [(H/ps) * (W/ps), 3 * tps * ps * ps] fp16, the still image repeated in every temporal slot.
//
// Bit-identical to the CPU path (vla::frameToRgb, vla::resizeForModel, vla::preprocessImages): the
// Pillow coefficients are computed on the device in double precision with explicitly rounded operations
// (no fused multiply-add), the passes accumulate in int64 exactly as the CPU does, and the normalisation
// uses the same float / double operation order; so no tolerance is needed.
//
// The launcher enqueues work on `stream` and allocates nothing: the caller provides a device workspace
// of preprocessWorkspaceBytes(plan) bytes. Argument errors throw tv::Error (ERR_INVALID_ARGUMENT).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tv::cuda {

// Pixel layouts a frame may have. bgra8 exists here only (the CPU path has no bgra8 yet).
enum class FrameFormat { kRgb8, kBgr8, kRgba8, kBgra8, kNv12 };

struct FrameSource {
  FrameFormat format = FrameFormat::kRgb8;
  int width = 0;
  int height = 0;
  int stride = 0;              // bytes per row (of the Y plane for nv12)
  std::size_t byteLength = 0;  // readable bytes at data; nv12 needs stride * height * 3 / 2
  void const* data = nullptr;  // [device-readable, u8]: device memory, or mapped pinned memory's device pointer
};

struct PreprocessPlan {
  FrameSource frame;
  // The bicubic resizes, in order, as {width, height} (vla::resizePlan). The last size is the model's
  // input size and must be a multiple of patchSize * mergeSize in both directions. Empty: the frame is
  // already that size.
  std::vector<std::array<int, 2>> resizes;
  int patchSize = 14;
  int temporalPatchSize = 2;
  int mergeSize = 2;
  double rescaleFactor = 1.0 / 255.0;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};

  int patchDim() const { return 3 * temporalPatchSize * patchSize * patchSize; }
};

// The model-input size of a plan ({width, height}): the last resize, or the frame.
std::array<int, 2> preprocessOutputSize(PreprocessPlan const& plan);

// Patches the plan produces: (height / patchSize) * (width / patchSize). Validates the plan.
std::int64_t preprocessPatchCount(PreprocessPlan const& plan);

// Device scratch for launchPreprocess (RGB8 copies of the frame and every intermediate, and the resize
// coefficients). Validates the plan.
std::size_t preprocessWorkspaceBytes(PreprocessPlan const& plan);

// patches: [device, f16 as uint16] [preprocessPatchCount(plan), plan.patchDim()], 2-byte aligned.
// workspace: [device] at least preprocessWorkspaceBytes(plan) bytes, 256-byte aligned.
void launchPreprocess(PreprocessPlan const& plan, void* workspace, std::size_t workspaceBytes, std::uint16_t* patches,
                      cudaStream_t stream);

}  // namespace tv::cuda
