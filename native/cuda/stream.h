// RAII owners for CUDA streams and events. Move-only; destroyed on the owning thread. Only compiled
// where the CUDA toolkit was found.
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#include "cuda/cuda_check.h"

namespace tv::cuda {

class Stream {
 public:
  // Non-blocking: does not synchronise with the legacy default stream, so sessions overlap.
  Stream() { TV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      if (stream_ != nullptr) cudaStreamDestroy(stream_);
      stream_ = std::exchange(other.stream_, nullptr);
    }
    return *this;
  }
  Stream(Stream const&) = delete;
  Stream& operator=(Stream const&) = delete;

  cudaStream_t get() const noexcept { return stream_; }
  void synchronize() const { TV_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  // Timing events by default (for per-stage timings); pass cudaEventDisableTiming for pure sync.
  explicit Event(unsigned flags = cudaEventDefault) { TV_CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags)); }
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&& other) noexcept {
    if (this != &other) {
      if (event_ != nullptr) cudaEventDestroy(event_);
      event_ = std::exchange(other.event_, nullptr);
    }
    return *this;
  }
  Event(Event const&) = delete;
  Event& operator=(Event const&) = delete;

  cudaEvent_t get() const noexcept { return event_; }
  void record(Stream const& stream) { TV_CUDA_CHECK(cudaEventRecord(event_, stream.get())); }
  void synchronize() const { TV_CUDA_CHECK(cudaEventSynchronize(event_)); }

  // Milliseconds between two recorded timing events.
  static float elapsedMs(Event const& start, Event const& end) {
    float ms = 0.0f;
    TV_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, end.event_));
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace tv::cuda
