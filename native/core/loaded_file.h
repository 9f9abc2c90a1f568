// A model file (weights, engine plan, config) read whole into private, read-only memory.
//
// Why not a file mapping: a shared or private mapping of a regular file raises SIGBUS in whatever thread
// touches a page past the file's end once someone truncates the file, and Linux offers no way to stop
// that for a regular file: F_SEAL_SHRINK exists only for memfd, a read lease (F_SETLEASE) only delays the
// truncating process by lease-break-time and needs the file's owner, MAP_PRIVATE keeps only the pages
// already copied on write, and a SIGBUS handler that patches pages would have to chain with V8's own
// signal handlers and still leave the answers wrong. A copy cannot be taken away: after the load the
// file may change or vanish and the model keeps working. The cost is anonymous memory equal to the file
// instead of reclaimable page cache; the CPU engine touches every weight per forward pass anyway, and a
// TensorRT plan is copied by TensorRT and released right after deserialisation. Files opened at the same
// time under several names (the embedding table read by the LLM engine and the embedding splice) share
// one copy.
//
// Only regular files are read: a FIFO, device or directory in a model folder is refused before it is
// opened for reading (a FIFO used to block loadModel forever).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tv {

class LoadedFile {
 public:
  // Reads the file (or shares the copy already held for the same file). Throws ERR_MODEL_LOAD naming the
  // path and the reason: missing, not a regular file, larger than this machine's memory, changed while
  // being read.
  static std::shared_ptr<LoadedFile const> open(std::string const& path);
  ~LoadedFile();
  LoadedFile(LoadedFile const&) = delete;
  LoadedFile& operator=(LoadedFile const&) = delete;

  std::uint8_t const* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::string const& path() const noexcept { return path_; }

 private:
  explicit LoadedFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// The bytes of a small regular file (config.json and the like), at most maxBytes. Same refusals as
// LoadedFile::open.
std::string readSmallFile(std::string const& path, std::size_t maxBytes);

}  // namespace tv
