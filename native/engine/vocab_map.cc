#include "engine/vocab_map.h"

#include "core/error.h"
#include "core/safetensors.h"

namespace tv::engine {

void VocabMap::assign(std::vector<std::int32_t> ids, int fullVocab, ErrorCode code, std::string const& what) {
  TV_CHECK(!ids.empty(), code, what, " is empty");
  TV_CHECK(ids.size() <= static_cast<std::size_t>(fullVocab), code, what, " has ", ids.size(), " ids, more than the vocabulary (",
           fullVocab, ")");
  fullToReduced_.assign(static_cast<std::size_t>(fullVocab), -1);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    TV_CHECK(ids[i] >= 0 && ids[i] < fullVocab, code, what, "[", i, "] = ", ids[i], " is outside the vocabulary [0, ", fullVocab, ")");
    TV_CHECK(i == 0 || ids[i] > ids[i - 1], code, what, " must list ids in ascending order without repeats (at index ", i, ")");
    fullToReduced_[static_cast<std::size_t>(ids[i])] = static_cast<std::int32_t>(i);
  }
  reducedToFull_ = std::move(ids);
}

void VocabMap::expandLogits(float const* reduced, float* full) const {
  for (std::size_t r = 0; r < reducedToFull_.size(); ++r) full[static_cast<std::size_t>(reducedToFull_[r])] = reduced[r];
}

VocabMap VocabMap::fromIds(std::vector<std::int32_t> reducedToFull, int fullVocab) {
  VocabMap map;
  map.assign(std::move(reducedToFull), fullVocab, ErrorCode::kInvalidArgument, "the vocabulary map");
  return map;
}

VocabMap VocabMap::load(std::string const& path, int fullVocab) {
  SafetensorsFile file(path);
  TV_CHECK(file.tensors().size() == 1, ErrorCode::kModelLoad, path, " should hold exactly one tensor ('vocab_map'), it has ",
           file.tensors().size());
  TensorView const& t = file.tensors().front();
  TV_CHECK(t.name == "vocab_map", ErrorCode::kModelLoad, path, ": expected the tensor 'vocab_map', found '", t.name, "'");
  TV_CHECK(t.dtype == DType::kI32 && t.shape.size() == 1, ErrorCode::kModelLoad, path, ": 'vocab_map' must be a 1-D int32 tensor, it is ",
           dtypeName(t.dtype), " ", formatShape(t.shape));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(t.elements()));
  t.copyTo(ids.data());
  VocabMap map;
  map.assign(std::move(ids), fullVocab, ErrorCode::kModelLoad, path);
  return map;
}

}  // namespace tv::engine
