// Safetensors files: a bounds-checked reader over a file read into memory (core/loaded_file.h), and a writer.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"__metadata__": {...}, "<name>": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data section; offsets are relative to its start. The reader treats the file as untrusted:
// a truncated or garbled file gives ERR_MODEL_LOAD naming the file, the tensor and the reason, never
// an over-read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/loaded_file.h"
#include "core/tensor_types.h"

namespace tv {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint8_t const* data = nullptr;  // inside the loaded file; may be unaligned for its type
  std::size_t bytes = 0;
  std::int64_t elements() const;
  // Copies the elements to dst (which must hold elements() values of the tensor's type), whatever
  // the alignment of the source.
  void copyTo(void* dst) const { if (bytes > 0) std::memcpy(dst, data, bytes); }
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::string path);
  std::string const& path() const { return file_->path(); }
  std::vector<TensorView> const& tensors() const { return tensors_; }
  TensorView const* find(std::string_view name) const;
  // "__metadata__" string entries.
  std::vector<std::pair<std::string, std::string>> const& metadata() const { return metadata_; }

 private:
  std::shared_ptr<LoadedFile const> file_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

// A set of checkpoint shards looked up by tensor name (model-00001-of-00002.safetensors, ...).
class SafetensorsSet {
 public:
  void add(std::shared_ptr<SafetensorsFile> file);  // ERR_MODEL_LOAD on a name defined twice
  TensorView const* find(std::string_view name) const;
  // Throws ERR_MODEL_LOAD "missing tensor '<name>' (looked in: files)".
  TensorView const& require(std::string_view name) const;
  std::vector<std::shared_ptr<SafetensorsFile>> const& files() const { return files_; }
  std::string describeFiles() const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, TensorView const*> index_;
};

class SafetensorsWriter {
 public:
  using Fill = std::function<void(std::uint8_t* dst, std::size_t bytes)>;
  // Tensors are written in the order added; fill writes exactly the tensor's bytes.
  void add(std::string name, DType dtype, std::vector<std::int64_t> shape, Fill fill);
  void addCopy(std::string name, DType dtype, std::vector<std::int64_t> shape, void const* data);
  void setMetadata(std::string key, std::string value);
  // Writes atomically (a temporary file renamed into place). Throws ERR_INVALID_ARGUMENT on I/O errors.
  void write(std::string const& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::size_t bytes;
    Fill fill;
  };
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace tv
