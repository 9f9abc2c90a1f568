// Bytes of GPU memory this process holds for engines (device engine memory and TensorRT execution
// context scratch), live and at peak, for benchmark reports. Plain counters: no CUDA dependency, so
// every build reports them (zero without a GPU).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tv {

void noteDeviceAllocation(std::size_t bytes);
void noteDeviceRelease(std::size_t bytes);

struct DeviceMemoryStats {
  std::int64_t liveBytes = 0;
  std::int64_t peakBytes = 0;
};
DeviceMemoryStats deviceMemoryStats();

}  // namespace tv
