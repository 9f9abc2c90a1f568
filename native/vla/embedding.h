// The token embedding table (embedding.safetensors "embedding", or embed_tokens of a Hugging Face
// checkpoint), read in place from the memory map, and the gather that builds inputs_embeds: one row per
// token, with the vision encoder's rows spliced in at the image-pad positions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace tv::vla {

class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  // The first of `names` found in `files`; checks the shape [vocab, hidden] (ERR_MODEL_LOAD).
  static EmbeddingTable load(std::vector<std::string> const& files, std::vector<std::string> const& names, int vocab, int hidden);

  int vocab() const { return vocab_; }
  int hidden() const { return hidden_; }

  // out [count][hidden] fp16. Tokens equal to imageTokenId take the next row of image
  // ([imageRows][hidden] fp16) in order; the number of such tokens must equal imageRows
  // (ERR_INVALID_ARGUMENT otherwise), as must every id be inside the vocabulary.
  void embed(std::int32_t const* ids, int count, std::int32_t imageTokenId, std::uint16_t const* image, int imageRows,
             std::uint16_t* out) const;

  // The checks of embed() alone, with its messages, in its order (the first problem by position):
  // the device pipeline validates its ids on the host before the GPU gathers them.
  void check(std::int32_t const* ids, int count, std::int32_t imageTokenId, int imageRows) const;

  // Rows [first, first + count) as fp16 (converted from BF16 / F32 tables), out [count][hidden]: what
  // the device pipeline uploads.
  void rows(int first, int count, std::uint16_t* out) const;

 private:
  void row(std::int32_t id, std::uint16_t* out) const;

  std::shared_ptr<SafetensorsSet> files_;
  TensorView const* table_ = nullptr;
  int vocab_ = 0;
  int hidden_ = 0;
};

}  // namespace tv::vla
