// AVX2 + FMA + F16C kernels. Compiled only on x86-64, with -mavx2 -mfma -mf16c, and installed only when
// the CPU supports them (kernels.cc). Keep this file free of inline library templates (std::vector,
// std::function ...): their AVX2 instantiations could be picked by the linker for other files.
#include <immintrin.h>

#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

void halfToFloatAvx2(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i const h = _mm_loadu_si128(reinterpret_cast<__m128i const*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  if (i < n) referenceKernels().halfToFloat(src + i, dst + i, n - i);
}

void floatToHalfAvx2(float const* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 const f = _mm256_loadu_ps(src + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) referenceKernels().floatToHalf(src + i, dst + i, n - i);
}

void bf16ToFloatAvx2(std::uint16_t const* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i const wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<__m128i const*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  if (i < n) referenceKernels().bf16ToFloat(src + i, dst + i, n - i);
}

}  // namespace

void detail::installAvx2Kernels(KernelTable& table) {
  table.halfToFloat = halfToFloatAvx2;
  table.floatToHalf = floatToHalfAvx2;
  table.bf16ToFloat = bf16ToFloatAvx2;
}

}  // namespace tv::cpu
