// Row-wise operations of the CPU engines, built on the kernel table: normalisation, rotary embedding,
// activations and attention over an fp16 key/value store. Matmuls live in linear.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/thread_pool.h"

namespace tv::engine::cpu {

// Row-wise steps over at most this many rows (a decode step, a speculative verify chain) run on the
// calling thread. Split over the pool, each thread first pulled its rows from the other core's cache
// (the previous step wrote them there): a 6-row RMSNorm of 896 floats took ~2 us a row that way.
inline constexpr int kSerialRows = 8;

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, for `rows` rows of length n (in place allowed).
void rmsNorm(ThreadPool& pool, float const* x, float const* weight, int rows, int n, double eps, float* out);

// Rotary embedding, "rotate half" layout: for i < dim/2,
//   (v[i], v[i + dim/2]) <- (v[i] * c[i] - v[i + dim/2] * s[i], v[i + dim/2] * c[i] + v[i] * s[i]).
// Applied to `heads` consecutive vectors of length dim starting at v.
void applyRotary(float* v, int heads, int dim, float const* cos, float const* sin);

// out[i] = silu(gate[i]) * up[i] for each of `rows` rows; gate and up are the two halves of each row
// of gateUp (row length 2n), out has row length n.
void siluMultiply(ThreadPool& pool, float const* gateUp, int rows, int n, float* out);

// In place: x = gelu(x) (exact, erf form, as torch.nn.GELU()).
void geluInPlace(ThreadPool& pool, float* x, std::size_t n);

// dst[i] += src[i].
void addInPlace(float* dst, float const* src, std::size_t n);

// Queries attending to the same n keys/values (fp16, each of length dim, `stride` halves apart; the heads
// of one grouped-query KV head, or one head): out_i = sum_t softmax(scale * q_i.k_t) v_t for query i at
// q + i * ldq, written at out + i * ldOut. scores must hold queries * n floats. Each query's output is
// the same, bit for bit, whatever the number of queries in the call.
// With visibleFrom < n: positions t >= visibleFrom count only where bit (t - visibleFrom) of the packed mask
// row `mask` is set (32 per int32 word, lowest bit first: a tree-attention row, binding_names.h).
void attendHalf(float const* q, std::size_t ldq, int queries, std::uint16_t const* keys, std::uint16_t const* values, std::size_t stride,
                int n, int dim, float scale, float* out, std::size_t ldOut, float* scores, int visibleFrom = -1,
                std::int32_t const* mask = nullptr);

}  // namespace tv::engine::cpu
