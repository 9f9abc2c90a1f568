#include "cuda/self_test.h"

#include <cmath>
#include <cstring>

#include "cuda/device.h"
#include "cuda/memory.h"
#include "cuda/stream.h"

namespace tv::cuda {

namespace {
__global__ void affineKernel(float const* __restrict__ in, float* __restrict__ out, int n) {
  int const i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = 2.0f * in[i] + 1.0f;
}
}  // namespace

SelfTestResult runSelfTest(int elements) {
  TV_CHECK(deviceAvailable(), ErrorCode::kBackendUnavailable, runtimeStatus().reason);
  TV_CHECK_ARG(elements > 0, "elements must be positive");
  std::size_t const bytes = static_cast<std::size_t>(elements) * sizeof(float);

  Stream stream;
  Event start;
  Event stop;
  PinnedHostBuffer input(bytes);
  PinnedHostBuffer output(bytes);
  DeviceBuffer scratch(bytes);

  auto* in = static_cast<float*>(input.host());
  for (int i = 0; i < elements; ++i) in[i] = static_cast<float>(i % 1000) * 0.5f;

  SelfTestResult result;
  result.elements = elements;
  float const* kernelInput = static_cast<float const*>(input.devicePointer());
  result.readMappedMemory = kernelInput != nullptr;
  DeviceBuffer staged;
  if (kernelInput == nullptr) {
    // No mapping: stage through device memory (one copy).
    staged = DeviceBuffer(bytes);
    TV_CUDA_CHECK(cudaMemcpyAsync(staged.get(), input.host(), bytes, cudaMemcpyHostToDevice, stream.get()));
    kernelInput = static_cast<float const*>(staged.get());
  }
  int const threads = 256;
  int const blocks = (elements + threads - 1) / threads;
  start.record(stream);
  affineKernel<<<blocks, threads, 0, stream.get()>>>(kernelInput, static_cast<float*>(scratch.get()), elements);
  TV_CUDA_CHECK(cudaGetLastError());
  stop.record(stream);
  TV_CUDA_CHECK(cudaMemcpyAsync(output.host(), scratch.get(), bytes, cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  result.kernelMs = Event::elapsedMs(start, stop);

  auto const* out = static_cast<float const*>(output.host());
  result.correct = true;
  for (int i = 0; i < elements; ++i) {
    if (out[i] != 2.0f * in[i] + 1.0f) {
      result.correct = false;
      break;
    }
  }
  return result;
}

}  // namespace tv::cuda
