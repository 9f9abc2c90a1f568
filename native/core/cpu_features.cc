#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
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
    bool osSavesAvx512 = false;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0) {
      f.f16c = ((ecx >> 29) & 1u) != 0;
      // OSXSAVE (ECX bit 27): XGETBV is available and XCR0 tells which register states the OS saves
      // on a context switch. AVX-512 needs SSE and AVX (bits 1, 2), opmask (5), zmm0-15 upper halves
      // (6) and zmm16-31 (7); a CPU may have the instructions under an OS that does not save them.
      if (((ecx >> 27) & 1u) != 0) {
        unsigned xcr0Low = 0, xcr0High = 0;
        __asm__("xgetbv" : "=a"(xcr0Low), "=d"(xcr0High) : "c"(0));
        osSavesAvx512 = (xcr0Low & 0xe6u) == 0xe6u;
      }
    }
    // CPUID leaf 7, subleaf 0: EBX bit 16 AVX512F, 30 AVX512BW, 31 AVX512VL; ECX bit 11 AVX512_VNNI.
    if (osSavesAvx512 && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) {
      f.avx512f = ((ebx >> 16) & 1u) != 0;
      f.avx512bw = ((ebx >> 30) & 1u) != 0;
      f.avx512vl = ((ebx >> 31) & 1u) != 0;
      f.avx512vnni = ((ecx >> 11) & 1u) != 0;
    }
#elif defined(__aarch64__)
    f.neon = true;
#if defined(__linux__)
    // AT_HWCAP bit 20 (HWCAP_ASIMDDP, asm/hwcap.h): the kernel reports the ID_AA64ISAR0_EL1.DP field.
    f.neonDot = (getauxval(AT_HWCAP) & (1ul << 20)) != 0;
    // AT_HWCAP2 bit 13 (HWCAP2_I8MM): ID_AA64ISAR1_EL1.I8MM.
    f.neonI8mm = (getauxval(AT_HWCAP2) & (1ul << 13)) != 0;
#elif defined(__APPLE__)
    int dot = 0;
    std::size_t size = sizeof dot;
    f.neonDot = sysctlbyname("hw.optional.arm.FEAT_DotProd", &dot, &size, nullptr, 0) == 0 && dot != 0;
    int i8mm = 0;
    size = sizeof i8mm;
    f.neonI8mm = sysctlbyname("hw.optional.arm.FEAT_I8MM", &i8mm, &size, nullptr, 0) == 0 && i8mm != 0;
#endif
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

bool avx512KernelsCompiled() { return avx2KernelsCompiled(); }

bool neonKernelsCompiled() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

bool simdLevelUsable(SimdLevel level) {
  CpuFeatures const& f = cpuFeatures();
  bool const avx2 = avx2KernelsCompiled() && f.avx2 && f.fma && f.f16c;
  switch (level) {
    case SimdLevel::kScalar: return true;
    case SimdLevel::kAvx2: return avx2;
    // The AVX-512 table keeps the AVX2 entries it does not replace.
    case SimdLevel::kAvx512:
      return avx2 && avx512KernelsCompiled() && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
    case SimdLevel::kNeon: return neonKernelsCompiled() && f.neon;
    // The SDOT table keeps the NEON entries it does not replace.
    case SimdLevel::kNeonDot: return neonKernelsCompiled() && f.neon && f.neonDot;
    // The USMMLA table keeps the SDOT entries it does not replace.
    case SimdLevel::kNeonI8mm: return neonKernelsCompiled() && f.neon && f.neonDot && f.neonI8mm;
  }
  return false;
}

SimdLevel simdLevel() {
  static SimdLevel const level = [] {
    char const* forced = std::getenv("TRT_VLA_SIMD");
    if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return SimdLevel::kScalar;
    bool const capAtAvx2 = forced != nullptr && std::strcmp(forced, "avx2") == 0;
    bool const capAtNeon = forced != nullptr && std::strcmp(forced, "neon") == 0;
    bool const capAtNeonDot = capAtNeon || (forced != nullptr && std::strcmp(forced, "neon-dotprod") == 0);
    if (!capAtAvx2 && simdLevelUsable(SimdLevel::kAvx512)) return SimdLevel::kAvx512;
    if (simdLevelUsable(SimdLevel::kAvx2)) return SimdLevel::kAvx2;
    if (!capAtNeonDot && simdLevelUsable(SimdLevel::kNeonI8mm)) return SimdLevel::kNeonI8mm;
    if (!capAtNeon && simdLevelUsable(SimdLevel::kNeonDot)) return SimdLevel::kNeonDot;
    if (simdLevelUsable(SimdLevel::kNeon)) return SimdLevel::kNeon;
    return SimdLevel::kScalar;
  }();
  return level;
}

char const* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kNeon: return "neon";
    case SimdLevel::kNeonDot: return "neon-dotprod";
    case SimdLevel::kNeonI8mm: return "neon-i8mm";
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
