// CPU kernels behind one dispatch table (ggml's pattern, simplified): every kernel has a portable
// reference implementation (kernels_ref.cc), and SIMD variants (kernels_avx2*.cc, kernels_avx512*.cc,
// kernels_neon*.cc)
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
// (w = (q - zero) * scale, q and zero in 0..15). Activations multiplied with them are quantized to
// int8 with one fp32 scale d per 128-column group (kQ4ActivationSpan; Q8Vector::scale repeats it for
// the group's 4 blocks of 32), and the dot product runs on integers within a group:
//   sum_c w[c] x[c] = sum_groups scale * (d_g * isum_g - zero * groupSum)
// with isum_g = sum of q * xq over the group (an exact int32, |isum_g| <= 128 * 15 * 127, so its float
// is exact too) and groupSum the sum of the dequantized activations over the group
// (Q8Vector::groupSum), so the zero point costs one multiply per group.
// Why 128 and not 32 (llama.cpp's Q8_0, which the int8 LM head keeps): a scale per 32 columns cost one
// conversion and one fma per token and 32 columns, on the vector pipes the dot products need; with few
// tokens (a 6-token verify call) the AVX-512 kernel ran 16% slower. The price is precision: one outlier
// coarsens 128 activations instead of 32 (kernel tests: activation NMSE ~2e-4 with 1% outliers of 8
// sigma, vs ~5e-5), still well below the int4 weights' own rounding (NMSE ~5e-3). llama.cpp's k-quants
// quantize activations in blocks of 256 (Q8_K).
inline constexpr int kQ4GroupSize = 128;
inline constexpr int kQ8BlockSize = 32;
inline constexpr int kQ4ActivationSpan = kQ4GroupSize;  // columns per activation scale for int4 matmuls
inline constexpr int kQ4TileRows = 8;      // rows interleaved in one tile
inline constexpr int kQ4BlockBytes = 128;  // one tile x one 32-column block: 8 rows x 32 nibbles
// A Q8 block whose max|x| is below this quantizes to zeros with scale 0: for smaller maxima 1 / scale
// would overflow to Inf (and 0 * Inf to NaN). Far below any activation that matters.
inline constexpr float kQ8TinyBlock = 1e-30f;

// An int4 weight matrix W [rows = out_features, cols = in_features] (y = W x), cols % 128 == 0,
// in the CPU engine's layout (repacked from AutoAWQ at load, see awq.h; owned by Q4Weights).
//
// Rows are interleaved in tiles of 8 (the last tile padded with zero rows: q = 0, scale = 0), so a
// 32-byte load feeds 8 rows at once and one SIMD lane accumulates one row; no horizontal sums.
// tiles = ceil(rows / 8), blocks = cols / 32, groups = cols / 128.
//   nibbles [tiles][blocks][4 chunks][8 rows][4 bytes]   (128 bytes per tile and block)
//       byte j (0..3) of row r in chunk i of block b holds, for that row,
//       column 32b + 4i + j      in its low nibble   (chunk i, low  = block quad i)
//       column 32b + 4(i+4) + j  in its high nibble  (chunk i, high = block quad i + 4)
//       so `and 0x0f` / `shift 4` of one 32-byte chunk yield two [8 rows][4 columns] registers that
//       multiply a broadcast of 4 consecutive activations (vpmaddubsw / sdot by lane).
//   scales  [tiles][groups][8 rows]  fp16 (AutoAWQ's scales, exact)
//   zeros   [tiles][groups][8 rows]  uint8 0..15
// The tile of row r is r / 8 and its lane r % 8; block b of tile t starts at byte (t * blocks + b) * 128.
struct Q4Matrix {
  int rows = 0;
  int cols = 0;
  std::uint8_t const* nibbles = nullptr;
  std::uint16_t const* scales = nullptr;
  std::uint8_t const* zeros = nullptr;

  // Where tile t's blocks, and its [groups][8 rows] scales and zero points, start.
  std::uint8_t const* tileNibbles(int tile) const {
    return nibbles + static_cast<std::size_t>(tile) * (cols / kQ8BlockSize) * kQ4BlockBytes;
  }
  std::uint16_t const* tileScales(int tile) const { return scales + static_cast<std::size_t>(tile) * (cols / kQ4GroupSize) * kQ4TileRows; }
  std::uint8_t const* tileZeros(int tile) const { return zeros + static_cast<std::size_t>(tile) * (cols / kQ4GroupSize) * kQ4TileRows; }
};

