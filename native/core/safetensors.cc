#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/json.h"

namespace tv {

namespace {
constexpr std::uint64_t kMaxHeaderBytes = 100ULL << 20;
// Limits of one header, far above real checkpoints (names under 120 bytes, ranks up to 5, a few
// thousand tensors per shard): names end up in regular expressions, maps and error messages, and a
// 200 KB name once overflowed the stack of `trt-vla quantize`.
constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxRank = 8;
constexpr std::size_t kMaxTensors = 1 << 20;
constexpr std::size_t kMaxMetadataBytes = 1 << 20;

std::string shortName(std::string_view name) {
  return name.size() <= 64 ? std::string(name) : std::string(name.substr(0, 64)) + "... (" + std::to_string(name.size()) + " bytes)";
}

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}
}  // namespace

std::int64_t TensorView::elements() const {
  std::int64_t n = 0;
  shapeElements(shape, &n);
  return n;
}

SafetensorsFile::SafetensorsFile(std::string path) : file_(LoadedFile::open(path)) {
  std::string const& name = file_->path();
  std::size_t const size = file_->size();
  TV_CHECK(size >= 8, ErrorCode::kModelLoad, name, ": not a safetensors file (", size, " bytes, shorter than its header length)");
  std::uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) headerBytes = (headerBytes << 8) | file_->data()[i];
  TV_CHECK(headerBytes <= kMaxHeaderBytes, ErrorCode::kModelLoad, name, ": header length ", headerBytes,
           " is implausible (corrupt file?)");
  TV_CHECK(headerBytes <= size - 8, ErrorCode::kModelLoad, name, ": truncated: the header needs ", headerBytes,
           " bytes but the file has ", size - 8);
  std::string_view const headerText(reinterpret_cast<char const*>(file_->data() + 8), headerBytes);
  JsonValue const header = parseJson(headerText, name + " header");
  TV_CHECK(header.isObject(), ErrorCode::kModelLoad, name, ": the header is not a JSON object");

  std::uint8_t const* dataStart = file_->data() + 8 + headerBytes;
  std::uint64_t const dataBytes = size - 8 - headerBytes;
  TV_CHECK(header.members().size() <= kMaxTensors, ErrorCode::kModelLoad, name, ": ", header.members().size(),
           " header entries is more than the ", kMaxTensors, " a checkpoint may have");
  for (auto const& member : header.members()) {
    // Named references, not a structured binding: C++17 lambdas (`bad` below) cannot capture those.
    std::string const& key = member.first;
    JsonValue const& entry = member.second;
    if (key == "__metadata__") {
      TV_CHECK(entry.isObject(), ErrorCode::kModelLoad, name, ": __metadata__ is not an object");
      std::size_t metadataBytes = 0;
      for (auto const& [mk, mv] : entry.members()) {
        TV_CHECK(mv.isString(), ErrorCode::kModelLoad, name, ": __metadata__ '", shortName(mk), "' is not a string");
        metadataBytes += mk.size() + mv.string().size();
        TV_CHECK(metadataBytes <= kMaxMetadataBytes, ErrorCode::kModelLoad, name, ": __metadata__ is larger than ", kMaxMetadataBytes,
                 " bytes");
        metadata_.emplace_back(mk, mv.string());
      }
      continue;
    }
    TV_CHECK(!key.empty() && key.size() <= kMaxNameBytes, ErrorCode::kModelLoad, name, ": tensor name '", shortName(key),
             "' must be 1 to ", kMaxNameBytes, " bytes long");
    auto bad = [&](auto const&... why) { TV_THROW(ErrorCode::kModelLoad, name, ": tensor '", key, "': ", why...); };
    if (!entry.isObject()) bad("entry is not an object");
    JsonValue const* dtype = entry.find("dtype");
    JsonValue const* shape = entry.find("shape");
    JsonValue const* offsets = entry.find("data_offsets");
    if (dtype == nullptr || !dtype->isString()) bad("missing or invalid 'dtype'");
    if (shape == nullptr || !shape->isArray()) bad("missing or invalid 'shape'");
    if (shape->items().size() > kMaxRank) bad("rank ", shape->items().size(), " is above ", kMaxRank);
    if (offsets == nullptr || !offsets->isArray() || offsets->items().size() != 2) bad("missing or invalid 'data_offsets'");
    TensorView view;
    view.name = key;
    if (!parseDType(dtype->string(), &view.dtype)) bad("unsupported dtype '", dtype->string(), "'");
    for (JsonValue const& d : shape->items()) {
      if (!d.isInteger() || d.integer() < 0) bad("shape entries must be non-negative integers");
      view.shape.push_back(d.integer());
    }
    JsonValue const& b = offsets->items()[0];
    JsonValue const& e = offsets->items()[1];
    if (!b.isInteger() || !e.isInteger() || b.integer() < 0 || e.integer() < b.integer()) bad("invalid data_offsets");
    std::uint64_t const begin = static_cast<std::uint64_t>(b.integer());
    std::uint64_t const end = static_cast<std::uint64_t>(e.integer());
    if (end > dataBytes) {
      bad("data_offsets [", begin, ", ", end, "] exceed the data section (", dataBytes, " bytes): truncated file?");
    }
    std::int64_t elements = 0;
    if (!shapeElements(view.shape, &elements)) bad("shape ", formatShape(view.shape), " overflows");
    std::uint64_t const expected = static_cast<std::uint64_t>(elements) * dtypeSize(view.dtype);
    if (expected / dtypeSize(view.dtype) != static_cast<std::uint64_t>(elements) || expected != end - begin) {
      bad("shape ", formatShape(view.shape), " of ", dtypeName(view.dtype), " needs ", expected, " bytes but data_offsets span ",
          end - begin);
    }
    view.data = dataStart + begin;
    view.bytes = static_cast<std::size_t>(end - begin);
    index_.emplace(view.name, tensors_.size());
    tensors_.push_back(std::move(view));
  }
  // Overlapping tensors mean a corrupt file (the format lays tensors out back to back).
  std::vector<TensorView const*> byOffset;
  for (TensorView const& t : tensors_) byOffset.push_back(&t);
  std::sort(byOffset.begin(), byOffset.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (std::size_t i = 1; i < byOffset.size(); ++i) {
    TV_CHECK(byOffset[i - 1]->data + byOffset[i - 1]->bytes <= byOffset[i]->data, ErrorCode::kModelLoad, name,
             ": tensors '", byOffset[i - 1]->name, "' and '", byOffset[i]->name, "' overlap");
  }
}

