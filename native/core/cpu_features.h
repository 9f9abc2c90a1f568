// What the CPU can do, checked once at run time. The CPU engine's kernels pick their SIMD variant from
// simdLevel(): x86-64 builds carry AVX2+FMA+F16C kernels next to the portable ones and use them only
// when this CPU supports them; arm64 builds use NEON (always present on AArch64).
#pragma once

namespace tv {

enum class SimdLevel { kScalar, kAvx2, kNeon };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool neon = false;
};

// Features of the CPU this process runs on.
CpuFeatures const& cpuFeatures();

// Whether this binary contains AVX2 kernels (x86-64 builds) / NEON kernels (arm64 builds).
bool avx2KernelsCompiled();
bool neonKernelsCompiled();

// The kernel variant in use: the best one that is both compiled in and supported by this CPU,
// unless TRT_VLA_SIMD=scalar forces the portable reference kernels.
SimdLevel simdLevel();
char const* simdLevelName(SimdLevel level);

// CPUs this process may run on (sched affinity / cgroup aware on Linux), at least 1.
int availableCpuCount();

}  // namespace tv
