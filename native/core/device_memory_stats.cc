#include "core/device_memory_stats.h"

#include <atomic>

namespace tv {

namespace {
std::atomic<std::int64_t> gLive{0};
std::atomic<std::int64_t> gPeak{0};
}  // namespace

void noteDeviceAllocation(std::size_t bytes) {
  std::int64_t const live = gLive.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes);
  std::int64_t peak = gPeak.load();
  while (live > peak && !gPeak.compare_exchange_weak(peak, live)) {
  }
}

void noteDeviceRelease(std::size_t bytes) { gLive.fetch_sub(static_cast<std::int64_t>(bytes)); }

DeviceMemoryStats deviceMemoryStats() { return DeviceMemoryStats{gLive.load(), gPeak.load()}; }

}  // namespace tv