// One activation vector of length k (k % 128 == 0), quantized for Q4 matmuls (see Q8Buffer,
// q8_buffer.h, which owns these arrays).
struct Q8Vector {
  std::int8_t* values = nullptr;  // [k], each in -127..127 (never -128: the kernels' int16 sums rely on it)
  float* scale = nullptr;         // [k / 32]: x ~ values * scale within each block (see quantizeQ8's span)
  float* groupSum = nullptr;      // [k / 128]: sum of the dequantized values over each 128-group
  std::int32_t* blockSum = nullptr;  // [k / 32]: sum of the int8 values of each 32-block (exact; quantizeQ8 fills it)
};

// ---- Int8 weights and int8 activations (the LM head) ---------------------------------------------
//
// An int8 weight matrix W [rows][cols], cols % 32 == 0, symmetric, in blocks of 32 columns per row
// (llama.cpp's Q8_0 idea): w = q * d with q in -127..127 and one fp16 scale d per row and block
// (quantizeQ8Weights, q8_weights.h). Its blocks line up with the Q8Vector activation blocks, so a
// row's dot product is, block by block in column order from acc = 0,
//   acc = fma(float(isum_b), d_b * dx_b, acc)
// with isum_b the exact int32 sum of q * xq over the block (|isum_b| <= 32 * 127 * 127 < 2^24, so its
// float is exact) and d_b * dx_b one fp32 product. Every level computes exactly this sequence, so
// results are bit-identical across levels, thread splits and token counts.
//
// Scales are fp16, rounded up from max|w| / 127 so that |w| / d <= 127 needs no clamp: 2 bytes per 32
// weights (6% on top of the int8 values, fp32 would be 12.5%: 19 MB more per decoded token for
// Qwen2.5-3B's 151,936-row head), and the 8 scales of a tile block load as one 16-byte vector.
//
// Rows are interleaved in tiles of 8 like Q4Matrix (the last tile padded with zero rows: q = 0,
// scale 0), so one lane of a SIMD register accumulates one row. tiles = ceil(rows / 8), blocks = cols / 32.
//   values [tiles][blocks][8 chunks][8 rows][4 bytes]   (256 bytes per tile and block)
//       chunk i of block b holds columns 32b + 4i .. 32b + 4i + 3 of each of the tile's 8 rows
//   scales [tiles][blocks][8 rows]  fp16 (NaN for a block that held Inf or NaN)
// Row r is lane r % 8 of tile r / 8; block b of tile t starts at byte (t * blocks + b) * 256.
inline constexpr int kQ8TileRows = 8;
inline constexpr int kQ8WeightBlockBytes = 256;  // one tile x one 32-column block: 8 rows x 32 int8
struct Q8Matrix {
  int rows = 0;
  int cols = 0;
  std::int8_t const* values = nullptr;
  std::uint16_t const* scales = nullptr;
};

// SiLU's exponential, one sequence of fp32 operations at every level (Cephes' expf polynomial, common in SIMD
// math code; relative error within 2e-7 of fp64, measured in the kernel tests):
//   x = min(-g, kMax) then max(x, kMin)      (as (x < kMax ? x : kMax), (x > kMin ? x : kMin): a NaN gate
//                                             becomes kMax here and stays NaN through the final g * ...)
//   n = nearbyint(x * kLog2e)                 (round half to even)
//   r = fma(-n, kLn2Hi, x); r = fma(-n, kLn2Lo, r)
//   p = fma(fma(fma(fma(fma(c5, r, c4), r, c3), r, c2), r, c1), r, c0)
//   e = (fma(p, r * r, r) + 1) * 2^n        (2^n from the exponent bits; n in [-126, 127])
//   out = g / (1 + e) * u
// The clamps keep 2^n a normal float: silu(g) for g > 87 is g / (1 + 2e-38) = g exactly; for g < -88
// it is ~1e-36 instead of smaller, far below anything an MLP activation resolves.
struct SiluExp {
  static constexpr float kMax = 88.0f;
  static constexpr float kMin = -87.0f;
  static constexpr float kLog2e = 1.44269504088896341f;
  static constexpr float kLn2Hi = 0.693359375f;
  static constexpr float kLn2Lo = -2.12194440e-4f;
  static constexpr float c0 = 5.0000001201e-1f;
  static constexpr float c1 = 1.6666665459e-1f;
  static constexpr float c2 = 4.1665795894e-2f;
  static constexpr float c3 = 8.3334519073e-3f;
  static constexpr float c4 = 1.3981999507e-3f;
  static constexpr float c5 = 1.9875691500e-4f;
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

