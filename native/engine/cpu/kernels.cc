// Chooses the kernel table for this CPU once.
#include "engine/cpu/kernels.h"

#include "core/error.h"

namespace tv::cpu {

namespace {
KernelTable makeTable(SimdLevel level) {
  KernelTable table = referenceKernels();
  table.level = level;
  if (level == SimdLevel::kAvx2) detail::installAvx2Kernels(table);
  if (level == SimdLevel::kNeon) detail::installNeonKernels(table);
  return table;
}
}  // namespace

KernelTable const& kernels() {
  static KernelTable const table = makeTable(simdLevel());
  return table;
}

KernelTable const& kernelsFor(SimdLevel level) {
  if (level == SimdLevel::kScalar) return referenceKernels();
  if (level == SimdLevel::kAvx2) {
    CpuFeatures const& f = cpuFeatures();
    TV_CHECK_ARG(avx2KernelsCompiled() && f.avx2 && f.fma && f.f16c, "AVX2 kernels are not usable on this CPU/build");
    static KernelTable const avx2 = makeTable(SimdLevel::kAvx2);
    return avx2;
  }
  TV_CHECK_ARG(neonKernelsCompiled() && cpuFeatures().neon, "NEON kernels are not usable on this CPU/build");
  static KernelTable const neon = makeTable(SimdLevel::kNeon);
  return neon;
}

#if !defined(__x86_64__) && !defined(_M_X64)
// Non-x86 builds do not compile kernels_avx2.cc.
void detail::installAvx2Kernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
