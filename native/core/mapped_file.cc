#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace tv {

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  int const fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  TV_CHECK(fd >= 0, ErrorCode::kModelLoad, "cannot open ", path_, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int const err = errno;
    ::close(fd);
    TV_THROW(ErrorCode::kModelLoad, "cannot read ", path_, ": ", err != 0 ? std::strerror(err) : "not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int const err = errno;
    ::close(fd);
    TV_CHECK(mapped != MAP_FAILED, ErrorCode::kModelLoad, "cannot map ", path_, ": ", std::strerror(err));
    data_ = static_cast<std::uint8_t const*>(mapped);
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace tv
