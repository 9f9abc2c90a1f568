// 3-D M-RoPE positions of Qwen2-VL / Qwen2.5-VL (Hugging Face get_rope_index) and the cos/sin table
// the LLM engine takes (TensorRT Edge-LLM's rope_rotary_cos_sin, tensorrt-edge-llm.md §A.8).
//
// Text tokens get t = h = w = position; each image's tokens get (0, row, column) of its merged grid
// offset by the position the image starts at; the text after an image continues from the largest
// position so far + 1. Positions after the prompt are filled as text up to the KV capacity, so decode
// steps need no recomputation.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vla/preprocess.h"

namespace tv::vla {

struct MropePositions {
  std::vector<std::int32_t> t;  // [capacity]
  std::vector<std::int32_t> h;
  std::vector<std::int32_t> w;
  int promptLength = 0;
  int nextTextPosition = 0;  // position of the first token after the prompt
};

// ids: the prompt's token ids; grids: the images, in the order their pad runs appear. Throws
// ERR_INVALID_ARGUMENT when a run of imageTokenId does not have that image's t*h*w/merge^2 tokens, or
// the number of runs differs from the number of images.
MropePositions mropePositions(std::int32_t const* ids, int count, int capacity, std::int32_t imageTokenId,
                              std::vector<ImageGrid> const& grids, int mergeSize);

// Fills rows [rowBegin, rowEnd) of table [capacity][headDim]: for i < headDim/2, the frequency
// theta^(-2i/headDim) at the position of section(i) (t for the first mropeSection[0] frequencies, then
// h, then w): cosines in the first half of the row, sines in the second.
void mropeCosSin(MropePositions const& positions, int rowBegin, int rowEnd, int headDim,
                 std::array<int, 3> const& mropeSection, double theta, float* table);

}  // namespace tv::vla
