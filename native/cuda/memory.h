// RAII owners for CUDA memory. Jetson rule (tensorrt-edge-llm.md §D): weights, KV cache and scratch go in
// DeviceBuffer (cudaMalloc, GPU-cached); only small touch-once staging such as camera frames goes in
// PinnedHostBuffer (mapped: the GPU reads it in place, and on an integrated GPU it is the same DRAM).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_check.h"

namespace tv::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes > 0) TV_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_ != nullptr) cudaFree(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(DeviceBuffer const&) = delete;
  DeviceBuffer& operator=(DeviceBuffer const&) = delete;

  void* get() const noexcept { return ptr_; }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  // Mapped pinned memory; devicePointer() gives the address kernels use to read it in place.
  explicit PinnedHostBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    TV_CUDA_CHECK(cudaHostAlloc(&host_, bytes, cudaHostAllocMapped | cudaHostAllocPortable));
    if (cudaHostGetDevicePointer(&device_, host_, 0) != cudaSuccess) {
      cudaGetLastError();
      device_ = nullptr;  // mapping unsupported: callers copy with cudaMemcpyAsync instead
    }
  }
  ~PinnedHostBuffer() {
    if (host_ != nullptr) cudaFreeHost(host_);
  }
  PinnedHostBuffer(PinnedHostBuffer&& o) noexcept
      : host_(std::exchange(o.host_, nullptr)), device_(std::exchange(o.device_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedHostBuffer& operator=(PinnedHostBuffer&& o) noexcept {
    if (this != &o) {
      if (host_ != nullptr) cudaFreeHost(host_);
      host_ = std::exchange(o.host_, nullptr);
      device_ = std::exchange(o.device_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  PinnedHostBuffer(PinnedHostBuffer const&) = delete;
  PinnedHostBuffer& operator=(PinnedHostBuffer const&) = delete;

  void* host() const noexcept { return host_; }
  void* devicePointer() const noexcept { return device_; }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  void* host_ = nullptr;
  void* device_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace tv::cuda