  // Quantizes x[0..k) (k % 128 == 0) into out, one scale per `span` columns (32: the int8 LM head's
  // blocks; kQ4ActivationSpan = 128: the int4 matmuls'): d = max|x| / 127 of the span, stored for each
  // of its blocks of 32, values = x * (1 / d) rounded to nearest even; d = 0 and values 0 when
  // max|x| < kQ8TinyBlock; d = NaN and values 0 when the span holds Inf or NaN; groupSum per 128
  // columns = the fp32 sum, span by span in order, of d * (the exact int sum of the span's values);
  // blockSum per 32 columns = the exact int sum of the block's values (0 in a non-finite span).
  // values, scale, blockSum and groupSum are bit-identical at every SIMD level.
  void (*quantizeQ8)(float const* x, int k, int span, Q8Vector const& out) = nullptr;

  // Y[t][r] = sum_c W[r][c] * X_t[c] for t in [0, tokens), r in [rowBegin, rowEnd).
  // x: tokens vectors of length w.cols quantized with span kQ4ActivationSpan; y: row t starts at y + t * ldy (indexed by r).
  // tokens == 1 is the decode GEMV; larger counts are prefill GEMMs (weights reused across tokens).
  // Only rows in [rowBegin, rowEnd) are written. Split rows across threads in multiples of 8 (a tile);
  // other splits are correct but compute the shared tile twice. A row's value never depends on the
  // split or on the token count.
  void (*matmulQ4)(Q4Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                   int rowEnd) = nullptr;

  // Same for int8 weights (Q8Matrix; x quantized with quantizeQ8 at span 32, its groupSum unread).
  // Rows are bit-identical at every level and for every split (see Q8Matrix); split in multiples of
  // 8 rows to avoid computing a shared tile twice.
  void (*matmulQ8)(Q8Matrix const& w, Q8Vector const* x, int tokens, float* y, std::size_t ldy, int rowBegin,
                   int rowEnd) = nullptr;

  // Same for dense weights with fp32 activations: X_t starts at x + t * ldx.
  void (*matmulDense)(DenseMatrix const& w, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                      int rowBegin, int rowEnd) = nullptr;

  // out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i] for i in [0, n), with the
  // exponential computed as kSiluExp describes, so that every level gives the same bits (libm's expf
  // is neither vectorizable nor the same on every platform).
  void (*siluMultiply)(float const* gate, float const* up, float* out, std::size_t n) = nullptr;

  // Softmax in place of each of `rows` rows of n values (n >= 1; row r at x + r * ld), the attention weights
  // of one query each; a row's result does not depend on the others:
  //   v_i = x_i * scale; m = max of the v_i (as (v > m ? v : m) from -inf: a NaN is never the max);
  //   d_i = v_i - m; e_i = 0 where d_i < SiluExp::kMin (a masked -inf score included), d_i where d_i is
  //   NaN, else exp(min(d_i, kMax)) by SiluExp's sequence; sum = e_0 + e_1 + ... in order; x_i = e_i * (1 / sum).
  // The same bits at every level (libm's expf, one call per score, was a third of the attention time). The
  // sum stays sequential: a masked position adds exactly 0, so a tree branch's weights keep the bits of its
  // own path's (verifyCall.test.ts), which partial sums by position would not; the rows' sums run side by
  // side instead, so that their add chains overlap.
  void (*softmax)(float* x, std::size_t ld, int rows, int n, float scale) = nullptr;

