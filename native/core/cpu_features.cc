#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace tv {

CpuFeatures const& cpuFeatures() {
  static CpuFeatures const features = [] {
    CpuFeatures f;
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    // F16C: CPUID leaf 1, ECX bit 29 (not every compiler knows a __builtin_cpu_supports name for it).
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0) f.f16c = ((ecx >> 29) & 1u) != 0;
#elif defined(__aarch64__)
    f.neon = true;
#endif
    return f;
  }();
  return features;
}

bool avx2KernelsCompiled() {
#if defined(__x86_64__) || defined(_M_X64)
  return true;
#else
  return false;
#endif
}

bool neonKernelsCompiled() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

SimdLevel simdLevel() {
  static SimdLevel const level = [] {
    char const* forced = std::getenv("TRT_VLA_SIMD");
    if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return SimdLevel::kScalar;
    CpuFeatures const& f = cpuFeatures();
    if (avx2KernelsCompiled() && f.avx2 && f.fma && f.f16c) return SimdLevel::kAvx2;
    if (neonKernelsCompiled() && f.neon) return SimdLevel::kNeon;
    return SimdLevel::kScalar;
  }();
  return level;
}

char const* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kNeon: return "neon";
    case SimdLevel::kScalar: return "scalar";
  }
  return "scalar";
}

int availableCpuCount() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int const n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned const n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace tv
