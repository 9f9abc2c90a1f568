// Image preprocessing for Qwen2.5-VL, from camera frames to the visual engine's inputs:
//   frame (rgb8 / rgba8 / bgr8 / nv12) -> RGB -> optional LLaMA-Factory regularisation (what the
//   Impromptu checkpoints were trained with) -> Qwen2-VL smart resize -> rescale + normalise ->
//   patchify in Hugging Face Qwen2VLImageProcessor order ([HW, 3*2*14*14], a still image fills both
//   temporal slots) -> grid (t, h, w), window index / reverse index / cu_window_seqlens of the windowed
//   attention, cu_seqlens per image, and the 2-D rotary angles.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vla/frame.h"
#include "vla/image_resize.h"

namespace tv::vla {

// What the vision engine accepts per request, in image tokens (one token = mergeSize^2 patches): the
// bounds Edge-LLM's visual_build bakes into the engine's profile (Edge-LLM 0.6.1
// cpp/builder/visualBuilder.cpp:229-284) and its runtime enforces per image and per request
// (cpp/multimodal/qwenViTRunner.cpp:117-119,157-165,307-312,344-346,421-425). The defaults limit nothing.
struct ImageTokenLimits {
  int minPerImage = 1;           // --minImageTokens: each image's floor (and the request's)
  int maxPerImage = 1 << 30;     // --maxImageTokensPerImage
  int maxTotal = 1 << 30;        // --maxImageTokens: all images of one request together
  int maxImages = 1 << 30;       // cu_seqlens profile max - 1 (visual_build: max(1, max / min))
  int maxWindows = 1 << 30;      // cu_window_seqlens profile max - 1
};

struct PreprocessConfig {
  int patchSize = 14;
  int temporalPatchSize = 2;
  int mergeSize = 2;
  int minPixels = 56 * 56;           // smart-resize bounds of the image processor
  int maxPixels = 14 * 14 * 4 * 1280;
  // LLaMA-Factory's image regularisation before the processor (image_max_pixels / image_min_pixels);
  // 0 disables it. The Impromptu checkpoints were trained with 262144 / 1024.
  int preResizeMaxPixels = 0;
  int preResizeMinPixels = 0;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  double rescaleFactor = 1.0 / 255.0;
  int windowSize = 112;      // vision_config.window_size (pixels)
  int visionHeadDim = 80;    // vision hidden / heads: rotary angles per patch = headDim / 2
  double rotaryTheta = 10000.0;
  // The vision engine's limits; minPixels / maxPixels above are already narrowed to its per-image range
  // (limitImageTokens) when a model is loaded.
  ImageTokenLimits imageTokens;
  int channels() const { return 3; }
  int patchDim() const { return channels() * temporalPatchSize * patchSize * patchSize; }
};

// A patch grid: temporal, height, width in patches (image tokens = t * h * w / 4).
struct ImageGrid {
  int t = 1;
  int h = 0;
  int w = 0;
  int patches() const { return t * h * w; }
};

// One camera frame as native code reads it.
struct FrameView {
  FrameLayout layout;
  std::uint8_t const* data = nullptr;
  // The address CUDA kernels read the same bytes at (mapped pinned frame memory), or null: the device
  // pipeline then uploads the frame first.
  void const* deviceData = nullptr;
};

struct VisionInputs {
  std::vector<ImageGrid> grids;
  std::vector<std::uint16_t> patches;    // [HW][patchDim] fp16 (the visual engine's `input`)
  std::vector<float> pixelValues;        // [HW][patchDim] fp32, only when requested
  std::vector<float> rotaryPosEmb;       // [HW][visionHeadDim / 2]
  std::vector<std::int32_t> cuSeqlens;   // [frames + 1]
  std::vector<std::int32_t> cuWindowSeqlens;
  std::vector<std::int64_t> windowIndex;         // [HW / 4]
  std::vector<std::int64_t> reverseWindowIndex;  // [HW / 4]
  int maxSeqlen = 0;                      // longest cu_seqlens segment (max_seqlen_carrier length)
  int totalPatches() const { return static_cast<int>(cuSeqlens.empty() ? 0 : cuSeqlens.back()); }
  int imageTokens() const { return totalPatches() / 4; }
};

// Converts a frame to interleaved RGB8 (nv12: BT.601 limited range, the usual camera encoding).
RgbImage frameToRgb(FrameView const& frame);

// Qwen2-VL smart_resize: the size (multiples of patch * merge) closest to the input within
// [minPixels, maxPixels]. Throws ERR_INVALID_ARGUMENT for aspect ratios above 200.
std::array<int, 2> smartResize(int height, int width, int factor, int minPixels, int maxPixels);

// Narrows the processor's smart-resize bounds to the engine's per-image token range, as Edge-LLM sizes
// each image from builder_config (qwenViTRunner.cpp:344-346), and stores the limits in config. The
// processor's own bounds still apply inside that range (trt-vla keeps the Hugging Face resize the model
// was trained with, see preprocess.cc). Throws ERR_ENGINE_INCOMPATIBLE when the two ranges do not meet.
void limitImageTokens(PreprocessConfig& config, ImageTokenLimits const& limits);

// Refuses (ERR_INVALID_ARGUMENT) a request whose images the vision engine cannot take in one call: too
// many images, too many image tokens in all, an image outside the per-image range, more attention
// windows than cu_window_seqlens admits. The message names the numbers and the visual_build flag that
// raises the limit. Called before any work of the request is enqueued.
void checkImageTokens(std::vector<ImageGrid> const& grids, PreprocessConfig const& config);

// The whole preprocessing of 1..N images. pixelValues are kept when keepPixelValues is set.
VisionInputs preprocessImages(std::vector<RgbImage> const& images, PreprocessConfig const& config, bool keepPixelValues);
// The same from camera frames (each converted with frameToRgb first).
VisionInputs preprocessFrames(std::vector<FrameView> const& frames, PreprocessConfig const& config, bool keepPixelValues);

// Everything of VisionInputs but the pixels, for images of these grids (in order): cu_seqlens,
// max_seqlen, the window index, its reverse and cu_window_seqlens, and the rotary angles. Small and
// computed on the host by both pipelines; the device pipeline makes the patches on the GPU.
VisionInputs visionLayout(std::vector<ImageGrid> const& grids, PreprocessConfig const& config);

// The resize steps alone (regularisation + smart resize): what the model sees, as an image.
RgbImage resizeForModel(RgbImage const& image, PreprocessConfig const& config);

// The bicubic resizes resizeForModel applies to an image of this size, in order, as {width, height}:
// LLaMA-Factory's regularisation steps (each its own resize), then the smart resize. A step to the size
// it already has is kept (resizeBicubic copies then). The GPU preprocessing runs the same chain.
std::vector<std::array<int, 2>> resizePlan(int width, int height, PreprocessConfig const& config);

// The patch grid an image of this size gets, without touching pixels (the tokenizer needs it to expand
// the image's <image> placeholder before the pixels are processed).
ImageGrid modelGrid(int width, int height, PreprocessConfig const& config);

// Window grouping of Qwen2.5-VL (Hugging Face get_window_index): window_index over merge units and
// cu_window_seqlens (in patches, consecutive duplicates removed).
void windowIndex(std::vector<ImageGrid> const& grids, int windowSize, int patchSize, int mergeSize,
                 std::vector<std::int64_t>& index, std::vector<std::int32_t>& cuWindowSeqlens);

// Rotary angles per patch (Hugging Face rot_pos_emb): h position times the inverse frequencies, then
// w position times them; headDim / 2 values per patch, patches in merge-unit order.
std::vector<float> visionRotaryAngles(std::vector<ImageGrid> const& grids, int headDim, int mergeSize, double theta);

}  // namespace tv::vla
