// A small end-to-end exercise of the CUDA wrappers (stream, events, mapped pinned memory, device
// memory, a kernel), used by the GPU tests. Throws tv::Error when no device is usable.
#pragma once

namespace tv::cuda {

struct SelfTestResult {
  bool correct = false;         // the kernel's output matched the host computation
  bool readMappedMemory = false;  // the kernel read the input in place from mapped pinned memory
  int elements = 0;
  float kernelMs = 0.0f;        // measured with CUDA events
};

SelfTestResult runSelfTest(int elements);

}  // namespace tv::cuda
