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

// ---- Int4 weights and int8 activations --------------------------------------------------------
//
// Int4 matrices use the AWQ group size: one scale and one zero point per 128 input columns
// (w = q * scale + minimum, minimum = -zero * scale, q in 0..15). Activations multiplied with them
// are quantized to int8 in blocks of 32 (one fp32 scale per block), llama.cpp's Q8_0 idea; the
// dot product runs on integers within a block.
inline constexpr int kQ4GroupSize = 128;
inline constexpr int kQ8BlockSize = 32;

// An int4 weight matrix W [rows = out_features, cols = in_features] (y = W x), cols % 128 == 0,
// in the CPU engine's layout (repacked from AutoAWQ at load, see awq.h):
//   nibbles  [rows][cols / 2]  per 32-column block, byte j (0..15) holds column j in its low nibble and
//                              column j + 16 in its high nibble (values 0..15)
//   scale    [rows][cols / 128]
//   minimum  [rows][cols / 128]  = -zero * scale
struct Q4Matrix {
  int rows = 0;
  int cols = 0;
  std::uint8_t const* nibbles = nullptr;
  float const* scale = nullptr;
  float const* minimum = nullptr;
};

// One activation vector of length k (k % 128 == 0), quantized for Q4 matmuls.
struct Q8Vector {
  std::int8_t* values = nullptr;  // [k]
  float* scale = nullptr;         // [k / 32]: x ≈ values * scale within each block
  float* groupSum = nullptr;      // [k / 128]: sum of the dequantized values over each 128-group
};

// A dense weight matrix W [rows][cols], row-major, in one of fp32 / fp16 / bf16.
enum class DenseType { kF32, kF16, kBF16 };
struct DenseMatrix {
  int rows = 0;
  int cols = 0;
  DenseType type = DenseType::kF16;
  void const* data = nullptr;
};

struct KernelTable {
  SimdLevel level = SimdLevel::kScalar;

  // Element-wise conversions of n values.
  void (*halfToFloat)(std::uint16_t const* src, float* dst, std::size_t n) = nullptr;
  void (*floatToHalf)(float const* src, std::uint16_t* dst, std::size_t n) = nullptr;
  void (*bf16ToFloat)(std::uint16_t const* src, float* dst, std::size_t n) = nullptr;

  // Quantizes x[0..k) (k % 128 == 0) into out (blocks of 32: scale = max|x| / 127, values rounded
  // to nearest; groupSum over each 128 columns of the dequantized values).
  void (*quantizeQ8)(float const* x, int k, Q8Vector const& out) = nullptr;

  // Y[t][r] = sum_c W[r][c] * X_t[c] for t in [0, tokens), r in [rowBegin, rowEnd).
  // x: tokens quantized vectors of length w.cols; y: row t starts at y + t * ldy (indexed by r).
  // tokens == 1 is the decode GEMV; larger counts are prefill GEMMs (weights reused across tokens).
  void (*matmulQ4)(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                   int rowEnd) = nullptr;

  // Same for dense weights with fp32 activations: X_t starts at x + t * ldx.
  void (*matmulDense)(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                      int rowBegin, int rowEnd) = nullptr;

  // Attention helpers over the fp16 KV cache: dot(k[0..n), q[0..n)) and y[0..n) += a * v[0..n).
  float (*dotHalf)(std::uint16_t const* k, float const* q, int n) = nullptr;
  void (*axpyHalf)(float a, std::uint16_t const* v, float* y, int n) = nullptr;
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