  // Attention helpers over the fp16 KV cache: dot(k[0..n), q[0..n)) and y[0..n) += a * v[0..n).
  float (*dotHalf)(std::uint16_t const* k, float const* q, int n) = nullptr;
  void (*axpyHalf)(float a, std::uint16_t const* v, float* y, int n) = nullptr;
  // The same over the rows of a cache for several queries that share them (the heads of one grouped-query
  // KV head; row t at rows + t * stride, dim values; query i at q + i * ldq):
  //   dotHalfRows:     scores[i * ldScores + t] = dotHalf(row t, query i, dim) for t in [0, n), bit for bit;
  //   weightedSumHalf: out[i * ldOut + 0..dim) = 0, then axpyHalf(w[i * ldw + t], row t, that output, dim)
  //                    for each t in order whose weight is not 0 (a masked position), bit for bit.
  // One call per attention head group instead of two per position and head: the output stays in
  // registers across the positions instead of being loaded and stored at each (the value sum was 7% of a
  // 6-token verify call), and a SIMD level converts each fp16 row once for several queries.
  void (*dotHalfRows)(std::uint16_t const* rows, std::size_t stride, int n, float const* q, std::size_t ldq, int queries,
                      int dim, float* scores, std::size_t ldScores) = nullptr;
  void (*weightedSumHalf)(float const* w, std::size_t ldw, int queries, std::uint16_t const* rows, std::size_t stride, int n,
                          int dim, float* out, std::size_t ldOut) = nullptr;
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
void installAvx2Q4Kernels(KernelTable& table);  // kernels_avx2_q4.cc, called by installAvx2Kernels
void installNeonKernels(KernelTable& table);
void installNeonQ4Kernels(KernelTable& table);  // kernels_neon_q4.cc, called by installNeonKernels
void installAvx2Q8Kernels(KernelTable& table);  // kernels_avx2_q8.cc, called by installAvx2Kernels
void installNeonQ8Kernels(KernelTable& table);  // kernels_neon_q8.cc, called by installNeonKernels
// AVX-512 (F/BW/VL) + VNNI int4 and int8 matmuls (kernels_avx512_q4.cc, kernels_avx512_q8.cc) and the
// multi-query attention helpers (kernels_avx512.cc), installed over an AVX2 table; they replace matmulQ4,
// matmulQ8, dotHalfRows and weightedSumHalf and nothing else.
void installAvx512Kernels(KernelTable& table);  // kernels_avx512_q4.cc
void installAvx512Q8Kernels(KernelTable& table);  // kernels_avx512_q8.cc, called by installAvx512Kernels
void installAvx512VectorKernels(KernelTable& table);  // kernels_avx512.cc (attention, quantizeQ8, siluMultiply, matmulDense), called by installAvx512Kernels
// The same int4 / int8 matmuls as installNeonQ4Kernels / installNeonQ8Kernels, built with the dot-product
// extension (kernels_neon_dot_q4.cc, kernels_neon_dot_q8.cc: SDOT by lane), installed over a NEON table.
void installNeonDotKernels(KernelTable& table);    // kernels.cc (empty on other architectures)
void installNeonDotQ4Kernels(KernelTable& table);  // kernels_neon_dot_q4.cc, called by installNeonDotKernels
void installNeonDotQ8Kernels(KernelTable& table);  // kernels_neon_dot_q8.cc, called by installNeonDotKernels
// The SDOT int4 matmul with its GEMM (two tokens or more: prefill, speculative verification) on USMMLA
// (kernels_neon_i8mm_q4.cc), installed over an SDOT table; it replaces matmulQ4 and nothing else.
void installNeonI8mmKernels(KernelTable& table);    // kernels.cc (empty on other architectures)
void installNeonI8mmQ4Kernels(KernelTable& table);  // kernels_neon_i8mm_q4.cc, called by installNeonI8mmKernels

// softmax's last steps, shared by every level: the rows' sequential sums side by side and x_i = e_i * (1 / sum),
// over rows that already hold their e_i.
void softmaxNormalize(float* x, std::size_t ld, int rows, int n);

// Reference dot product of one dense row with x over n columns (any n): the column tail of the SIMD
// dense kernels, so that tails are computed by the reference, never by a pasted copy.
float denseDotRef(DenseType type, void const* row, float const* x, int n);
}  // namespace detail

}  // namespace tv::cpu
