// NEON kernels (arm64: Jetson's Cortex-A78AE cores). Compiled everywhere; the bodies exist only on
// AArch64, where NEON and fp16 conversion instructions are always present.
#include "engine/cpu/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace tv::cpu {

#if defined(__aarch64__)
namespace {

void halfToFloatNeon(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float16x4_t const h = vreinterpret_f16_u16(vld1_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(h));
  }
  if (i < n) referenceKernels().halfToFloat(src + i, dst + i, n - i);
}

void floatToHalfNeon(float const* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  }
  if (i < n) referenceKernels().floatToHalf(src + i, dst + i, n - i);
}

void bf16ToFloatNeon(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(src + i), 16)));
  }
  if (i < n) referenceKernels().bf16ToFloat(src + i, dst + i, n - i);
}

}  // namespace

void detail::installNeonKernels(KernelTable& table) {
  table.halfToFloat = halfToFloatNeon;
  table.floatToHalf = floatToHalfNeon;
  table.bf16ToFloat = bf16ToFloatNeon;
}
#else
void detail::installNeonKernels(KernelTable&) {}
#endif

}  // namespace tv::cpu
