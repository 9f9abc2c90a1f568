// What the CPU can do, checked once at run time. The CPU engine's kernels pick their SIMD variant from
// simdLevel(): x86-64 builds carry AVX2+FMA+F16C kernels, and AVX-512 (F/BW/VL) + VNNI int4/int8
// matmuls on top of them, next to the portable ones and use each only when this CPU (and its OS, which
// must save the AVX-512 registers) supports it; arm64 builds carry NEON kernels (NEON is always present
// on AArch64) and SDOT int8 matmuls on top of them, used where the CPU has the dot-product extension
// (Armv8.2's optional DotProd, e.g. Jetson Orin's Cortex-A78AE; Armv8.4 and later always), and USMMLA
// int4 GEMMs (prefill) on top of those where it also has the int8 matrix multiply extension (I8MM:
// optional from Armv8.2, e.g. Neoverse V1 / V2, Cortex-A710 and later; not Orin's A78AE).
#pragma once

namespace tv {

enum class SimdLevel { kScalar, kAvx2, kNeon, kAvx512, kNeonDot, kNeonI8mm };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  // AVX-512 foundation, byte/word and 128/256-bit forms, and the int8 dot product (VPDPBUSD); each
  // false unless the OS also saves the opmask and zmm registers (XCR0 bits 5-7, besides SSE/AVX 1-2).
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool neon = false;
  // AArch64 SDOT / UDOT (Linux: HWCAP_ASIMDDP; macOS: hw.optional.arm.FEAT_DotProd).
  bool neonDot = false;
  // AArch64 int8 matrix multiply, SMMLA / USMMLA (Linux: HWCAP2_I8MM; macOS: hw.optional.arm.FEAT_I8MM).
  bool neonI8mm = false;
};

// Features of the CPU this process runs on.
CpuFeatures const& cpuFeatures();

// Whether this binary contains AVX2 and AVX-512 kernels (x86-64 builds) / NEON kernels (arm64 builds).
bool avx2KernelsCompiled();
bool avx512KernelsCompiled();
bool neonKernelsCompiled();

// Whether this CPU and build can run the kernels of `level`.
bool simdLevelUsable(SimdLevel level);

// The kernel variant in use: the best one that is both compiled in and supported by this CPU.
// TRT_VLA_SIMD caps it: 'scalar' forces the portable reference kernels, 'avx2' keeps x86-64 at AVX2
// (to compare with AVX-512 on one machine), 'neon' keeps arm64 at baseline NEON (to compare with SDOT),
// 'neon-dotprod' keeps it at SDOT (to compare with USMMLA); a level above the best usable one changes nothing.
SimdLevel simdLevel();
char const* simdLevelName(SimdLevel level);

// CPUs this process may run on (sched affinity / cgroup aware on Linux), at least 1.
int availableCpuCount();

}  // namespace tv
