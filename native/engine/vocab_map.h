// The reduced vocabulary of TensorRT Edge-LLM engines built with --reduced_vocab_dir: the LM head
// keeps only some token ids, so the engine's logits are indexed by reduced id, and
// vocab_map.safetensors maps each reduced id back to the full-vocabulary id the tokenizer knows
// (Edge-LLM 0.6: one 1-D int32 tensor, "vocab_map", of length config.json reduced_vocab_size, written
// sorted by tensorrt_edgellm/vocab_reduction). Ids outside the map can still be inputs (the embedding
// table is full) but can never be sampled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace tv::engine {

class VocabMap {
 public:
  // Reads and validates the file: strictly ascending ids inside [0, fullVocab). ERR_MODEL_LOAD otherwise.
  static VocabMap load(std::string const& path, int fullVocab);
  // From ids in memory (same validation, ERR_INVALID_ARGUMENT).
  static VocabMap fromIds(std::vector<std::int32_t> reducedToFull, int fullVocab);

  int reducedSize() const { return static_cast<int>(reducedToFull_.size()); }
  int fullSize() const { return static_cast<int>(fullToReduced_.size()); }
  std::int32_t toFull(int reducedId) const { return reducedToFull_[static_cast<std::size_t>(reducedId)]; }
  // The reduced id of a full id, or -1 when the engine cannot produce that token.
  std::int32_t toReduced(std::int32_t fullId) const {
    return fullId >= 0 && fullId < fullSize() ? fullToReduced_[static_cast<std::size_t>(fullId)] : -1;
  }
  std::vector<std::int32_t> const& reducedToFull() const { return reducedToFull_; }
  // full[toFull(r)] = reduced[r] for every reduced id r (reduced: [reducedSize], full: [fullSize]); the
  // other entries of full are left alone (callers fill them with -inf once). The reference of the CUDA
  // kernel cuda::launchExpandLogits.
  void expandLogits(float const* reduced, float* full) const;

 private:
  void assign(std::vector<std::int32_t> ids, int fullVocab, ErrorCode code, std::string const& what);

  std::vector<std::int32_t> reducedToFull_;
  std::vector<std::int32_t> fullToReduced_;
};

}  // namespace tv::engine
