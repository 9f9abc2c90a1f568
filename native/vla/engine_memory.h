// Memory the engines read and write: host memory for CPU engines, device memory for TensorRT engines
// (engine::Engine::memoryLocation()). The host pipeline computes on the host and moves data through
// this interface, so the same pipeline code drives both backends.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

#include "engine/engine.h"

namespace tv::vla {

class EngineMemory {
 public:
  virtual ~EngineMemory() = default;
  virtual engine::MemoryLocation location() const = 0;
  virtual void* allocate(std::size_t bytes) = 0;  // zero-filled
  virtual void release(void* p) noexcept = 0;
  virtual void upload(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
  virtual void download(void* dst, void const* src, std::size_t bytes, engine::Stream& stream) = 0;
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
