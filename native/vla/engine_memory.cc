#include "vla/engine_memory.h"

#include <cstdlib>

#include "core/error.h"

namespace tv::vla {

void* HostEngineMemory::allocate(std::size_t bytes) {
  std::size_t const rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  TV_CHECK(p != nullptr, ErrorCode::kOutOfMemory, "could not allocate ", bytes, " bytes of engine memory");
  std::memset(p, 0, rounded);
  return p;
}

void HostEngineMemory::release(void* p) noexcept { std::free(p); }

}  // namespace tv::vla
