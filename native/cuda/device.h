// The CUDA devices this process can use, queried once at run time (never assumed at build time).
// When no device is usable, `reason` says why in words a user can act on
// ("no CUDA device: CUDA driver version is insufficient for CUDA runtime version").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tv::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int smMajor = 0;
  int smMinor = 0;
  int multiprocessors = 0;
  bool integrated = false;             // cudaDevAttrIntegrated: Jetson's iGPU shares DRAM with the CPU
  bool canMapHostMemory = false;       // mapped pinned memory is usable
  bool pageableMemoryAccess = false;   // cudaDevAttrPageableMemoryAccess
  bool concurrentManagedAccess = false;
  std::size_t totalMemory = 0;
};

struct RuntimeStatus {
  bool available = false;
  std::string reason;       // empty when available
  int driverVersion = 0;    // e.g. 12060 for CUDA 12.6; 0 when no driver
  int runtimeVersion = 0;   // the CUDA runtime this binary was linked with
  std::vector<DeviceInfo> devices;
};

// Queried on first use and cached for the life of the process.
RuntimeStatus const& runtimeStatus();

// Whether at least one CUDA device is usable.
bool deviceAvailable();

// Formats 12060 as "12.6".
std::string formatCudaVersion(int version);

}  // namespace tv::cuda