TensorView const* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsSet::add(std::shared_ptr<SafetensorsFile> file) {
  for (TensorView const& t : file->tensors()) {
    auto [it, inserted] = index_.emplace(t.name, &t);
    TV_CHECK(inserted, ErrorCode::kModelLoad, "tensor '", t.name, "' is defined in more than one file (", file->path(), ")");
  }
  files_.push_back(std::move(file));
}

TensorView const* SafetensorsSet::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : it->second;
}

TensorView const& SafetensorsSet::require(std::string_view name) const {
  TensorView const* t = find(name);
  TV_CHECK(t != nullptr, ErrorCode::kModelLoad, "missing tensor '", name, "' (looked in: ", describeFiles(), ")");
  return *t;
}

std::string SafetensorsSet::describeFiles() const {
  std::string out;
  for (auto const& f : files_) {
    if (!out.empty()) out += ", ";
    out += f->path();
  }
  return out.empty() ? "no files" : out;
}

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<std::int64_t> shape, Fill fill) {
  std::int64_t elements = 0;
  TV_CHECK_ARG(shapeElements(shape, &elements), "invalid shape ", formatShape(shape), " for '", name, "'");
  std::size_t const bytes = static_cast<std::size_t>(elements) * dtypeSize(dtype);
  entries_.push_back(Entry{std::move(name), dtype, std::move(shape), bytes, std::move(fill)});
}

void SafetensorsWriter::addCopy(std::string name, DType dtype, std::vector<std::int64_t> shape, void const* data) {
  add(std::move(name), dtype, std::move(shape), [data](std::uint8_t* dst, std::size_t bytes) { std::memcpy(dst, data, bytes); });
}

void SafetensorsWriter::setMetadata(std::string key, std::string value) { metadata_.emplace_back(std::move(key), std::move(value)); }

void SafetensorsWriter::write(std::string const& path) const {
  std::string header = "{";
  bool first = true;
  if (!metadata_.empty()) {
    header += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata_.size(); ++i) {
      if (i > 0) header += ",";
      header += "\"" + jsonEscape(metadata_[i].first) + "\":\"" + jsonEscape(metadata_[i].second) + "\"";
    }
    header += "}";
    first = false;
  }
  std::uint64_t offset = 0;
  for (Entry const& e : entries_) {
    if (!first) header += ",";
    first = false;
    header += "\"" + jsonEscape(e.name) + "\":{\"dtype\":\"" + dtypeName(e.dtype) + "\",\"shape\":" + formatShape(e.shape) +
              ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + e.bytes) + "]}";
    offset += e.bytes;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';  // keeps the data section 8-byte aligned

  std::string const temporary = path + ".tmp";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  TV_CHECK_ARG(out != nullptr, "cannot write ", temporary, ": ", std::strerror(errno));
  auto check = [&](bool ok) {
    if (!ok) {
      int const err = errno;
      std::fclose(out);
      std::remove(temporary.c_str());
      TV_THROW(ErrorCode::kInvalidArgument, "cannot write ", temporary, ": ", std::strerror(err));
    }
  };
  std::uint8_t length[8];
  std::uint64_t const n = header.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(n >> (8 * i));
  check(std::fwrite(length, 1, 8, out) == 8);
  check(std::fwrite(header.data(), 1, header.size(), out) == header.size());
  std::vector<std::uint8_t> buffer;
  for (Entry const& e : entries_) {
    buffer.assign(e.bytes, 0);
    if (e.bytes > 0) e.fill(buffer.data(), e.bytes);
    check(std::fwrite(buffer.data(), 1, buffer.size(), out) == buffer.size());
  }
  check(std::fclose(out) == 0);
  TV_CHECK_ARG(std::rename(temporary.c_str(), path.c_str()) == 0, "cannot rename ", temporary, " to ", path, ": ",
               std::strerror(errno));
}

}  // namespace tv
