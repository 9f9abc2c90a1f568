#include "cuda/kernels/preprocess.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "cuda/kernels/launch.cuh"

namespace tv::cuda {

namespace {

using detail::firstIndex;
using detail::gridStride;

// Pillow's PRECISION_BITS for 8-bit images (libImaging/Resample.c), as vla/image_resize.cc.
constexpr int kPrecisionBits = 32 - 8 - 2;
// Keeps every buffer size and index comfortably inside 64-bit arithmetic and the coefficient tables
// small; real frames are at most 16384 pixels a side (vla::kMaxFrameDimension).
constexpr int kMaxDimension = 32768;

// ---------------------------------------------------------------------------------------------------
// Frame -> RGB8

__device__ inline std::uint8_t clampRoundByte(double v) {
  // std::lround then clamp, as vla::frameToRgb: round() is exact and rounds halves away from zero.
  double const r = round(v);
  return static_cast<std::uint8_t>(r < 0.0 ? 0.0 : (r > 255.0 ? 255.0 : r));
}

// One thread per pixel. Each frame byte is read once: on Jetson the GPU does not cache mapped pinned
// memory, so the resize passes (which read each pixel many times) run on the device copy instead.
__global__ void frameToRgbKernel(std::uint8_t const* __restrict__ frame, FrameFormat format, int width, int height,
                                 std::int64_t stride, std::uint8_t* __restrict__ rgb) {
  std::int64_t const pixels = static_cast<std::int64_t>(width) * height;
  for (std::int64_t p = firstIndex(); p < pixels; p += gridStride()) {
    std::int64_t const y = p / width;
    std::int64_t const x = p % width;
    std::uint8_t const* row = frame + y * stride;
    std::uint8_t* dst = rgb + p * 3;
    switch (format) {
      case FrameFormat::kRgb8:
        dst[0] = row[3 * x + 0];
        dst[1] = row[3 * x + 1];
        dst[2] = row[3 * x + 2];
        break;
      case FrameFormat::kBgr8:
        dst[0] = row[3 * x + 2];
        dst[1] = row[3 * x + 1];
        dst[2] = row[3 * x + 0];
        break;
      case FrameFormat::kRgba8:
        dst[0] = row[4 * x + 0];
        dst[1] = row[4 * x + 1];
        dst[2] = row[4 * x + 2];
        break;
      case FrameFormat::kBgra8:
        dst[0] = row[4 * x + 2];
        dst[1] = row[4 * x + 1];
        dst[2] = row[4 * x + 0];
        break;
      case FrameFormat::kNv12: {
        // BT.601 limited range in double, each product and sum rounded on its own (the _rn intrinsics
        // stop nvcc from fusing them into FMAs, which the CPU build does not do either).
        std::uint8_t const* uv = frame + stride * height + (y / 2) * stride + (x / 2) * 2;
        double const luma = __dmul_rn(1.164383, static_cast<double>(static_cast<int>(row[x]) - 16));
        double const u = static_cast<double>(uv[0]) - 128.0;
        double const v = static_cast<double>(uv[1]) - 128.0;
        dst[0] = clampRoundByte(__dadd_rn(luma, __dmul_rn(1.596027, v)));
        dst[1] = clampRoundByte(__dsub_rn(__dsub_rn(luma, __dmul_rn(0.391762, u)), __dmul_rn(0.812968, v)));
        dst[2] = clampRoundByte(__dadd_rn(luma, __dmul_rn(2.017232, u)));
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Pillow bicubic resize (vla/image_resize.cc, itself Pillow's libImaging/Resample.c)

// The bicubic kernel (a = -0.5) with the CPU's operation order, every step rounded separately.
__device__ inline double bicubic(double x) {
  x = fabs(x);
  if (x < 1.0) return __dadd_rn(__dmul_rn(__dmul_rn(__dsub_rn(__dmul_rn(1.5, x), 2.5), x), x), 1.0);
  if (x < 2.0) {
    double t = __dmul_rn(__dsub_rn(x, 5.0), x);
    t = __dmul_rn(__dadd_rn(t, 8.0), x);
    return __dmul_rn(__dsub_rn(t, 4.0), -0.5);
  }
  return 0.0;
}

// One thread per output coordinate: the first input index, the tap count and the 22-bit fixed-point
// weights (row stride `taps`). Same double arithmetic as the CPU's computeCoefficients; the normalising
// sum is taken in the same order, so every weight is bit-identical. The CPU keeps the unnormalised
// taps in an array; here they are evaluated twice instead (a pure function, so the values agree).
__global__ void coefficientsKernel(int inSize, int outSize, int taps, std::int32_t* __restrict__ first,
                                   std::int32_t* __restrict__ count, std::int32_t* __restrict__ weights) {
  double const scale = __ddiv_rn(static_cast<double>(inSize), static_cast<double>(outSize));
  double const filterScale = scale > 1.0 ? scale : 1.0;
  double const support = __dmul_rn(2.0, filterScale);
  double const ss = __ddiv_rn(1.0, filterScale);
  for (std::int64_t i = firstIndex(); i < outSize; i += gridStride()) {
    int const xx = static_cast<int>(i);
    double const center = __dmul_rn(static_cast<double>(xx) + 0.5, scale);
    int xmin = __double2int_rz(__dadd_rn(__dsub_rn(center, support), 0.5));  // truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = __double2int_rz(__dadd_rn(__dadd_rn(center, support), 0.5));
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    if (xmax > taps) xmax = taps;  // cannot happen (taps bounds the support); keeps the writes in the row
    if (xmax < 0) xmax = 0;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      sum = __dadd_rn(sum, bicubic(__dmul_rn(__dadd_rn(__dsub_rn(static_cast<double>(x + xmin), center), 0.5), ss)));
    }
    std::int32_t* row = weights + i * taps;
    for (int x = 0; x < taps; ++x) {
      std::int32_t fixed = 0;
      if (x < xmax) {
        double const k = bicubic(__dmul_rn(__dadd_rn(__dsub_rn(static_cast<double>(x + xmin), center), 0.5), ss));
        double const w = sum != 0.0 ? __ddiv_rn(k, sum) : k;
        double const scaled = __dmul_rn(w, static_cast<double>(1 << kPrecisionBits));
        fixed = __double2int_rz(w < 0.0 ? __dadd_rn(-0.5, scaled) : __dadd_rn(0.5, scaled));
      }
      row[x] = fixed;
    }
    first[i] = xmin;
    count[i] = xmax;
  }
}

__device__ inline std::uint8_t clip8(std::int64_t sum) {
  std::int64_t const v = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass: every row of the source (the CPU computes only the rows the vertical pass reads;
// the extra rows here are never read, so the result is the same). One thread per output pixel.
// Sums in int64 as the CPU does (Pillow's int32 can only differ where it would overflow).
__global__ void horizontalPassKernel(std::uint8_t const* __restrict__ src, int inWidth, int rows, int outWidth,
                                     int taps, std::int32_t const* __restrict__ first,
                                     std::int32_t const* __restrict__ count, std::int32_t const* __restrict__ weights,
                                     std::uint8_t* __restrict__ dst) {
  std::int64_t const pixels = static_cast<std::int64_t>(rows) * outWidth;
  for (std::int64_t p = firstIndex(); p < pixels; p += gridStride()) {
    std::int64_t const y = p / outWidth;
    int const xx = static_cast<int>(p % outWidth);
    std::int32_t const* k = weights + static_cast<std::int64_t>(xx) * taps;
    std::uint8_t const* in = src + (y * inWidth + first[xx]) * 3;
    int const n = count[xx];
    std::int64_t s0 = 1 << (kPrecisionBits - 1);
    std::int64_t s1 = s0;
    std::int64_t s2 = s0;
    for (int x = 0; x < n; ++x) {
      s0 += static_cast<std::int64_t>(in[3 * x + 0]) * k[x];
      s1 += static_cast<std::int64_t>(in[3 * x + 1]) * k[x];
      s2 += static_cast<std::int64_t>(in[3 * x + 2]) * k[x];
    }
    std::uint8_t* out = dst + p * 3;
    out[0] = clip8(s0);
    out[1] = clip8(s1);
    out[2] = clip8(s2);
  }
}

// Vertical pass: one thread per output byte (adjacent threads read adjacent bytes of each input row).
__global__ void verticalPassKernel(std::uint8_t const* __restrict__ src, int width, int outHeight, int taps,
                                   std::int32_t const* __restrict__ first, std::int32_t const* __restrict__ count,
                                   std::int32_t const* __restrict__ weights, std::uint8_t* __restrict__ dst) {
  std::int64_t const rowBytes = static_cast<std::int64_t>(width) * 3;
  std::int64_t const bytes = rowBytes * outHeight;
  for (std::int64_t b = firstIndex(); b < bytes; b += gridStride()) {
    int const yy = static_cast<int>(b / rowBytes);
    std::int64_t const xx = b % rowBytes;
    std::int32_t const* k = weights + static_cast<std::int64_t>(yy) * taps;
    std::uint8_t const* in = src + static_cast<std::int64_t>(first[yy]) * rowBytes + xx;
    int const n = count[yy];
    std::int64_t s = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < n; ++y) s += static_cast<std::int64_t>(in[y * rowBytes]) * k[y];
    dst[b] = clip8(s);
  }
}

// ---------------------------------------------------------------------------------------------------
// Rescale, normalise, patchify

struct Normalization {
  double rescale;
  float mean[3];
  float std[3];
};

// One thread per output element, in output order (coalesced fp16 stores). Output index -> (patch,
// channel, temporal slot, y, x) in Qwen2VLImageProcessor order; patches run over (h/ms, w/ms, ms, ms).
// The arithmetic is the CPU's: float(pixel * rescale) in double, then (v - mean) / std in float, then
// fp16 with round-to-nearest-even (vla's floatToHalf), all explicitly rounded.
__global__ void patchifyKernel(std::uint8_t const* __restrict__ rgb, int width, int gridW, int patchSize, int temporal,
                               int merge, Normalization norm, std::int64_t patches, __half* __restrict__ out) {
  int const patchDim = 3 * temporal * patchSize * patchSize;
  std::int64_t const total = patches * patchDim;
  int const unitsW = gridW / merge;
  for (std::int64_t e = firstIndex(); e < total; e += gridStride()) {
    std::int64_t const patch = e / patchDim;
    int inner = static_cast<int>(e % patchDim);
    int const x = inner % patchSize;
    inner /= patchSize;
    int const y = inner % patchSize;
    inner /= patchSize;  // inner = channel * temporal + slot; every slot holds the same still image
    int const channel = inner / temporal;
    std::int64_t unit = patch;
    int const mw = static_cast<int>(unit % merge);
    unit /= merge;
    int const mh = static_cast<int>(unit % merge);
    unit /= merge;
    std::int64_t const bw = unit % unitsW;
    std::int64_t const bh = unit / unitsW;
    std::int64_t const row = (bh * merge + mh) * patchSize + y;
    std::int64_t const col = (bw * merge + mw) * patchSize + x;
    int const pixel = rgb[(row * width + col) * 3 + channel];
    float const v = __double2float_rn(__dmul_rn(static_cast<double>(pixel), norm.rescale));
    // Selects instead of indexing the parameter arrays, which would copy them to local memory.
    float const mean = channel == 0 ? norm.mean[0] : (channel == 1 ? norm.mean[1] : norm.mean[2]);
    float const deviation = channel == 0 ? norm.std[0] : (channel == 1 ? norm.std[1] : norm.std[2]);
    out[e] = __float2half_rn(__fdiv_rn(__fsub_rn(v, mean), deviation));
  }
}

// ---------------------------------------------------------------------------------------------------
// Host side: validation and the workspace layout

int bytesPerPixel(FrameFormat format) {
  switch (format) {
    case FrameFormat::kRgb8:
    case FrameFormat::kBgr8: return 3;
    case FrameFormat::kRgba8:
    case FrameFormat::kBgra8: return 4;
    case FrameFormat::kNv12: return 1;
  }
  return 0;
}

// Pillow's tap count for one axis (its ksize): the row stride of the weight table.
int tapsFor(int inSize, int outSize) {
  double const scale = static_cast<double>(inSize) / outSize;
  double const support = 2.0 * std::max(scale, 1.0);
  return static_cast<int>(std::ceil(support)) * 2 + 1;
}

struct Coefficients {
  int size = 0;  // output positions
  int taps = 0;
  std::size_t offset = 0;  // first [size], count [size], weights [size][taps], all int32
  std::size_t bytes() const { return sizeof(std::int32_t) * static_cast<std::size_t>(size) * (2 + static_cast<std::size_t>(taps)); }
};

struct Step {
  int inWidth = 0, inHeight = 0, outWidth = 0, outHeight = 0;
  bool horizontal = false, vertical = false;
  Coefficients h, v;
  std::size_t temp = 0;  // horizontal result [inHeight][outWidth][3]
  std::size_t out = 0;   // vertical result [outHeight][outWidth][3]
};

struct Layout {
  std::size_t rgb = 0;  // the frame as RGB8 [height][width][3]
  std::vector<Step> steps;
  std::size_t bytes = 0;
  std::array<int, 2> size{};  // final {width, height}
};

void checkDimension(int value, char const* what) {
  TV_CHECK_ARG(value >= 1 && value <= kMaxDimension, "Expected an integer between 1 and ", kMaxDimension, " for ", what,
               " but received ", value);
}

Layout planLayout(PreprocessPlan const& plan) {
  FrameSource const& f = plan.frame;
  checkDimension(f.width, "the frame width");
  checkDimension(f.height, "the frame height");
  TV_CHECK_ARG(static_cast<int>(f.format) >= 0 && static_cast<int>(f.format) <= static_cast<int>(FrameFormat::kNv12),
               "unknown frame format ", static_cast<int>(f.format));
  if (f.format == FrameFormat::kNv12) {
    TV_CHECK_ARG(f.width % 2 == 0 && f.height % 2 == 0, "nv12 frames need an even width and height but received ",
                 f.width, "x", f.height);
  }
  std::int64_t const rowBytes = static_cast<std::int64_t>(f.width) * bytesPerPixel(f.format);
  TV_CHECK_ARG(f.stride >= rowBytes, "Expected a stride of at least ", rowBytes, " bytes but received ", f.stride);
  std::int64_t needed = static_cast<std::int64_t>(f.stride) * f.height;
  if (f.format == FrameFormat::kNv12) needed = needed * 3 / 2;
  TV_CHECK_ARG(f.byteLength >= static_cast<std::uint64_t>(needed), "the frame needs ", needed, " bytes but ",
               f.byteLength, " were given");
  TV_CHECK_ARG(plan.patchSize >= 1 && plan.patchSize <= 64, "patchSize must be between 1 and 64, got ", plan.patchSize);
  TV_CHECK_ARG(plan.temporalPatchSize >= 1 && plan.temporalPatchSize <= 16, "temporalPatchSize must be between 1 and 16, got ",
               plan.temporalPatchSize);
  TV_CHECK_ARG(plan.mergeSize >= 1 && plan.mergeSize <= 16, "mergeSize must be between 1 and 16, got ", plan.mergeSize);
  TV_CHECK_ARG(plan.rescaleFactor > 0.0 && std::isfinite(plan.rescaleFactor), "rescaleFactor must be positive");
  for (int c = 0; c < 3; ++c) {
    TV_CHECK_ARG(std::isfinite(plan.mean[c]) && std::isfinite(plan.std[c]) && plan.std[c] != 0.0f,
                 "mean and std must be finite and std non-zero");
  }

  Layout layout;
  std::size_t offset = 0;
  auto take = [&](std::size_t bytes) {
    std::size_t const at = offset;
    offset += detail::alignUp(bytes);
    return at;
  };
  layout.rgb = take(static_cast<std::size_t>(f.width) * f.height * 3);
  int width = f.width;
  int height = f.height;
  for (auto const& [w, h] : plan.resizes) {
    checkDimension(w, "a resize width");
    checkDimension(h, "a resize height");
    Step s;
    s.inWidth = width;
    s.inHeight = height;
    s.outWidth = w;
    s.outHeight = h;
    s.horizontal = w != width;
    s.vertical = h != height;
    if (s.horizontal) {
      s.h.size = w;
      s.h.taps = tapsFor(width, w);
      s.h.offset = take(s.h.bytes());
      s.temp = take(static_cast<std::size_t>(w) * height * 3);
    }
    if (s.vertical) {
      s.v.size = h;
      s.v.taps = tapsFor(height, h);
      s.v.offset = take(s.v.bytes());
      s.out = take(static_cast<std::size_t>(w) * h * 3);
    }
    layout.steps.push_back(s);
    width = w;
    height = h;
  }
  int const factor = plan.patchSize * plan.mergeSize;
  TV_CHECK_ARG(width % factor == 0 && height % factor == 0, "the model input size ", width, "x", height,
               " must be a multiple of patchSize * mergeSize (", factor, ")");
  layout.size = {width, height};
  layout.bytes = offset;
  return layout;
}

void launchCoefficients(Coefficients const& c, int inSize, std::uint8_t* base, cudaStream_t stream) {
  auto* first = reinterpret_cast<std::int32_t*>(base + c.offset);
  auto* count = first + c.size;
  auto* weights = count + c.size;
  // 64 threads: the per-thread work (two passes over up to `taps` taps in double) is long and the
  // output count small, so more blocks spread it over more SMs.
  coefficientsKernel<<<detail::blocksFor(c.size, 64), 64, 0, stream>>>(inSize, c.size, c.taps, first, count, weights);
  detail::checkLaunch("coefficientsKernel");
}

}  // namespace

std::array<int, 2> preprocessOutputSize(PreprocessPlan const& plan) { return planLayout(plan).size; }

std::int64_t preprocessPatchCount(PreprocessPlan const& plan) {
  auto const [w, h] = planLayout(plan).size;
  return static_cast<std::int64_t>(w / plan.patchSize) * (h / plan.patchSize);
}

std::size_t preprocessWorkspaceBytes(PreprocessPlan const& plan) { return planLayout(plan).bytes; }

void launchPreprocess(PreprocessPlan const& plan, void* workspace, std::size_t workspaceBytes, std::uint16_t* patches,
                      cudaStream_t stream) {
  Layout const layout = planLayout(plan);
  TV_CHECK_ARG(plan.frame.data != nullptr, "the frame has no device-readable address");
  TV_CHECK_ARG(workspace != nullptr && workspaceBytes >= layout.bytes, "the preprocessing workspace needs ", layout.bytes,
               " bytes but ", workspaceBytes, " were given");
  TV_CHECK_ARG(detail::aligned(workspace, detail::kWorkspaceAlignment), "the preprocessing workspace must be ",
               detail::kWorkspaceAlignment, "-byte aligned");
  TV_CHECK_ARG(patches != nullptr && detail::aligned(patches, alignof(__half)), "patches must be a 2-byte aligned device pointer");

  auto* base = static_cast<std::uint8_t*>(workspace);
  FrameSource const& f = plan.frame;
  std::uint8_t* current = base + layout.rgb;
  frameToRgbKernel<<<detail::blocksFor(static_cast<std::int64_t>(f.width) * f.height), detail::kThreads, 0, stream>>>(
      static_cast<std::uint8_t const*>(f.data), f.format, f.width, f.height, f.stride, current);
  detail::checkLaunch("frameToRgbKernel");

  for (Step const& s : layout.steps) {
    if (s.horizontal) {
      launchCoefficients(s.h, s.inWidth, base, stream);
      auto const* first = reinterpret_cast<std::int32_t const*>(base + s.h.offset);
      std::uint8_t* dst = base + s.temp;
      horizontalPassKernel<<<detail::blocksFor(static_cast<std::int64_t>(s.inHeight) * s.outWidth), detail::kThreads, 0,
                             stream>>>(current, s.inWidth, s.inHeight, s.outWidth, s.h.taps, first, first + s.h.size,
                                       first + 2 * static_cast<std::size_t>(s.h.size), dst);
      detail::checkLaunch("horizontalPassKernel");
      current = dst;
    }
    if (s.vertical) {
      launchCoefficients(s.v, s.inHeight, base, stream);
      auto const* first = reinterpret_cast<std::int32_t const*>(base + s.v.offset);
      std::uint8_t* dst = base + s.out;
      verticalPassKernel<<<detail::blocksFor(static_cast<std::int64_t>(s.outWidth) * 3 * s.outHeight), detail::kThreads, 0,
                           stream>>>(current, s.outWidth, s.outHeight, s.v.taps, first, first + s.v.size,
                                     first + 2 * static_cast<std::size_t>(s.v.size), dst);
      detail::checkLaunch("verticalPassKernel");
      current = dst;
    }
  }

  auto const [width, height] = layout.size;
  int const gridW = width / plan.patchSize;
  std::int64_t const patchCount = static_cast<std::int64_t>(height / plan.patchSize) * gridW;
  Normalization norm{};
  norm.rescale = plan.rescaleFactor;
  for (int c = 0; c < 3; ++c) {
    norm.mean[c] = plan.mean[static_cast<std::size_t>(c)];
    norm.std[c] = plan.std[static_cast<std::size_t>(c)];
  }
  patchifyKernel<<<detail::blocksFor(patchCount * plan.patchDim()), detail::kThreads, 0, stream>>>(
      current, width, gridW, plan.patchSize, plan.temporalPatchSize, plan.mergeSize, norm, patchCount,
      reinterpret_cast<__half*>(patches));
  detail::checkLaunch("patchifyKernel");
}

}  // namespace tv::cuda
