// Pieces the AVX2 and AVX-512 multi-query attention kernels share (kernels_avx2.cc, kernels_avx512.cc): the
// order in which 4 queries' dot products are reduced (which fixes every score's bits at both levels) and
// the loop over blocks of queries. Include only from files compiled with at least the AVX2 flags;
// everything here has internal linkage, so no AVX-512 build of it can be merged into a function that
// AVX2-only CPUs run.
#pragma once

#include <immintrin.h>

#include <cstddef>

namespace tv::cpu::x86 {
namespace {

// Calls block(ins, outs, count) for each block of up to N queries of a multi-query kernel: ins[j] and outs[j]
// are query i + j's input row (in + (i + j) * ldIn) and output row (out + (i + j) * ldOut); a short block
// repeats its first query in the unused slots (computed by the block kernel, never stored).
template <int N, typename Block>
void forQueryBlocks(float const* in, std::size_t ldIn, float* out, std::size_t ldOut, int queries, Block&& block) {
  for (int i = 0; i < queries; i += N) {
    int const count = queries - i < N ? queries - i : N;
    float const* ins[N];
    float* outs[N];
    for (int j = 0; j < N; ++j) {
      std::size_t const row = static_cast<std::size_t>(j < count ? i + j : i);
      ins[j] = in + row * ldIn;
      outs[j] = out + row * ldOut;
    }
    block(ins, outs, count);
  }
}

// The sums of the 8 lanes of v0..v3 (one query each) into out[0..4), in hsum()'s order: lo + hi halves,
// then lanes (0 + 2, 1 + 3), then those two.
inline void reduce4(__m256 v0, __m256 v1, __m256 v2, __m256 v3, float* out) {
  // (lo | hi) halves of queries (0, 1) and (2, 3) side by side, added: lanes s0..s3 of each query.
  __m256 const s01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20), _mm256_permute2f128_ps(v0, v1, 0x31));
  __m256 const s23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20), _mm256_permute2f128_ps(v2, v3, 0x31));
  // (s0 + s2, s1 + s3) of queries 0 and 2 (low half), 1 and 3 (high half).
  __m256 const pairs = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(3, 2, 3, 2)));
  __m256 const sums = _mm256_add_ps(_mm256_shuffle_ps(pairs, pairs, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(pairs, pairs, _MM_SHUFFLE(3, 1, 3, 1)));
  __m128 const lo = _mm256_castps256_ps128(sums);    // queries 0, 2, 0, 2
  __m128 const hi = _mm256_extractf128_ps(sums, 1);  // queries 1, 3, 1, 3
  out[0] = _mm_cvtss_f32(lo);
  out[1] = _mm_cvtss_f32(hi);
  out[2] = _mm_cvtss_f32(_mm_movehdup_ps(lo));
  out[3] = _mm_cvtss_f32(_mm_movehdup_ps(hi));
}

}  // namespace
}  // namespace tv::cpu::x86
