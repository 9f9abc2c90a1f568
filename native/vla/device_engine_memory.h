// Engine memory for TensorRT engines, compiled where the CUDA toolkit is found: device memory
// (cudaMalloc, so the GPU caches it — on Jetson the same DRAM, but pinned host memory would be
// uncached for the GPU, tensorrt-edge-llm.md §D) and one non-blocking CUDA stream per session.
#pragma once

#include <mutex>
#include <unordered_map>

#include "cuda/stream.h"
#include "vla/engine_memory.h"

namespace tv::vla {

// engine::Stream over a CUDA stream.
class EngineStream final : public engine::Stream {
 public:
  void synchronize() override { stream_.synchronize(); }
  void* handle() const override { return stream_.get(); }

 private:
  cuda::Stream stream_;
};

class DeviceEngineMemory final : public EngineMemory {
 public:
  // Throws ERR_BACKEND_UNAVAILABLE ("no CUDA device: ...") when no device is usable.
  DeviceEngineMemory();

  engine::MemoryLocation location() const override { return engine::MemoryLocation::kDevice; }
  void* allocate(std::size_t bytes) override;
  void release(void* p) noexcept override;
  // Host memory may be pageable: cudaMemcpyAsync stages a pageable upload before returning (possibly
  // waiting for the stream), and the pipeline synchronizes the stream before it reads a download. Values
  // uploaded every engine call go through createScalarUploads instead (pinned).
  void upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) override;
  void download(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) override;
  void copy(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) override;
  // A ring of pinned slots, each reused only after the copy out of it has run (an event per slot).
  std::unique_ptr<ScalarUploads> createScalarUploads(std::size_t slotBytes) override;
  std::unique_ptr<engine::Stream> createStream() override { return std::make_unique<EngineStream>(); }

 private:
  std::mutex mutex_;
  std::unordered_map<void*, std::size_t> sizes_;  // for the process's device-memory counters
};

}  // namespace tv::vla
