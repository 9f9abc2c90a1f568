// Memory the engines read and write: host memory for CPU engines, device memory for TensorRT engines
// (engine::Engine::memoryLocation()). The host pipeline computes on the host and moves data through
// this interface, so the same pipeline code drives both backends.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

#include "engine/engine.h"

namespace tv::vla {

// Small host values (an engine call's scalars) on their way into engine memory. Each upload copies the
// value out first, so the caller's variable may change or go out of scope at once. Device memory stages
// them in pinned host memory: a cudaMemcpyAsync from pageable memory may synchronize with the stream
// (CUDA's "API synchronization behavior"; audit finding #8), while Edge-LLM's host tensors are pinned
// (Edge-LLM 0.6.1 cpp/common/tensor.cpp:166-168).
class ScalarUploads {
 public:
  virtual ~ScalarUploads() = default;
  // bytes <= the slot size given at creation.
  virtual void upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
};

class EngineMemory {
 public:
  virtual ~EngineMemory() = default;
  virtual engine::MemoryLocation location() const = 0;
  virtual void* allocate(std::size_t bytes) = 0;  // zero-filled
  virtual void release(void* p) noexcept = 0;
  virtual void upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
  virtual void download(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
  // Between two buffers of this memory, in stream order.
  virtual void copy(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
  // Staging for one session's per-call scalars (slotBytes each, at most).
  virtual std::unique_ptr<ScalarUploads> createScalarUploads(std::size_t slotBytes) = 0;
  // A stream of its own for one session (a CUDA stream on the device), so sessions run concurrently.
  virtual std::unique_ptr<engine::Stream> createStream() = 0;
};

class HostEngineMemory final : public EngineMemory {
 public:
  engine::MemoryLocation location() const override { return engine::MemoryLocation::kHost; }
  void* allocate(std::size_t bytes) override;
  void release(void* p) noexcept override;
  void upload(void* dst, void const* src, std::size_t bytes, engine::Stream&) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, void const* src, std::size_t bytes, engine::Stream&) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, void const* src, std::size_t bytes, engine::Stream&) override { std::memmove(dst, src, bytes); }
  std::unique_ptr<ScalarUploads> createScalarUploads(std::size_t slotBytes) override;
  std::unique_ptr<engine::Stream> createStream() override { return std::make_unique<engine::HostStream>(); }
};

// An owning buffer in engine memory.
class EngineBuffer {
 public:
  EngineBuffer() = default;
  EngineBuffer(EngineMemory& memory, std::size_t bytes) : memory_(&memory), bytes_(bytes), data_(bytes ? memory.allocate(bytes) : nullptr) {}
  ~EngineBuffer() { reset(); }
  EngineBuffer(EngineBuffer&& o) noexcept : memory_(o.memory_), bytes_(o.bytes_), data_(o.data_) { o.data_ = nullptr; o.bytes_ = 0; }
  EngineBuffer& operator=(EngineBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      memory_ = o.memory_;
      bytes_ = o.bytes_;
      data_ = o.data_;
      o.data_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  EngineBuffer(EngineBuffer const&) = delete;
  EngineBuffer& operator=(EngineBuffer const&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  void reset() noexcept {
    if (data_ != nullptr) memory_->release(data_);
    data_ = nullptr;
    bytes_ = 0;
  }

 private:
  EngineMemory* memory_ = nullptr;
  std::size_t bytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace tv::vla
