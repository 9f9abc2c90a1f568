// Bicubic resampling of 8-bit RGB images exactly as Pillow's Image.resize(..., BICUBIC) computes it
// (libImaging/Resample.c): a separable filter (a = -0.5) whose support widens with the downscale
// factor (antialiasing), coefficients normalized and converted to 22-bit fixed point, a horizontal pass
// into an 8-bit intermediate, then a vertical pass, each rounding half up and clipping to 0..255.
// Qwen2-VL's image processor and LLaMA-Factory resize with exactly this, so matching it keeps the
// pixels the model sees identical to training.
#pragma once

#include <cstdint>
#include <vector>

namespace tv::vla {

// An interleaved RGB8 image (3 bytes per pixel, rows packed).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // [height][width][3]
};

// Pillow-compatible bicubic resize. Returns the input unchanged (copied) when the size is the same.
RgbImage resizeBicubic(RgbImage const& in, int width, int height);

}  // namespace tv::vla
