#include "vla/embedding.h"

#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace tv::vla {

EmbeddingTable EmbeddingTable::load(std::vector<std::string> const& files, std::vector<std::string> const& names, int vocab,
                                    int hidden) {
  EmbeddingTable t;
  t.files_ = std::make_shared<SafetensorsSet>();
  for (std::string const& f : files) t.files_->add(std::make_shared<SafetensorsFile>(f));
  for (std::string const& name : names) {
    if ((t.table_ = t.files_->find(name)) != nullptr) break;
  }
  TV_CHECK(t.table_ != nullptr, ErrorCode::kModelLoad, "no token embedding table (looked for '", names.front(), "' in ",
           t.files_->describeFiles(), ")");
  std::vector<std::int64_t> const expected{vocab, hidden};
  TV_CHECK(t.table_->shape == expected, ErrorCode::kModelLoad, "embedding tensor '", t.table_->name, "' has shape ",
           formatShape(t.table_->shape), " but the config implies ", formatShape(expected));
  TV_CHECK(t.table_->dtype == DType::kF16 || t.table_->dtype == DType::kBF16 || t.table_->dtype == DType::kF32,
           ErrorCode::kModelLoad, "embedding tensor '", t.table_->name, "' has dtype ", dtypeName(t.table_->dtype),
           "; expected F16, BF16 or F32");
  t.vocab_ = vocab;
  t.hidden_ = hidden;
  return t;
}

void EmbeddingTable::row(std::int32_t id, std::uint16_t* out) const {
  std::size_t const n = static_cast<std::size_t>(hidden_);
  std::uint8_t const* src = table_->data + static_cast<std::size_t>(id) * n * dtypeSize(table_->dtype);
  switch (table_->dtype) {
    case DType::kF16: std::memcpy(out, src, n * 2); break;  // memcpy: the map may be unaligned
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        out[i] = floatToHalf(bf16ToFloat(b));
      }
      break;
    default:
      for (std::size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        out[i] = floatToHalf(f);
      }
  }
}

void EmbeddingTable::check(std::int32_t const* ids, int count, std::int32_t imageTokenId, int imageRows) const {
  int used = 0;
  for (int i = 0; i < count; ++i) {
    if (ids[i] == imageTokenId) {
      TV_CHECK_ARG(used < imageRows, "the prompt has more image-pad tokens than the ", imageRows, " image embeddings");
      ++used;
      continue;
    }
    TV_CHECK_ARG(ids[i] >= 0 && ids[i] < vocab_, "token id ", ids[i], " at position ", i, " is outside the vocabulary (",
                 vocab_, ")");
  }
  TV_CHECK_ARG(used == imageRows, "the prompt has ", used, " image-pad tokens but the images produced ", imageRows,
               " embeddings");
}

void EmbeddingTable::embed(std::int32_t const* ids, int count, std::int32_t imageTokenId, std::uint16_t const* image,
                           int imageRows, std::uint16_t* out) const {
  check(ids, count, imageTokenId, imageRows);
  int used = 0;
  for (int i = 0; i < count; ++i) {
    std::uint16_t* dst = out + static_cast<std::size_t>(i) * hidden_;
    if (ids[i] == imageTokenId) {
      std::memcpy(dst, image + static_cast<std::size_t>(used) * hidden_, sizeof(std::uint16_t) * hidden_);
      ++used;
    } else {
      row(ids[i], dst);
    }
  }
}

void EmbeddingTable::rows(int first, int count, std::uint16_t* out) const {
  TV_CHECK_INTERNAL(first >= 0 && count >= 0 && first + count <= vocab_, "embedding rows out of range");
  for (int i = 0; i < count; ++i) row(first + i, out + static_cast<std::size_t>(i) * hidden_);
}

}  // namespace tv::vla
