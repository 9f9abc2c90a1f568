#include "vla/device_engine_memory.h"

#include "core/device_memory_stats.h"
#include "cuda/device.h"

namespace tv::vla {

namespace {

cudaStream_t streamOf(engine::Stream& stream) { return static_cast<cudaStream_t>(stream.handle()); }

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

void DeviceEngineMemory::download(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) {
  if (bytes == 0) return;
  TV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, streamOf(stream)));
}

}  // namespace tv::vla
