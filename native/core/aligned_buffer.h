// An owning, move-only array of trivially copyable T, 64-byte aligned (one cache line; also the widest
// SIMD load we use), zero-filled. Kernels stream weights and activations from these buffers: the
// alignment keeps every 32-byte tile load inside one cache line.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

#include "core/error.h"

namespace tv {

inline constexpr std::size_t kCacheLine = 64;

template <typename T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds plain data");

 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t count) : size_(count) {
    if (count == 0) return;
    TV_CHECK(count <= (SIZE_MAX - kCacheLine) / sizeof(T), ErrorCode::kOutOfMemory, "buffer of ", count,
             " elements is too large");
    // aligned_alloc wants a size that is a multiple of the alignment.
    std::size_t const bytes = (count * sizeof(T) + kCacheLine - 1) / kCacheLine * kCacheLine;
    void* p = std::aligned_alloc(kCacheLine, bytes);
    TV_CHECK(p != nullptr, ErrorCode::kOutOfMemory, "out of memory allocating ", bytes, " bytes");
    std::memset(p, 0, bytes);
    data_.reset(static_cast<T*>(p));
  }

  T* data() noexcept { return data_.get(); }
  T const* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_.get()[i]; }
  T const& operator[](std::size_t i) const noexcept { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace tv
