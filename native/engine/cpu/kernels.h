// CPU kernels behind one dispatch table (ggml's pattern, simplified): every kernel has a portable
// reference implementation (kernels_ref.cc), and SIMD variants (kernels_avx2.cc, kernels_neon.cc)
// replace entries where they exist. kernels() is the table for this CPU; referenceKernels() is what
// the tests compare against. Kernels are single-threaded over a range; callers split work across the
// engine's thread pool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/cpu_features.h"

namespace tv::cpu {

struct KernelTable {
  SimdLevel level = SimdLevel::kScalar;

  // Element-wise conversions of n values.
  void (*halfToFloat)(std::uint16_t const* src, float* dst, std::size_t n) = nullptr;
  void (*floatToHalf)(float const* src, std::uint16_t* dst, std::size_t n) = nullptr;
  void (*bf16ToFloat)(std::uint16_t const* src, float* dst, std::size_t n) = nullptr;
};

// The portable reference implementations (always complete).
KernelTable const& referenceKernels();

// The table for this CPU: SIMD entries where compiled in and supported (see simdLevel()), the
// reference entries elsewhere.
KernelTable const& kernels();

// The table of one level (for tests); throws ERR_INVALID_ARGUMENT when that level is not usable here.
KernelTable const& kernelsFor(SimdLevel level);

namespace detail {
// Fill the entries a SIMD file implements; the others keep their reference values.
void installAvx2Kernels(KernelTable& table);
void installNeonKernels(KernelTable& table);
}  // namespace detail

}  // namespace tv::cpu
