#include "core/loaded_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/error.h"

namespace tv {

namespace {

char const* kindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Opens a regular file for reading without ever blocking: stat first (nothing else is opened at all),
// then O_NONBLOCK so that a FIFO swapped in between cannot block the open either, then fstat to be sure
// the file opened is a regular file.
class RegularFile {
 public:
  explicit RegularFile(std::string const& path) {
    struct stat before {};
    TV_CHECK(::stat(path.c_str(), &before) == 0, ErrorCode::kModelLoad, "cannot open ", path, ": ", std::strerror(errno));
    TV_CHECK(S_ISREG(before.st_mode), ErrorCode::kModelLoad, "cannot read ", path, ": it is ", kindOf(before.st_mode),
             ", not a regular file");
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    TV_CHECK(fd_ >= 0, ErrorCode::kModelLoad, "cannot open ", path, ": ", std::strerror(errno));
    TV_CHECK(::fstat(fd_, &stat_) == 0, ErrorCode::kModelLoad, "cannot read ", path, ": ", std::strerror(errno));
    TV_CHECK(S_ISREG(stat_.st_mode), ErrorCode::kModelLoad, "cannot read ", path, ": it is ", kindOf(stat_.st_mode),
             ", not a regular file");
  }
  ~RegularFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  RegularFile(RegularFile const&) = delete;
  RegularFile& operator=(RegularFile const&) = delete;
  struct stat const& status() const { return stat_; }

  // Reads exactly `bytes` bytes into dst; a file that shrank meanwhile is an error, not a short model.
  void readAll(std::uint8_t* dst, std::size_t bytes, std::string const& path) const {
    std::size_t done = 0;
    while (done < bytes) {
      std::size_t const chunk = std::min<std::size_t>(bytes - done, std::size_t{64} << 20);
      ssize_t const n = ::pread(fd_, dst + done, chunk, static_cast<off_t>(done));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      TV_CHECK(n >= 0, ErrorCode::kModelLoad, "cannot read ", path, ": ", std::strerror(errno));
      TV_CHECK(n > 0, ErrorCode::kModelLoad, "cannot read ", path, ": it became shorter (", done, " of ", bytes,
               " bytes) while being read");
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_ = -1;
  struct stat stat_ {};
};

std::size_t physicalMemory() {
  long const pages = ::sysconf(_SC_PHYS_PAGES);
  long const pageSize = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && pageSize > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(pageSize) : SIZE_MAX;
}

// Same file (device, inode), same size and modification time: the copy in memory is still its content.
using FileKey = std::tuple<dev_t, ino_t, off_t, std::int64_t, long>;

std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}
std::map<FileKey, std::weak_ptr<LoadedFile const>>& registry() {
  static auto* r = new std::map<FileKey, std::weak_ptr<LoadedFile const>>();  // never destroyed: outlives static files
  return *r;
}

}  // namespace

std::shared_ptr<LoadedFile const> LoadedFile::open(std::string const& path) {
  RegularFile file(path);
  struct stat const& st = file.status();
  FileKey const key{st.st_dev, st.st_ino, st.st_size, static_cast<std::int64_t>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec};
  {
    std::lock_guard<std::mutex> lock(registryMutex());
    if (auto shared = registry()[key].lock()) return shared;
  }
  std::size_t const size = static_cast<std::size_t>(st.st_size);
  TV_CHECK(size <= physicalMemory(), ErrorCode::kModelLoad, "cannot read ", path, ": ", size,
           " bytes is more than this machine's memory");
  std::shared_ptr<LoadedFile> loaded(new LoadedFile(path));
  if (size > 0) {
    // Anonymous pages rather than the heap: returned to the system at once on release, and made
    // read-only after the read so that a stray write faults instead of corrupting weights.
    void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TV_CHECK(memory != MAP_FAILED, ErrorCode::kModelLoad, "cannot read ", path, ": no memory for its ", size, " bytes (",
             std::strerror(errno), ")");
    loaded->data_ = static_cast<std::uint8_t*>(memory);
    loaded->size_ = size;
    file.readAll(loaded->data_, size, path);
    ::mprotect(memory, size, PROT_READ);
  }
  std::lock_guard<std::mutex> lock(registryMutex());
  auto& slot = registry()[key];
  if (auto shared = slot.lock()) return shared;  // another thread read it meanwhile
  slot = loaded;
  // Drop entries of released files so the registry does not grow with every load.
  for (auto it = registry().begin(); it != registry().end();) it = it->second.expired() && it->first != key ? registry().erase(it) : std::next(it);
  return loaded;
}

LoadedFile::~LoadedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

std::string readSmallFile(std::string const& path, std::size_t maxBytes) {
  RegularFile file(path);
  std::size_t const size = static_cast<std::size_t>(file.status().st_size);
  TV_CHECK(size <= maxBytes, ErrorCode::kModelLoad, path, " has ", size, " bytes, more than the ", maxBytes, " such a file may have");
  std::string text(size, '\0');
  if (size > 0) file.readAll(reinterpret_cast<std::uint8_t*>(text.data()), size, path);
  return text;
}

}  // namespace tv
