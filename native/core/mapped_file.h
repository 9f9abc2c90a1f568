// A read-only memory-mapped file (model weights, engine plans): pages are loaded on demand and shared
// with the page cache, so a 2 GB checkpoint costs no second host copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tv {

class MappedFile {
 public:
  // Throws ERR_MODEL_LOAD naming the path and the OS error.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(MappedFile const&) = delete;
  MappedFile& operator=(MappedFile const&) = delete;

  std::uint8_t const* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::string const& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::uint8_t const* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tv
