#include "vla/image_resize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tv::vla {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images
constexpr double kSupport = 2.0;              // bicubic support at scale 1

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Per output position: the first input index, the number of taps, and fixed-point weights.
struct Coefficients {
  int taps = 0;                   // maximum taps per output (row stride of weights)
  std::vector<int> first;         // [out]
  std::vector<int> count;         // [out]
  std::vector<std::int32_t> weights;  // [out][taps]
};

Coefficients computeCoefficients(int inSize, int outSize) {
  double const scale = static_cast<double>(inSize) / outSize;
  double const filterScale = std::max(scale, 1.0);
  double const support = kSupport * filterScale;
  Coefficients c;
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<std::size_t>(outSize));
  c.count.resize(static_cast<std::size_t>(outSize));
  c.weights.assign(static_cast<std::size_t>(outSize) * c.taps, 0);
  std::vector<double> k(static_cast<std::size_t>(c.taps));
  for (int xx = 0; xx < outSize; ++xx) {
    double const center = (xx + 0.5) * scale;
    double const ss = 1.0 / filterScale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as Pillow rounds here
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[static_cast<std::size_t>(x)] = bicubic((x + xmin - center + 0.5) * ss);
      sum += k[static_cast<std::size_t>(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      double const w = sum != 0.0 ? k[static_cast<std::size_t>(x)] / sum : k[static_cast<std::size_t>(x)];
      double const fixed = w * (1 << kPrecisionBits);
      c.weights[static_cast<std::size_t>(xx) * c.taps + x] = static_cast<std::int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[static_cast<std::size_t>(xx)] = xmin;
    c.count[static_cast<std::size_t>(xx)] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int64_t sum) {
  std::int64_t const v = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

RgbImage resizeBicubic(RgbImage const& in, int width, int height) {
  TV_CHECK_ARG(in.width > 0 && in.height > 0 && width > 0 && height > 0, "resize needs positive sizes, got ", in.width, "x",
               in.height, " -> ", width, "x", height);
  TV_CHECK_INTERNAL(in.pixels.size() == static_cast<std::size_t>(in.width) * in.height * 3, "RGB buffer size mismatch");
  if (width == in.width && height == in.height) return in;

  bool const horizontal = width != in.width;
  bool const vertical = height != in.height;
  Coefficients const ch = computeCoefficients(in.width, width);
  Coefficients const cv = computeCoefficients(in.height, height);

  // Rows of the input the vertical pass will read (Pillow's ybox_first / ybox_last).
  int const rowFirst = vertical ? cv.first.front() : 0;
  int const rowLast = vertical ? cv.first.back() + cv.count.back() : in.height;

  RgbImage temp;
  RgbImage const* source = &in;
  if (horizontal) {
    temp.width = width;
    temp.height = rowLast - rowFirst;
    temp.pixels.resize(static_cast<std::size_t>(temp.width) * temp.height * 3);
    for (int y = 0; y < temp.height; ++y) {
      std::uint8_t const* src = &in.pixels[static_cast<std::size_t>(y + rowFirst) * in.width * 3];
      std::uint8_t* dst = &temp.pixels[static_cast<std::size_t>(y) * width * 3];
      for (int xx = 0; xx < width; ++xx) {
        std::int32_t const* k = &ch.weights[static_cast<std::size_t>(xx) * ch.taps];
        int const xmin = ch.first[static_cast<std::size_t>(xx)];
        int const n = ch.count[static_cast<std::size_t>(xx)];
        std::int64_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < n; ++x) {
          std::uint8_t const* p = src + static_cast<std::size_t>(x + xmin) * 3;
          s0 += static_cast<std::int64_t>(p[0]) * k[x];
          s1 += static_cast<std::int64_t>(p[1]) * k[x];
          s2 += static_cast<std::int64_t>(p[2]) * k[x];
        }
        dst[xx * 3 + 0] = clip8(s0);
        dst[xx * 3 + 1] = clip8(s1);
        dst[xx * 3 + 2] = clip8(s2);
      }
    }
    source = &temp;
  }
  if (!vertical) return horizontal ? temp : in;

  RgbImage out;
  out.width = source->width;
  out.height = height;
  out.pixels.resize(static_cast<std::size_t>(out.width) * height * 3);
  // The intermediate starts at input row rowFirst (when the horizontal pass ran).
  int const offset = horizontal ? rowFirst : 0;
  for (int yy = 0; yy < height; ++yy) {
    std::int32_t const* k = &cv.weights[static_cast<std::size_t>(yy) * cv.taps];
    int const ymin = cv.first[static_cast<std::size_t>(yy)] - offset;
    int const n = cv.count[static_cast<std::size_t>(yy)];
    std::uint8_t* dst = &out.pixels[static_cast<std::size_t>(yy) * out.width * 3];
    for (int xx = 0; xx < out.width * 3; ++xx) {
      std::int64_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) {
        s += static_cast<std::int64_t>(source->pixels[static_cast<std::size_t>(y + ymin) * out.width * 3 + xx]) * k[y];
      }
      dst[xx] = clip8(s);
    }
  }
  return out;
}

}  // namespace tv::vla
