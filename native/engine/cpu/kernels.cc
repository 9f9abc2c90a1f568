// Chooses the kernel table for this CPU once.
#include "engine/cpu/kernels.h"

#include "core/error.h"

namespace tv::cpu {

namespace {
KernelTable makeTable(SimdLevel level) {
  KernelTable table = referenceKernels();
  table.level = level;
  if (level == SimdLevel::kAvx2 || level == SimdLevel::kAvx512) detail::installAvx2Kernels(table);
  if (level == SimdLevel::kAvx512) detail::installAvx512Kernels(table);
  if (level == SimdLevel::kNeon || level == SimdLevel::kNeonDot || level == SimdLevel::kNeonI8mm) detail::installNeonKernels(table);
  if (level == SimdLevel::kNeonDot || level == SimdLevel::kNeonI8mm) detail::installNeonDotKernels(table);
  if (level == SimdLevel::kNeonI8mm) detail::installNeonI8mmKernels(table);
  return table;
}
}  // namespace

KernelTable const& kernels() {
  static KernelTable const table = makeTable(simdLevel());
  return table;
}

KernelTable const& kernelsFor(SimdLevel level) {
  TV_CHECK_ARG(simdLevelUsable(level), simdLevelName(level), " kernels are not usable on this CPU/build");
  switch (level) {
    case SimdLevel::kScalar: return referenceKernels();
    case SimdLevel::kAvx2: {
      static KernelTable const avx2 = makeTable(SimdLevel::kAvx2);
      return avx2;
    }
    case SimdLevel::kAvx512: {
      static KernelTable const avx512 = makeTable(SimdLevel::kAvx512);
      return avx512;
    }
    case SimdLevel::kNeonDot: {
      static KernelTable const neonDot = makeTable(SimdLevel::kNeonDot);
      return neonDot;
    }
    case SimdLevel::kNeonI8mm: {
      static KernelTable const neonI8mm = makeTable(SimdLevel::kNeonI8mm);
      return neonI8mm;
    }
    case SimdLevel::kNeon: break;
  }
  static KernelTable const neon = makeTable(SimdLevel::kNeon);
  return neon;
}

#if !defined(__x86_64__) && !defined(_M_X64)
// Non-x86 builds compile neither kernels_avx2*.cc nor kernels_avx512*.cc.
void detail::installAvx2Kernels(KernelTable&) {}
void detail::installAvx512Kernels(KernelTable&) {}
#endif
#if !defined(__aarch64__)
// Only arm64 builds compile kernels_neon_dot_*.cc and kernels_neon_i8mm_*.cc (sources.json 'arm64_dotprod',
// 'arm64_i8mm').
void detail::installNeonDotKernels(KernelTable&) {}
void detail::installNeonI8mmKernels(KernelTable&) {}
#else
void detail::installNeonDotKernels(KernelTable& table) {
  installNeonDotQ4Kernels(table);
  installNeonDotQ8Kernels(table);
}
void detail::installNeonI8mmKernels(KernelTable& table) { installNeonI8mmQ4Kernels(table); }
#endif

}  // namespace tv::cpu
