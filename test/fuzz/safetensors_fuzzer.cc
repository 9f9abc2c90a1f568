// libFuzzer harness: the safetensors reader (native/core/safetensors.cc) on an untrusted file, then a
// read of every tensor it accepts (an over-read shows under AddressSanitizer).
//
// Input: bytes starting with '{' are a header in text (up to the first newline) and the data section
// (the rest); the harness writes the length prefix, so reproducers stay small text files. Any other
// input is the whole file, length prefix included.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"

namespace {

// One in-memory file, rewritten per input: the reader opens files by path.
int memoryFile() {
  static int const fd = [] {
    int const f = ::memfd_create("safetensors-fuzz", 0);
    if (f < 0) std::abort();
    return f;
  }();
  return fd;
}

void writeFile(std::vector<std::uint8_t> const& bytes) {
  int const fd = memoryFile();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::vector<std::uint8_t> file;
  if (size > 0 && data[0] == '{') {
    std::size_t header = 0;
    while (header < size && data[header] != '\n') ++header;
    std::uint64_t const length = header;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<std::uint8_t>(length >> (8 * i)));
    file.insert(file.end(), data, data + header);
    if (header < size) file.insert(file.end(), data + header + 1, data + size);
  } else {
    file.assign(data, data + size);
  }
  writeFile(file);
  try {
    auto st = std::make_shared<tv::SafetensorsFile>("/proc/self/fd/" + std::to_string(memoryFile()));
    tv::SafetensorsSet set;
    set.add(st);
    volatile std::uint8_t sink = 0;
    for (tv::TensorView const& t : st->tensors()) {
      if (set.find(t.name) == nullptr) __builtin_trap();
      if (t.bytes > 0) sink = sink ^ t.data[0] ^ t.data[t.bytes - 1];
      if (static_cast<std::uint64_t>(t.elements()) * tv::dtypeSize(t.dtype) != t.bytes) __builtin_trap();
    }
  } catch (tv::Error const&) {
  }
  return 0;
}
