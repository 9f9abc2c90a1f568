// Camera frames: pixel layouts and the addon-owned memory that JS writes pixels into.
//
// FrameMemory is pinned and mapped (cudaHostAlloc) where a CUDA device exists, so GPU preprocessing
// reads the pixels in place; otherwise it is 64-byte aligned host memory. It is reference-counted:
// a plan in flight keeps its frames alive even if JS disposes them meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tv {

enum class PixelFormat { kRgb8, kRgba8, kBgr8, kNv12 };

// Parses "rgb8" | "rgba8" | "bgr8" | "nv12"; throws ERR_INVALID_ARGUMENT otherwise.
PixelFormat parsePixelFormat(std::string_view name);
char const* pixelFormatName(PixelFormat format);

struct FrameLayout {
  int width = 0;
  int height = 0;
  int stride = 0;           // bytes per row (of the Y plane for nv12)
  PixelFormat format = PixelFormat::kRgb8;
  std::size_t byteLength = 0;  // whole frame; nv12 = stride * height * 3 / 2 (Y plane, then interleaved UV)
};

inline constexpr int kMaxFrameDimension = 16384;

// Validates the geometry and computes the byte length. stride = 0 means tightly packed rows.
// Throws ERR_INVALID_ARGUMENT naming the offending field.
FrameLayout makeFrameLayout(int width, int height, PixelFormat format, int stride = 0);

// Bytes per pixel of a packed format (3 or 4); 1 for nv12's Y plane.
int bytesPerPixel(PixelFormat format);

class FrameMemory {
 public:
  static std::shared_ptr<FrameMemory> allocate(std::size_t bytes);
  ~FrameMemory();
  FrameMemory(FrameMemory const&) = delete;
  FrameMemory& operator=(FrameMemory const&) = delete;

  std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool pinned() const noexcept { return pinned_; }
  // Address a CUDA kernel can read this memory at (mapped pinned memory), or null.
  void* devicePointer() const noexcept { return devicePointer_; }

 private:
  FrameMemory() = default;
  std::uint8_t* data_ = nullptr;
  void* devicePointer_ = nullptr;
  std::size_t size_ = 0;
  bool pinned_ = false;
};

struct FrameMemoryStats {
  std::uint64_t allocations = 0;  // FrameMemory objects ever allocated in this process
  std::uint64_t liveBytes = 0;    // bytes currently held
  std::uint64_t liveFrames = 0;
};
FrameMemoryStats frameMemoryStats();

// FNV-1a 64-bit over a byte range: a cheap content fingerprint for tests and diagnostics.
std::uint64_t fnv1a64(std::uint8_t const* data, std::size_t size);

}  // namespace tv
