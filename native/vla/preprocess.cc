#include "vla/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/fp16.h"

namespace tv::vla {

namespace {

std::uint8_t clampByte(double v) {
  long const r = std::lround(v);
  return static_cast<std::uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
}

// Python's round() for the non-negative values smart_resize rounds: half to even.
long roundHalfEven(double v) {
  double const floor = std::floor(v);
  double const frac = v - floor;
  if (frac > 0.5) return static_cast<long>(floor) + 1;
  if (frac < 0.5) return static_cast<long>(floor);
  long const f = static_cast<long>(floor);
  return f % 2 == 0 ? f : f + 1;
}

// LLaMA-Factory mm_plugin: scale to image_max_pixels / image_min_pixels (int() truncation), then the
// Qwen2-VL plugin's minimum side of 28 and aspect-ratio cap of 200. Each step is a separate resize
// there, so the steps are returned in order (sizes as {width, height}).
std::vector<std::array<int, 2>> regularizeSteps(int width, int height, PreprocessConfig const& c) {
  std::vector<std::array<int, 2>> steps;
  auto push = [&](int w, int h) {
    width = std::max(w, 1);
    height = std::max(h, 1);
    steps.push_back({width, height});
  };
  double const pixels = static_cast<double>(width) * height;
  if (c.preResizeMaxPixels > 0 && pixels > c.preResizeMaxPixels) {
    double const f = std::sqrt(c.preResizeMaxPixels / pixels);
    push(static_cast<int>(width * f), static_cast<int>(height * f));
  }
  double const after = static_cast<double>(width) * height;
  if (c.preResizeMinPixels > 0 && after < c.preResizeMinPixels) {
    double const f = std::sqrt(c.preResizeMinPixels / after);
    push(static_cast<int>(width * f), static_cast<int>(height * f));
  }
  if (std::min(width, height) < 28) push(std::max(width, 28), std::max(height, 28));
  if (width > 200 * height) push(height * 180, height);
  if (height > 200 * width) push(width, width * 180);
  return steps;
}

bool regularizes(PreprocessConfig const& c) { return c.preResizeMaxPixels > 0 || c.preResizeMinPixels > 0; }

}  // namespace

RgbImage frameToRgb(FrameView const& frame) {
  FrameLayout const& l = frame.layout;
  RgbImage out;
  out.width = l.width;
  out.height = l.height;
  out.pixels.resize(static_cast<std::size_t>(l.width) * l.height * 3);
  for (int y = 0; y < l.height; ++y) {
    std::uint8_t const* row = frame.data + static_cast<std::size_t>(y) * l.stride;
    std::uint8_t* dst = &out.pixels[static_cast<std::size_t>(y) * l.width * 3];
    switch (l.format) {
      case PixelFormat::kRgb8: std::copy(row, row + static_cast<std::size_t>(l.width) * 3, dst); break;
      case PixelFormat::kBgr8:
        for (int x = 0; x < l.width; ++x) {
          dst[3 * x + 0] = row[3 * x + 2];
          dst[3 * x + 1] = row[3 * x + 1];
          dst[3 * x + 2] = row[3 * x + 0];
        }
        break;
      case PixelFormat::kRgba8:
        for (int x = 0; x < l.width; ++x) {
          dst[3 * x + 0] = row[4 * x + 0];
          dst[3 * x + 1] = row[4 * x + 1];
          dst[3 * x + 2] = row[4 * x + 2];
        }
        break;
      case PixelFormat::kNv12: {
        // Y plane, then interleaved U, V at half resolution in both directions.
        std::uint8_t const* uv = frame.data + static_cast<std::size_t>(l.stride) * l.height + static_cast<std::size_t>(y / 2) * l.stride;
        for (int x = 0; x < l.width; ++x) {
          double const yy = 1.164383 * (row[x] - 16);
          double const u = uv[(x / 2) * 2 + 0] - 128.0;
          double const v = uv[(x / 2) * 2 + 1] - 128.0;
          dst[3 * x + 0] = clampByte(yy + 1.596027 * v);
          dst[3 * x + 1] = clampByte(yy - 0.391762 * u - 0.812968 * v);
          dst[3 * x + 2] = clampByte(yy + 2.017232 * u);
        }
        break;
      }
    }
  }
  return out;
}

std::array<int, 2> smartResize(int height, int width, int factor, int minPixels, int maxPixels) {
  TV_CHECK_ARG(height > 0 && width > 0, "image size must be positive, got ", width, "x", height);
  TV_CHECK_ARG(static_cast<double>(std::max(height, width)) / std::min(height, width) <= 200.0,
               "absolute aspect ratio must be at most 200, got ", width, "x", height);
  long hBar = roundHalfEven(static_cast<double>(height) / factor) * factor;
  long wBar = roundHalfEven(static_cast<double>(width) / factor) * factor;
  if (static_cast<double>(hBar) * wBar > maxPixels) {
    double const beta = std::sqrt(static_cast<double>(height) * width / maxPixels);
    hBar = std::max<long>(factor, static_cast<long>(std::floor(height / beta / factor)) * factor);
    wBar = std::max<long>(factor, static_cast<long>(std::floor(width / beta / factor)) * factor);
  } else if (static_cast<double>(hBar) * wBar < minPixels) {
    double const beta = std::sqrt(static_cast<double>(minPixels) / (static_cast<double>(height) * width));
    hBar = static_cast<long>(std::ceil(height * beta / factor)) * factor;
    wBar = static_cast<long>(std::ceil(width * beta / factor)) * factor;
  }
  return {static_cast<int>(hBar), static_cast<int>(wBar)};
}

std::vector<std::array<int, 2>> resizePlan(int width, int height, PreprocessConfig const& c) {
  std::vector<std::array<int, 2>> steps;
  if (regularizes(c)) steps = regularizeSteps(width, height, c);
  int const regularWidth = steps.empty() ? width : steps.back()[0];
  int const regularHeight = steps.empty() ? height : steps.back()[1];
  auto const [h, w] = smartResize(regularHeight, regularWidth, c.patchSize * c.mergeSize, c.minPixels, c.maxPixels);
  steps.push_back({w, h});
  return steps;
}

RgbImage resizeForModel(RgbImage const& image, PreprocessConfig const& c) {
  RgbImage resized = image;
  for (auto const& [w, h] : resizePlan(image.width, image.height, c)) resized = resizeBicubic(resized, w, h);
  return resized;
}

ImageGrid modelGrid(int width, int height, PreprocessConfig const& c) {
  auto const [w, h] = resizePlan(width, height, c).back();
  ImageGrid g;
  g.t = 1;
  g.h = h / c.patchSize;
  g.w = w / c.patchSize;
  return g;
}

void limitImageTokens(PreprocessConfig& c, ImageTokenLimits const& limits) {
  TV_CHECK_ARG(limits.minPerImage >= 1 && limits.maxPerImage >= limits.minPerImage && limits.maxTotal >= limits.maxPerImage &&
                   limits.maxImages >= 1 && limits.maxWindows >= 1,
               "invalid image token limits: ", limits.minPerImage, " to ", limits.maxPerImage, " per image, ", limits.maxTotal, " in all, ",
               limits.maxImages, " images");
  // Edge-LLM's pixel bounds: tokens * (patch * merge)^2 (qwenViTRunner.cpp:344-346).
  long long const tokenPixels = static_cast<long long>(c.patchSize * c.mergeSize) * (c.patchSize * c.mergeSize);
  long long const engineMin = limits.minPerImage * tokenPixels;
  long long const engineMax = limits.maxPerImage * tokenPixels;
  TV_CHECK(c.minPixels <= engineMax && c.maxPixels >= engineMin, ErrorCode::kEngineIncompatible, "the image processor's pixel range [",
           c.minPixels, ", ", c.maxPixels, "] and the visual engine's [", engineMin, ", ", engineMax, "] (", limits.minPerImage, " to ",
           limits.maxPerImage, " image tokens per image: visual_build --minImageTokens / --maxImageTokensPerImage) do not overlap");
  c.minPixels = static_cast<int>(std::max<long long>(c.minPixels, engineMin));
  c.maxPixels = static_cast<int>(std::min<long long>(c.maxPixels, engineMax));
  c.imageTokens = limits;
}

void checkImageTokens(std::vector<ImageGrid> const& grids, PreprocessConfig const& c) {
  ImageTokenLimits const& l = c.imageTokens;
  int const unit = c.mergeSize * c.mergeSize;
  int const windowUnits = std::max(1, c.windowSize / c.patchSize / c.mergeSize);  // window edge in merge units
  TV_CHECK_ARG(static_cast<long long>(grids.size()) <= l.maxImages, "the request has ", grids.size(), " images; the visual engine takes at most ",
               l.maxImages, " per call (its cu_seqlens profile: visual_build makes it --maxImageTokens / --minImageTokens)");
  long long total = 0;
  long long windows = 0;
  std::string perImage;
  for (std::size_t i = 0; i < grids.size(); ++i) {
    ImageGrid const& g = grids[i];
    long long const tokens = static_cast<long long>(g.patches()) / unit;
    TV_CHECK_ARG(tokens <= l.maxPerImage, "image ", i, " (", g.w * c.patchSize, "x", g.h * c.patchSize, " after resizing) needs ", tokens,
                 " image tokens; the visual engine takes at most ", l.maxPerImage, " per image (visual_build --maxImageTokensPerImage)");
    TV_CHECK_ARG(tokens >= l.minPerImage, "image ", i, " (", g.w * c.patchSize, "x", g.h * c.patchSize, " after resizing) has ", tokens,
                 " image tokens; the visual engine needs at least ", l.minPerImage, " per image (visual_build --minImageTokens)");
    total += tokens;
    perImage += (i == 0 ? "" : " + ") + std::to_string(tokens);
    int const lh = g.h / c.mergeSize;
    int const lw = g.w / c.mergeSize;
    windows += static_cast<long long>(g.t) * ((lh + windowUnits - 1) / windowUnits) * ((lw + windowUnits - 1) / windowUnits);
  }
  TV_CHECK_ARG(total <= l.maxTotal, "the request's ", grids.size(), " images need ", total, " image tokens (", perImage,
               "); the visual engine takes at most ", l.maxTotal, " per call (visual_build --maxImageTokens)");
  TV_CHECK_ARG(windows <= l.maxWindows, "the request's images make ", windows, " attention windows; the visual engine's cu_window_seqlens ",
               "profile admits ", l.maxWindows, " (visual_build --maxImageTokens)");
}

void windowIndex(std::vector<ImageGrid> const& grids, int windowSize, int patchSize, int mergeSize,
                 std::vector<std::int64_t>& index, std::vector<std::int32_t>& cuWindowSeqlens) {
  TV_CHECK_ARG(patchSize > 0 && mergeSize > 0 && windowSize >= patchSize * mergeSize, "window_size ", windowSize,
               " must cover at least one merge unit of ", patchSize * mergeSize, " pixels");
  int const vws = windowSize / mergeSize / patchSize;  // window edge in merge units
  int const unit = mergeSize * mergeSize;
  index.clear();
  cuWindowSeqlens.assign(1, 0);
  std::int64_t offset = 0;
  for (ImageGrid const& g : grids) {
    int const lh = g.h / mergeSize;
    int const lw = g.w / mergeSize;
    // Hugging Face pads by a whole window when the size is already a multiple (empty windows are
    // dropped below, exactly as its unique_consecutive does).
    int const nh = lh / vws + 1;
    int const nw = lw / vws + 1;
    for (int t = 0; t < g.t; ++t) {
      for (int wh = 0; wh < nh; ++wh) {
        for (int ww = 0; ww < nw; ++ww) {
          // Only the window's cells inside the image: the work is bounded by the image, whatever the
          // window size (a window far larger than the image once made this loop run for days).
          int const y0 = wh * vws;
          int const x0 = ww * vws;
          int const y1 = static_cast<int>(std::min<std::int64_t>(lh, std::int64_t{y0} + vws));
          int const x1 = static_cast<int>(std::min<std::int64_t>(lw, std::int64_t{x0} + vws));
          int count = 0;
          for (int y = y0; y < y1; ++y) {
            for (int x = x0; x < x1; ++x) {
              index.push_back(offset + static_cast<std::int64_t>(t) * lh * lw + static_cast<std::int64_t>(y) * lw + x);
              ++count;
            }
          }
          if (count > 0) cuWindowSeqlens.push_back(cuWindowSeqlens.back() + count * unit);
        }
      }
    }
    offset += static_cast<std::int64_t>(g.t) * lh * lw;
  }
}

std::vector<float> visionRotaryAngles(std::vector<ImageGrid> const& grids, int headDim, int mergeSize, double theta) {
  int const dim = headDim / 2;  // angles per patch
  int const freqs = dim / 2;
  std::vector<double> inv(static_cast<std::size_t>(freqs));
  for (int i = 0; i < freqs; ++i) inv[static_cast<std::size_t>(i)] = 1.0 / std::pow(theta, (2.0 * i) / dim);
  std::vector<float> out;
  for (ImageGrid const& g : grids) {
    for (int t = 0; t < g.t; ++t) {
      for (int bh = 0; bh < g.h / mergeSize; ++bh) {
        for (int bw = 0; bw < g.w / mergeSize; ++bw) {
          for (int i = 0; i < mergeSize; ++i) {
            for (int j = 0; j < mergeSize; ++j) {
              int const hp = bh * mergeSize + i;
              int const wp = bw * mergeSize + j;
              // float32 like torch: inv_freq is float32 and the outer product is float32
              for (int f = 0; f < freqs; ++f) out.push_back(static_cast<float>(hp) * static_cast<float>(inv[static_cast<std::size_t>(f)]));
              for (int f = 0; f < freqs; ++f) out.push_back(static_cast<float>(wp) * static_cast<float>(inv[static_cast<std::size_t>(f)]));
            }
          }
        }
      }
    }
  }
  return out;
}

VisionInputs preprocessImages(std::vector<RgbImage> const& images, PreprocessConfig const& c, bool keepPixelValues) {
  TV_CHECK_ARG(!images.empty(), "preprocessing needs at least one image");
  VisionInputs out;
  int const ps = c.patchSize;
  int const tps = c.temporalPatchSize;
  int const ms = c.mergeSize;
  int const patchDim = c.patchDim();
  for (RgbImage const& source : images) {
    RgbImage const image = resizeForModel(source, c);
    ImageGrid grid;
    grid.t = 1;  // a still image: both temporal slots hold the same frame
    grid.h = image.height / ps;
    grid.w = image.width / ps;
    out.grids.push_back(grid);
    // Normalised planes [3][H][W] (float32 arithmetic, as the processor's numpy pipeline).
    std::size_t const plane = static_cast<std::size_t>(image.width) * image.height;
    std::vector<float> normalized(3 * plane);
    for (std::size_t p = 0; p < plane; ++p) {
      for (int ch = 0; ch < 3; ++ch) {
        float const v = static_cast<float>(image.pixels[p * 3 + ch] * c.rescaleFactor);
        normalized[static_cast<std::size_t>(ch) * plane + p] = (v - c.mean[static_cast<std::size_t>(ch)]) / c.std[static_cast<std::size_t>(ch)];
      }
    }
    // Patch order (t, h/ms, w/ms, ms, ms); inside a patch (channel, temporal, y, x).
    std::size_t const first = out.patches.size();
    out.patches.resize(first + static_cast<std::size_t>(grid.patches()) * patchDim);
    if (keepPixelValues) out.pixelValues.resize(out.patches.size());
    std::size_t patch = first / static_cast<std::size_t>(patchDim);
    for (int bh = 0; bh < grid.h / ms; ++bh) {
      for (int bw = 0; bw < grid.w / ms; ++bw) {
        for (int mh = 0; mh < ms; ++mh) {
          for (int mw = 0; mw < ms; ++mw, ++patch) {
            int const py0 = (bh * ms + mh) * ps;
            int const px0 = (bw * ms + mw) * ps;
            std::size_t o = patch * static_cast<std::size_t>(patchDim);
            for (int ch = 0; ch < 3; ++ch) {
              for (int tp = 0; tp < tps; ++tp) {
                for (int y = 0; y < ps; ++y) {
                  float const* row = &normalized[static_cast<std::size_t>(ch) * plane + static_cast<std::size_t>(py0 + y) * image.width + px0];
                  for (int x = 0; x < ps; ++x, ++o) {
                    out.patches[o] = floatToHalf(row[x]);
                    if (keepPixelValues) out.pixelValues[o] = row[x];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  VisionInputs layout = visionLayout(out.grids, c);
  layout.patches = std::move(out.patches);
  layout.pixelValues = std::move(out.pixelValues);
  return layout;
}

VisionInputs preprocessFrames(std::vector<FrameView> const& frames, PreprocessConfig const& config, bool keepPixelValues) {
  std::vector<RgbImage> images;
  images.reserve(frames.size());
  for (FrameView const& f : frames) images.push_back(frameToRgb(f));
  return preprocessImages(images, config, keepPixelValues);
}

VisionInputs visionLayout(std::vector<ImageGrid> const& grids, PreprocessConfig const& c) {
  VisionInputs out;
  out.grids = grids;
  out.cuSeqlens.assign(1, 0);
  for (ImageGrid const& grid : grids) {
    for (int t = 0; t < grid.t; ++t) out.cuSeqlens.push_back(out.cuSeqlens.back() + grid.h * grid.w);
    out.maxSeqlen = std::max(out.maxSeqlen, grid.h * grid.w);
  }
  windowIndex(out.grids, c.windowSize, c.patchSize, c.mergeSize, out.windowIndex, out.cuWindowSeqlens);
  out.reverseWindowIndex.assign(out.windowIndex.size(), 0);
  for (std::size_t i = 0; i < out.windowIndex.size(); ++i) {
    out.reverseWindowIndex[static_cast<std::size_t>(out.windowIndex[i])] = static_cast<std::int64_t>(i);
  }
  out.rotaryPosEmb = visionRotaryAngles(out.grids, c.visionHeadDim, c.mergeSize, c.rotaryTheta);
  return out;
}

}  // namespace tv::vla
