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

namespace {

// Host engines run when enqueue is called: a plain copy is the whole upload.
class HostScalarUploads final : public ScalarUploads {
 public:
  explicit HostScalarUploads(std::size_t slotBytes) : slotBytes_(slotBytes) {}
  void upload(void* dst, void const* src, std::size_t bytes, engine::Stream&) override {
    TV_CHECK_INTERNAL(bytes <= slotBytes_, "a scalar upload of ", bytes, " bytes exceeds its ", slotBytes_, "-byte slot");
    std::memcpy(dst, src, bytes);
  }

 private:
  std::size_t slotBytes_;
};

}  // namespace

std::unique_ptr<ScalarUploads> HostEngineMemory::createScalarUploads(std::size_t slotBytes) {
  return std::make_unique<HostScalarUploads>(slotBytes);
}

}  // namespace tv::vla
