#include "vla/device_engine_memory.h"

#include <array>
#include <cstring>
#include <vector>

#include "core/device_memory_stats.h"
#include "cuda/device.h"
#include "cuda/memory.h"

namespace tv::vla {

namespace {

cudaStream_t streamOf(engine::Stream& stream) { return static_cast<cudaStream_t>(stream.handle()); }

class PinnedScalarUploads final : public ScalarUploads {
 public:
  explicit PinnedScalarUploads(std::size_t slotBytes)
      : slotBytes_((slotBytes + 63) / 64 * 64), staging_(slotBytes_ * kSlots) {
    events_.reserve(kSlots);
    for (std::size_t i = 0; i < kSlots; ++i) events_.emplace_back(cudaEventDisableTiming);
  }

  void upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) override {
    TV_CHECK_INTERNAL(bytes <= slotBytes_, "a scalar upload of ", bytes, " bytes exceeds its ", slotBytes_, "-byte slot");
    std::size_t const slot = next_;
    next_ = (next_ + 1) % kSlots;
    // The copy that last read this slot must have run; with one engine call per three slots and a sync
    // every decode step this never waits in practice.
    if (used_[slot]) events_[slot].synchronize();
    auto* staged = static_cast<std::uint8_t*>(staging_.host()) + slot * slotBytes_;
    std::memcpy(staged, src, bytes);
    TV_CUDA_CHECK(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, streamOf(stream)));
    TV_CUDA_CHECK(cudaEventRecord(events_[slot].get(), streamOf(stream)));
    used_[slot] = true;
  }

 private:
  static constexpr std::size_t kSlots = 32;
  std::size_t slotBytes_;
  cuda::PinnedHostBuffer staging_;
  std::vector<cuda::Event> events_;
  std::array<bool, kSlots> used_{};
  std::size_t next_ = 0;
};

}  // namespace

DeviceEngineMemory::DeviceEngineMemory() {
  cuda::RuntimeStatus const& status = cuda::runtimeStatus();
  TV_CHECK(status.available, ErrorCode::kBackendUnavailable, status.reason);
}

void* DeviceEngineMemory::allocate(std::size_t bytes) {
  void* p = nullptr;
  cudaError_t const status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    TV_THROW(ErrorCode::kOutOfMemory, "could not allocate ", bytes, " bytes of GPU memory (lower maxKvCapacity or concurrency)");
  }
  TV_CUDA_CHECK(status);
  // Zero-filled, as the interface promises (the KV cache relies on it only for clarity, zero-size
  // dummies and padding rows for determinism).
  TV_CUDA_CHECK(cudaMemset(p, 0, bytes));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[p] = bytes;
  }
  noteDeviceAllocation(bytes);
  return p;
}

void DeviceEngineMemory::release(void* p) noexcept {
  if (p == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sizes_.find(p);
    if (it != sizes_.end()) {
      noteDeviceRelease(it->second);
      sizes_.erase(it);
    }
  }
  cudaFree(p);
}

void DeviceEngineMemory::upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) {
  if (bytes == 0) return;
  TV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, streamOf(stream)));
}

void DeviceEngineMemory::copy(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) {
  if (bytes == 0) return;
  TV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, streamOf(stream)));
}

std::unique_ptr<ScalarUploads> DeviceEngineMemory::createScalarUploads(std::size_t slotBytes) {
  return std::make_unique<PinnedScalarUploads>(slotBytes);
}

void DeviceEngineMemory::download(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) {
  if (bytes == 0) return;
  TV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, streamOf(stream)));
}

}  // namespace tv::vla
