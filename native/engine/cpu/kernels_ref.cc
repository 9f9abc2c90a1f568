// Portable reference kernels: the definition of correct for every SIMD variant.
#include "core/fp16.h"
#include "engine/cpu/kernels.h"

namespace tv::cpu {

namespace {

void halfToFloatRef(std::uint16_t const* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::halfToFloat(src[i]);
}

void floatToHalfRef(float const* src, std::uint16_t* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::floatToHalf(src[i]);
}

void bf16ToFloatRef(std::uint16_t const* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = tv::bf16ToFloat(src[i]);
}

}  // namespace

KernelTable const& referenceKernels() {
  static KernelTable const table = [] {
    KernelTable t;
    t.level = SimdLevel::kScalar;
    t.halfToFloat = halfToFloatRef;
    t.floatToHalf = floatToHalfRef;
    t.bf16ToFloat = bf16ToFloatRef;
    return t;
  }();
  return table;
}

}  // namespace tv::cpu
