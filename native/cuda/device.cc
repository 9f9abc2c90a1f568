#include "cuda/device.h"

#include <cuda_runtime_api.h>

#include <mutex>

namespace tv::cuda {

namespace {

RuntimeStatus queryRuntimeStatus() {
  RuntimeStatus status;
  cudaRuntimeGetVersion(&status.runtimeVersion);
  if (cudaDriverGetVersion(&status.driverVersion) != cudaSuccess) status.driverVersion = 0;

  int count = 0;
  cudaError_t const err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    status.reason = std::string("no CUDA device: ") +
                    (err != cudaSuccess ? cudaGetErrorString(err) : "the driver reports zero devices");
    if (status.driverVersion == 0) status.reason += " (no NVIDIA driver found)";
    cudaGetLastError();  // clear the sticky error left by the failed query
    return status;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.smMajor = prop.major;
    info.smMinor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    info.totalMemory = prop.totalGlobalMem;
    int value = 0;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrIntegrated, i) == cudaSuccess) info.integrated = value != 0;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrCanMapHostMemory, i) == cudaSuccess) info.canMapHostMemory = value != 0;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrPageableMemoryAccess, i) == cudaSuccess) {
      info.pageableMemoryAccess = value != 0;
    }
    if (cudaDeviceGetAttribute(&value, cudaDevAttrConcurrentManagedAccess, i) == cudaSuccess) {
      info.concurrentManagedAccess = value != 0;
    }
    status.devices.push_back(std::move(info));
  }
  status.available = !status.devices.empty();
  if (!status.available) status.reason = "no CUDA device: device properties could not be read";
  return status;
}

}  // namespace

RuntimeStatus const& runtimeStatus() {
  static std::once_flag once;
  static RuntimeStatus status;
  std::call_once(once, [] { status = queryRuntimeStatus(); });
  return status;
}

bool deviceAvailable() { return runtimeStatus().available; }

std::string formatCudaVersion(int version) {
  if (version <= 0) return "";
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

}  // namespace tv::cuda
