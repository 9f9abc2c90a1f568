#include "vla/positions.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tv::vla {

MropePositions mropePositions(std::int32_t const* ids, int count, int capacity, std::int32_t imageTokenId,
                              std::vector<ImageGrid> const& grids, int mergeSize) {
  TV_CHECK_ARG(count >= 1 && count <= capacity, "the prompt has ", count, " tokens; the KV capacity is ", capacity);
  MropePositions p;
  p.t.resize(static_cast<std::size_t>(capacity));
  p.h.resize(static_cast<std::size_t>(capacity));
  p.w.resize(static_cast<std::size_t>(capacity));
  p.promptLength = count;
  std::int32_t next = 0;
  std::size_t image = 0;
  int i = 0;
  while (i < count) {
    if (ids[i] != imageTokenId) {
      p.t[static_cast<std::size_t>(i)] = p.h[static_cast<std::size_t>(i)] = p.w[static_cast<std::size_t>(i)] = next++;
      ++i;
      continue;
    }
    int run = 0;
    while (i + run < count && ids[i + run] == imageTokenId) ++run;
    TV_CHECK_ARG(image < grids.size(), "the prompt has more image-pad runs than the ", grids.size(), " images given");
    ImageGrid const& g = grids[image];
    int const lh = g.h / mergeSize;
    int const lw = g.w / mergeSize;
    int const expected = g.t * lh * lw;
    TV_CHECK_ARG(run == expected, "image ", image, " has a ", g.t, "x", g.h, "x", g.w, " patch grid (", expected,
                 " image tokens) but the prompt holds ", run, " image-pad tokens for it");
    // A still image's temporal index is 0 for every frame (second_per_grid_t = 0 for images).
    for (int k = 0; k < run; ++k) {
      int const within = k % (lh * lw);
      std::size_t const at = static_cast<std::size_t>(i + k);
      p.t[at] = next;
      p.h[at] = next + within / lw;
      p.w[at] = next + within % lw;
    }
    next += std::max(lh, lw);
    i += run;
    ++image;
  }
  TV_CHECK_ARG(image == grids.size(), grids.size(), " images were given but the prompt has ", image, " image-pad runs");
  p.nextTextPosition = next;
  for (int k = count; k < capacity; ++k) {
    std::size_t const at = static_cast<std::size_t>(k);
    p.t[at] = p.h[at] = p.w[at] = next + (k - count);
  }
  return p;
}

void mropeCosSin(MropePositions const& positions, int rowBegin, int rowEnd, int headDim,
                 std::array<int, 3> const& mropeSection, double theta, float* table) {
  int const half = headDim / 2;
  TV_CHECK_INTERNAL(mropeSection[0] + mropeSection[1] + mropeSection[2] == half, "mrope_section must sum to head_dim / 2");
  TV_CHECK_INTERNAL(rowBegin >= 0 && rowEnd <= static_cast<int>(positions.t.size()), "rope rows out of range");
  std::vector<float> inv(static_cast<std::size_t>(half));
  std::vector<int> axis(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    // float32 like the reference implementations (torch inv_freq, Edge-LLM's kernel).
    inv[static_cast<std::size_t>(i)] = static_cast<float>(1.0 / std::pow(theta, (2.0 * i) / headDim));
    axis[static_cast<std::size_t>(i)] = i < mropeSection[0] ? 0 : (i < mropeSection[0] + mropeSection[1] ? 1 : 2);
  }
  for (int row = rowBegin; row < rowEnd; ++row) {
    std::size_t const r = static_cast<std::size_t>(row);
    std::int32_t const pos[3] = {positions.t[r], positions.h[r], positions.w[r]};
    float* out = table + r * static_cast<std::size_t>(headDim);
    for (int i = 0; i < half; ++i) {
      float const angle = static_cast<float>(pos[axis[static_cast<std::size_t>(i)]]) * inv[static_cast<std::size_t>(i)];
      out[i] = std::cos(angle);
      out[half + i] = std::sin(angle);
    }
  }
}

}  // namespace tv::vla
