// A linear layer y = W x (+ b) as the CPU kernels consume it: int4 (AWQ, repacked at load), int8
// (quantized at load from a dense matrix: the LM head, see LmHeadPrecision) or dense fp32 / fp16 /
// bf16 (read in place from the loaded checkpoint when aligned). Layers that share an input
// (q/k/v, gate/up) are fused at load into one matrix, so one pass over the activations serves them all.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "engine/cpu/awq.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/q8_buffer.h"
#include "engine/cpu/q8_weights.h"

namespace tv::engine::cpu {

using tv::cpu::DenseMatrix;
using tv::cpu::DenseType;
using tv::cpu::Q4Weights;
using tv::cpu::Q8Weights;

// How a Linear stores its weights.
enum class WeightFormat { kDense, kInt4, kInt8 };

// Quantized-activation buffers of one execution context, one per activation width (hidden,
// intermediate, ...), grown on demand and reused across calls.
class Q8Scratch {
 public:
  tv::cpu::Q8Buffer& get(int k, int tokens);
  // n counters, all 0 (for a region's threads to count what they completed; forwardSwiGlu).
  std::atomic<int>* counters(int n);

 private:
  std::deque<tv::cpu::Q8Buffer> buffers_;  // a deque: get() for a new width keeps the other buffers in place
  std::unique_ptr<std::atomic<int>[]> counters_;
  int countersSize_ = 0;
};

class Linear {
 public:
  Linear() = default;
  static Linear dense(DenseMatrix matrix, std::shared_ptr<void const> keepAlive, std::vector<float> bias);
  static Linear quantized(Q4Weights weights, std::vector<float> bias);
  static Linear int8(Q8Weights weights, std::vector<float> bias);

  int outFeatures() const { return rows_; }
  int inFeatures() const { return cols_; }
  WeightFormat format() const { return q4_ ? WeightFormat::kInt4 : q8_ ? WeightFormat::kInt8 : WeightFormat::kDense; }
  // The dense element type (format() == kDense only).
  DenseType denseType() const { return dense_.type; }
  // Bytes of weight data one full matmul streams (for bandwidth figures).
  std::size_t weightBytes() const;

  // y[t * ldy + r] = sum_c W[r][c] * x[t * ldx + c] + b[r] for t < tokens, r < outFeatures.
  // scratch holds the int8-quantized activations for int4 and int8 layers.
  // prequantized: x already quantized for this layer (forwardSwiGlu's result), else nullptr.
  void forward(ThreadPool& pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
               Q8Scratch& scratch, tv::cpu::Q8Buffer const* prequantized = nullptr) const;

  // A gated layer (loadGatedLinear) with SwiGLU applied as each range of rows is computed:
  // act[t * ldAct + r] = silu(gate_r . x_t) * (up_r . x_t) for r < outFeatures / 2 (kernels' siluMultiply,
  // the same bits as siluMultiply over the unfused output). y ([tokens][outFeatures], ldy) receives the raw
  // gate / up values in the layer's interleaved row order. Each thread applies SwiGLU to the rows it just
  // computed, while they are in its cache: the unfused pass read half of them from the other core's cache
  // and ran on one thread for a few tokens.
  // With `next` (the layer that reads act: the MLP's down projection), each thread also quantizes the act
  // columns it computed for next's kernel, into next's scratch buffer, and the result points at it (pass
  // it to next.forward); nullptr where next's weights are dense or share this layer's input width (its
  // scratch buffer holds this layer's input while the region runs). Done on the main thread after the
  // region, the quantization read half of act from the other core's cache while the other thread waited:
  // fused, a 0.5b verify call took 0.97x the time (the waiting thread's share of perf samples 9.8% -> 7.4%).
  tv::cpu::Q8Buffer const* forwardSwiGlu(ThreadPool& pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                                         float* act, std::size_t ldAct, Q8Scratch& scratch, Linear const* next = nullptr) const;

