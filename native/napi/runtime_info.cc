#include "napi/runtime_info.h"

#include <string>

#include "core/cpu_features.h"
#include "core/device_memory_stats.h"
#include "napi/js_error.h"
#include "vla/frame.h"

#if defined(TRT_VLA_WITH_CUDA)
#include <cuda_runtime_api.h>

#include "cuda/device.h"
#include "cuda/self_test.h"
#endif
#if defined(TRT_VLA_WITH_TENSORRT)
#include <NvInferVersion.h>

#include "engine/tensorrt/trt_engine.h"
#endif

namespace tv::napi {

namespace {

#if defined(TRT_VLA_WITH_CUDA)
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif
#if defined(TRT_VLA_WITH_TENSORRT)
constexpr bool kTensorrtCompiled = true;
#else
constexpr bool kTensorrtCompiled = false;
#endif

std::string compilerName() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

char const* architectureName() {
#if defined(__x86_64__) || defined(_M_X64)
  return "x64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

Napi::Object makeBuildInfo(Napi::Env env) {
  Napi::Object build = Napi::Object::New(env);
  build.Set("version", TRT_VLA_VERSION);
  build.Set("gitRevision", TRT_VLA_GIT_REVISION);
  build.Set("buildSystem", TRT_VLA_BUILD_SYSTEM);
  build.Set("compiler", compilerName());
  build.Set("arch", architectureName());
  Napi::Array backends = Napi::Array::New(env);
  uint32_t n = 0;
  backends.Set(n++, "cpu");
  if (kCudaCompiled) backends.Set(n++, "cuda");
  if (kTensorrtCompiled) backends.Set(n++, "tensorrt");
  build.Set("backends", backends);
  Napi::Array simd = Napi::Array::New(env);
  uint32_t s = 0;
  simd.Set(s++, "scalar");
  if (avx2KernelsCompiled()) simd.Set(s++, "avx2");
  if (avx512KernelsCompiled()) simd.Set(s++, "avx512");
  if (neonKernelsCompiled()) {
    simd.Set(s++, "neon");
    simd.Set(s++, "neon-dotprod");  // kernels_neon_dot_*.cc, built on every arm64 target
    simd.Set(s++, "neon-i8mm");     // kernels_neon_i8mm_*.cc, likewise
  }
  build.Set("simd", simd);
#if defined(TRT_VLA_WITH_CUDA)
  build.Set("cudaVersion", cuda::formatCudaVersion(CUDART_VERSION));
  build.Set("cudaArchitectures", TRT_VLA_CUDA_ARCHS);
#endif
#if defined(TRT_VLA_WITH_TENSORRT)
  build.Set("tensorrtVersion", std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                                   std::to_string(NV_TENSORRT_PATCH));
#endif
#if defined(TRT_VLA_SANITIZE)
  build.Set("sanitize", true);
#else
  build.Set("sanitize", false);
#endif
  return build;
}

Napi::Object backendStatus(Napi::Env env, bool compiled, bool available, std::string const& reason) {
  Napi::Object status = Napi::Object::New(env);
  status.Set("compiled", compiled);
  status.Set("available", available);
  if (!available && !reason.empty()) status.Set("reason", reason);
  return status;
}

class RuntimeInfoWorker : public PromiseWorker {
 public:
  using PromiseWorker::PromiseWorker;

 protected:
  void run() override {
#if defined(TRT_VLA_WITH_CUDA)
    cuda::runtimeStatus();  // the slow part: initialises the CUDA driver, off the JS thread
#endif
#if defined(TRT_VLA_WITH_TENSORRT)
    tensorrtProblem_ = engine::trt::availabilityProblem();
    tensorrtVersion_ = engine::trt::runtimeVersion();
#endif
  }

  Napi::Value result(Napi::Env env) override {
    Napi::Object info = Napi::Object::New(env);
    Napi::Object backends = Napi::Object::New(env);
    backends.Set("cpu", backendStatus(env, true, true, ""));

#if defined(TRT_VLA_WITH_CUDA)
    cuda::RuntimeStatus const& cuda = cuda::runtimeStatus();
    backends.Set("cuda", backendStatus(env, true, cuda.available, cuda.reason));
    Napi::Object cudaInfo = Napi::Object::New(env);
    if (cuda.driverVersion > 0) cudaInfo.Set("driverVersion", cuda::formatCudaVersion(cuda.driverVersion));
    cudaInfo.Set("runtimeVersion", cuda::formatCudaVersion(cuda.runtimeVersion));
    info.Set("cuda", cudaInfo);
    if (!cuda.devices.empty()) {
      cuda::DeviceInfo const& d = cuda.devices.front();
      Napi::Object device = Napi::Object::New(env);
      device.Set("index", d.index);
      device.Set("name", d.name);
      device.Set("sm", d.smMajor * 10 + d.smMinor);
      device.Set("computeCapability", std::to_string(d.smMajor) + "." + std::to_string(d.smMinor));
      device.Set("integrated", d.integrated);
      device.Set("multiprocessors", d.multiprocessors);
      device.Set("totalMemoryBytes", static_cast<double>(d.totalMemory));
      device.Set("canMapHostMemory", d.canMapHostMemory);
      device.Set("count", static_cast<double>(cuda.devices.size()));
      info.Set("device", device);
    }
#else
    backends.Set("cuda", backendStatus(env, false, false, TRT_VLA_CUDA_REASON));
#endif

#if defined(TRT_VLA_WITH_TENSORRT)
    backends.Set("tensorrt", backendStatus(env, true, tensorrtProblem_.empty(), tensorrtProblem_));
    Napi::Object trtInfo = Napi::Object::New(env);
    // getInferLibVersion(): major * 10000 + minor * 100 + patch in TensorRT 10.
    trtInfo.Set("runtimeVersion", std::to_string(tensorrtVersion_ / 10000) + "." + std::to_string(tensorrtVersion_ / 100 % 100) + "." +
                                      std::to_string(tensorrtVersion_ % 100));
    trtInfo.Set("buildVersion", std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                                    std::to_string(NV_TENSORRT_PATCH));
    info.Set("tensorrt", trtInfo);
#else
    backends.Set("tensorrt", backendStatus(env, false, false, TRT_VLA_TENSORRT_REASON));
#endif
    info.Set("backends", backends);

    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("simd", simdLevelName(simdLevel()));
    cpu.Set("threads", availableCpuCount());
    CpuFeatures const& f = cpuFeatures();
    Napi::Object features = Napi::Object::New(env);
    features.Set("avx2", f.avx2);
    features.Set("fma", f.fma);
    features.Set("f16c", f.f16c);
    features.Set("avx512f", f.avx512f);
    features.Set("avx512bw", f.avx512bw);
    features.Set("avx512vl", f.avx512vl);
    features.Set("avx512vnni", f.avx512vnni);
    features.Set("neon", f.neon);
    features.Set("neonDot", f.neonDot);
    features.Set("neonI8mm", f.neonI8mm);
    cpu.Set("features", features);
    info.Set("cpu", cpu);
    info.Set("build", makeBuildInfo(env));
    return info;
  }

 private:
#if defined(TRT_VLA_WITH_TENSORRT)
  std::string tensorrtProblem_;
  int tensorrtVersion_ = 0;
#endif
};

#if defined(TRT_VLA_WITH_CUDA)
class CudaSelfTestWorker : public PromiseWorker {
 public:
  CudaSelfTestWorker(Napi::Env env, int elements) : PromiseWorker(env), elements_(elements) {}

 protected:
  void run() override { result_ = cuda::runSelfTest(elements_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("correct", result_.correct);
    out.Set("readMappedMemory", result_.readMappedMemory);
    out.Set("elements", result_.elements);
    out.Set("kernelMs", result_.kernelMs);
    return out;
  }

 private:
  int elements_;
  cuda::SelfTestResult result_;
};
#endif

}  // namespace

Napi::Value buildInfo(Napi::CallbackInfo const& info) { return makeBuildInfo(info.Env()); }

Napi::Value runtimeInfo(Napi::CallbackInfo const& info) {
  auto* worker = new RuntimeInfoWorker(info.Env());
  worker->Queue();
  return worker->promise();
}

Napi::Value memoryStats(Napi::CallbackInfo const& info) {
  FrameMemoryStats const stats = frameMemoryStats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("frameAllocations", static_cast<double>(stats.allocations));
  out.Set("frameLiveBytes", static_cast<double>(stats.liveBytes));
  out.Set("frameLiveCount", static_cast<double>(stats.liveFrames));
  DeviceMemoryStats const device = deviceMemoryStats();
  out.Set("deviceLiveBytes", static_cast<double>(device.liveBytes));
  out.Set("devicePeakBytes", static_cast<double>(device.peakBytes));
  return out;
}

// cudaSelfTest(elements): exercises the CUDA stream/event/memory wrappers and a kernel (GPU tests).
Napi::Value cudaSelfTest(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
#if defined(TRT_VLA_WITH_CUDA)
  int const elements = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1 << 20;
  auto* worker = new CudaSelfTestWorker(env, elements);
  worker->Queue();
  return worker->promise();
#else
  return guard(env, [&]() -> Napi::Value {
    TV_THROW(ErrorCode::kBackendUnavailable, "CUDA is not compiled into this binary: ", TRT_VLA_CUDA_REASON);
  });
#endif
}

}  // namespace tv::napi
