#include "vla/frame.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/error.h"

#if defined(TRT_VLA_WITH_CUDA)
#include <cuda_runtime_api.h>

#include "cuda/device.h"
#endif

namespace tv {

namespace {
std::atomic<std::uint64_t> gAllocations{0};
std::atomic<std::uint64_t> gLiveBytes{0};
std::atomic<std::uint64_t> gLiveFrames{0};
constexpr std::size_t kHostAlignment = 64;
}  // namespace

PixelFormat parsePixelFormat(std::string_view name) {
  if (name == "rgb8") return PixelFormat::kRgb8;
  if (name == "rgba8") return PixelFormat::kRgba8;
  if (name == "bgr8") return PixelFormat::kBgr8;
  if (name == "nv12") return PixelFormat::kNv12;
  TV_THROW(ErrorCode::kInvalidArgument, "Expected one of 'rgb8', 'rgba8', 'bgr8', 'nv12' for format but received '",
           name, "'");
}

char const* pixelFormatName(PixelFormat format) {
  switch (format) {
    case PixelFormat::kRgb8: return "rgb8";
    case PixelFormat::kRgba8: return "rgba8";
    case PixelFormat::kBgr8: return "bgr8";
    case PixelFormat::kNv12: return "nv12";
  }
  return "rgb8";
}

int bytesPerPixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::kRgb8:
    case PixelFormat::kBgr8: return 3;
    case PixelFormat::kRgba8: return 4;
    case PixelFormat::kNv12: return 1;
  }
  return 3;
}

FrameLayout makeFrameLayout(int width, int height, PixelFormat format, int stride) {
  TV_CHECK_ARG(width >= 1 && width <= kMaxFrameDimension, "Expected an integer between 1 and ", kMaxFrameDimension,
               " for width but received ", width);
  TV_CHECK_ARG(height >= 1 && height <= kMaxFrameDimension, "Expected an integer between 1 and ", kMaxFrameDimension,
               " for height but received ", height);
  if (format == PixelFormat::kNv12) {
    TV_CHECK_ARG(width % 2 == 0 && height % 2 == 0, "nv12 frames need an even width and height but received ", width,
                 "x", height);
  }
  long long const rowBytes = static_cast<long long>(width) * bytesPerPixel(format);
  long long const effectiveStride = stride == 0 ? rowBytes : stride;
  TV_CHECK_ARG(effectiveStride >= rowBytes, "Expected a stride of at least ", rowBytes, " bytes for a ", width,
               "-pixel ", pixelFormatName(format), " row but received ", stride);
  TV_CHECK_ARG(effectiveStride <= 4LL * kMaxFrameDimension, "Expected a stride of at most ", 4LL * kMaxFrameDimension,
               " bytes but received ", stride);
  FrameLayout layout;
  layout.width = width;
  layout.height = height;
  layout.format = format;
  layout.stride = static_cast<int>(effectiveStride);
  long long bytes = effectiveStride * height;
  if (format == PixelFormat::kNv12) bytes = bytes * 3 / 2;
  layout.byteLength = static_cast<std::size_t>(bytes);
  return layout;
}

std::shared_ptr<FrameMemory> FrameMemory::allocate(std::size_t bytes) {
  TV_CHECK_ARG(bytes > 0, "a frame needs at least one byte");
  std::shared_ptr<FrameMemory> memory(new FrameMemory());
  memory->size_ = bytes;
#if defined(TRT_VLA_WITH_CUDA)
  if (cuda::deviceAvailable()) {
    void* host = nullptr;
    if (cudaHostAlloc(&host, bytes, cudaHostAllocMapped | cudaHostAllocPortable) == cudaSuccess) {
      memory->data_ = static_cast<std::uint8_t*>(host);
      memory->pinned_ = true;
      void* device = nullptr;
      if (cudaHostGetDevicePointer(&device, host, 0) == cudaSuccess) memory->devicePointer_ = device;
    }
    cudaGetLastError();  // a failed pinned allocation falls back to host memory below
  }
#endif
  if (memory->data_ == nullptr) {
    std::size_t const rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    memory->data_ = static_cast<std::uint8_t*>(std::aligned_alloc(kHostAlignment, rounded));
    TV_CHECK(memory->data_ != nullptr, ErrorCode::kOutOfMemory, "could not allocate ", bytes, " bytes for a frame");
  }
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  gLiveBytes.fetch_add(bytes, std::memory_order_relaxed);
  gLiveFrames.fetch_add(1, std::memory_order_relaxed);
  return memory;
}

FrameMemory::~FrameMemory() {
  if (data_ == nullptr) return;
#if defined(TRT_VLA_WITH_CUDA)
  if (pinned_) {
    cudaFreeHost(data_);
  } else {
    std::free(data_);
  }
#else
  std::free(data_);
#endif
  gLiveBytes.fetch_sub(size_, std::memory_order_relaxed);
  gLiveFrames.fetch_sub(1, std::memory_order_relaxed);
}

FrameMemoryStats frameMemoryStats() {
  FrameMemoryStats stats;
  stats.allocations = gAllocations.load(std::memory_order_relaxed);
  stats.liveBytes = gLiveBytes.load(std::memory_order_relaxed);
  stats.liveFrames = gLiveFrames.load(std::memory_order_relaxed);
  return stats;
}

std::uint64_t fnv1a64(std::uint8_t const* data, std::size_t size) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace tv