  // Only the rows listed (ascending, inside [0, outFeatures)): the LM head when few logits are needed
  // (a grammar's allowed tokens, a reduced vocabulary). x holds `tokens` vectors of inFeatures, prepared
  // once for all rows; contiguous runs of ids go to the kernel together. Long lists are split over the
  // pool, short ones run on the calling thread.
  void forwardRowList(ThreadPool& pool, float const* x, int tokens, float* y, std::size_t ldy,
                      std::vector<std::int32_t> const& rows, Q8Scratch& scratch) const;

  // The same layer with a bias added (length outFeatures).
  Linear withBias(std::vector<float> bias) &&;

  // This dense layer quantized to int8 (tv::cpu::quantizeQ8Weights; the bias is kept), on the pool's
  // threads. ERR_INVALID_ARGUMENT unless format() == kDense and inFeatures % 128 == 0 (the width
  // of the Q8 activations).
  Linear toInt8(ThreadPool* pool) const;

 private:
  // Prepares x for this layer's kernel (int8-quantized for int4 / int8 weights; on `pool` when given)
  // and calls visit(rowsFn), where rowsFn(r0, r1) computes rows [r0, r1) of every token, bias included.
  template <typename Visit>
  void withRowKernel(ThreadPool* pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                     Q8Scratch& scratch, tv::cpu::Q8Buffer const* prequantized, Visit&& visit) const;
  // The span quantizeQ8 uses for this layer's activations: kQ4ActivationSpan (int4), kQ8BlockSize
  // (int8); 0 for dense weights, which take floats.
  int activationSpan() const;

  int rows_ = 0;
  int cols_ = 0;
  DenseMatrix dense_{};
  std::shared_ptr<void const> keepAlive_;  // owned buffer or the loaded file behind dense_.data
  std::shared_ptr<Q4Weights> q4_;
  std::shared_ptr<Q8Weights> q8_;
  std::vector<float> bias_;
  int gatedBlock_ = 0;  // loadGatedLinear's block size; 0 for other layers
  friend Linear loadGatedLinear(SafetensorsSet const&, std::string const&, std::string const&, int, int, bool, ThreadPool*);
};

// The weights' storage as reported to users: "q8", "int4", "fp16", "bf16" or "fp32".
char const* weightFormatName(Linear const& linear);

// Reads a float vector of any float dtype (norm weights, biases), checking its length.
std::vector<float> readFloatVector(TensorView const& t, std::int64_t expectedLength);

// Loads the linear layers with these Hugging Face prefixes ("model.layers.0.self_attn.q_proj", ...)
// fused in order along the output dimension. Each part is either AutoAWQ (prefix.qweight / qzeros /
// scales) or dense (prefix.weight [out, in]); all parts must be the same kind. expectedOut gives each
// part's out_features and expectedIn the shared in_features (ERR_MODEL_LOAD on mismatch).
Linear loadLinear(SafetensorsSet const& weights, std::vector<std::string> const& prefixes,
                  std::vector<int> const& expectedOut, int expectedIn, bool withBias, ThreadPool* pool);

// Rows per block of a gated layer (at most; the largest divisor of the intermediate size up to this): gate
// rows [block * b, + block) are followed by the same up rows, so that one parallel chunk of 2 * block rows
// holds matching gate and up rows. For int4 layers (intermediate % 8 == 0) a multiple of the 8-row tile.
inline constexpr int kGatedBlock = 64;

// The gate and up projections of a SwiGLU MLP (Hugging Face prefixes, e.g. "model.layers.0.mlp.gate_proj",
// each [intermediate, in]) fused into one layer with their rows interleaved in blocks of kGatedBlock, for
// forwardSwiGlu. Same checks as loadLinear.
Linear loadGatedLinear(SafetensorsSet const& weights, std::string const& gate, std::string const& up, int intermediate, int in,
                       bool withBias, ThreadPool* pool);

// A dense matrix from one tensor [rows, cols] (e.g. a tied embedding used as LM head), read in place
// when aligned (the caller keeps the loaded file alive), copied otherwise.
Linear loadDenseMatrix(TensorView const& tensor, std::shared_ptr<void const> keepAlive, int rows, int cols);

}  // namespace tv::engine::cpu
