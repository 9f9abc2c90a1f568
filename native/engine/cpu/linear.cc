#include "engine/cpu/linear.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/fp16.h"
#include "engine/cpu/ops.h"

namespace tv::engine::cpu {

namespace {

using tv::cpu::kernels;
using tv::cpu::kQ4GroupSize;

// Rows per parallel work item: whole 8-row tiles of the int4 and int8 layouts, and a multiple of what
// the dense SIMD kernels process together.
constexpr int kRowGrain = 16;
// forwardRowList splits a list over the pool from this many rows on. Shorter lists (a grammar's few
// allowed tokens) stay on the calling thread: a parallel region costs a few microseconds, about what
// 50 rows of a 2048-wide int8 head take to stream.
constexpr int kParallelRows = 512;

std::size_t denseElementSize(DenseType type) { return type == DenseType::kF32 ? 4 : 2; }

void checkShape(TensorView const& t, std::vector<std::int64_t> const& expected) {
  TV_CHECK(t.shape == expected, ErrorCode::kModelLoad, "tensor '", t.name, "' has shape ", formatShape(t.shape),
           " but the config implies ", formatShape(expected));
}

DenseType denseTypeOf(TensorView const& t) {
  switch (t.dtype) {
    case DType::kF32: return DenseType::kF32;
    case DType::kF16: return DenseType::kF16;
    case DType::kBF16: return DenseType::kBF16;
    default: TV_THROW(ErrorCode::kModelLoad, "tensor '", t.name, "' has dtype ", dtypeName(t.dtype), "; expected F32, F16 or BF16");
  }
}

// A copy of an int32 tensor into aligned memory (mapped data may be unaligned).
std::vector<std::int32_t> int32Copy(TensorView const& t) {
  TV_CHECK(t.dtype == DType::kI32, ErrorCode::kModelLoad, "tensor '", t.name, "' has dtype ", dtypeName(t.dtype), "; expected I32");
  std::vector<std::int32_t> out(static_cast<std::size_t>(t.elements()));
  t.copyTo(out.data());
  return out;
}

}  // namespace

Linear Linear::dense(DenseMatrix matrix, std::shared_ptr<void const> keepAlive, std::vector<float> bias) {
  Linear l;
  l.rows_ = matrix.rows;
  l.cols_ = matrix.cols;
  l.dense_ = matrix;
  l.keepAlive_ = std::move(keepAlive);
  l.bias_ = std::move(bias);
  return l;
}

Linear Linear::quantized(Q4Weights weights, std::vector<float> bias) {
  Linear l;
  l.rows_ = weights.rows();
  l.cols_ = weights.cols();
  l.q4_ = std::make_shared<Q4Weights>(std::move(weights));
  l.bias_ = std::move(bias);
  return l;
}

Linear Linear::int8(Q8Weights weights, std::vector<float> bias) {
  Linear l;
  l.rows_ = weights.rows();
  l.cols_ = weights.cols();
  l.q8_ = std::make_shared<Q8Weights>(std::move(weights));
  l.bias_ = std::move(bias);
  return l;
}

Linear Linear::toInt8(ThreadPool* pool) const {
  TV_CHECK_ARG(format() == WeightFormat::kDense, "int8 weights (lmHead 'q8') are quantized from a dense fp16 / bf16 / fp32 matrix; this one is ",
               weightFormatName(*this));
  TV_CHECK_ARG(cols_ % kQ4GroupSize == 0, "int8 weights (lmHead 'q8') need in_features (the LM head's hidden_size) a multiple of ",
               kQ4GroupSize, "; it is ", cols_);
  return Linear::int8(tv::cpu::quantizeQ8Weights(dense_, pool), bias_);
}

std::size_t Linear::weightBytes() const {
  if (q4_) return q4_->bytes();
  if (q8_) return q8_->bytes();
  return static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_) * denseElementSize(dense_.type);
}

tv::cpu::Q8Buffer& Q8Scratch::get(int k, int tokens) {
  for (tv::cpu::Q8Buffer& b : buffers_) {
    if (b.k() == k) {
      if (b.tokens() < tokens) b = tv::cpu::Q8Buffer(tokens, k);
      return b;
    }
  }
  buffers_.emplace_back(tokens, k);
  return buffers_.back();
}

std::atomic<int>* Q8Scratch::counters(int n) {
  if (countersSize_ < n) {
    counters_ = std::make_unique<std::atomic<int>[]>(static_cast<std::size_t>(n));
    countersSize_ = n;
  }
  for (int i = 0; i < n; ++i) counters_[static_cast<std::size_t>(i)].store(0, std::memory_order_relaxed);
  return counters_.get();
}

int Linear::activationSpan() const { return q4_ ? tv::cpu::kQ4ActivationSpan : q8_ ? tv::cpu::kQ8BlockSize : 0; }

template <typename Visit>
void Linear::withRowKernel(ThreadPool* pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                           Q8Scratch& scratch, tv::cpu::Q8Buffer const* prequantized, Visit&& visit) const {
  auto const addBias = [&](int r0, int r1) {
    if (bias_.empty()) return;
    for (int t = 0; t < tokens; ++t) {
      float* row = y + static_cast<std::size_t>(t) * ldy;
      for (int r = r0; r < r1; ++r) row[r] += bias_[static_cast<std::size_t>(r)];
    }
  };
  if (q4_ || q8_) {
    tv::cpu::Q8Buffer const* q8 = prequantized;
    if (q8 == nullptr) {
      tv::cpu::Q8Buffer& buffer = scratch.get(cols_, tokens);
      buffer.quantize(kernels(), activationSpan(), x, ldx, tokens, tokens > kSerialRows ? pool : nullptr);
      q8 = &buffer;
    } else {
      TV_CHECK_INTERNAL(q8->k() == cols_ && q8->tokens() >= tokens, "prequantized activations of another shape");
    }
    if (q4_) {
      tv::cpu::Q4Matrix const w = q4_->view();
      auto const kernel = kernels().matmulQ4;
      visit([&](int r0, int r1) {
        kernel(w, q8->rows(), tokens, y, ldy, r0, r1);
        addBias(r0, r1);
      });
    } else {
      tv::cpu::Q8Matrix const w = q8_->view();
      auto const kernel = kernels().matmulQ8;
      visit([&](int r0, int r1) {
        kernel(w, q8->rows(), tokens, y, ldy, r0, r1);
        addBias(r0, r1);
      });
    }
  } else {
    auto const kernel = kernels().matmulDense;
    visit([&](int r0, int r1) {
      kernel(dense_, x, ldx, tokens, y, ldy, r0, r1);
      addBias(r0, r1);
    });
  }
}

void Linear::forward(ThreadPool& pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                     Q8Scratch& scratch, tv::cpu::Q8Buffer const* prequantized) const {
  withRowKernel(&pool, x, ldx, tokens, y, ldy, scratch, prequantized, [&](auto const& rowsFn) {
    pool.parallelFor(rows_, kRowGrain, [&](std::int64_t b, std::int64_t e) { rowsFn(static_cast<int>(b), static_cast<int>(e)); });
  });
}

tv::cpu::Q8Buffer const* Linear::forwardSwiGlu(ThreadPool& pool, float const* x, std::size_t ldx, int tokens, float* y, std::size_t ldy,
                                               float* act, std::size_t ldAct, Q8Scratch& scratch, Linear const* next) const {
  TV_CHECK_INTERNAL(gatedBlock_ > 0, "forwardSwiGlu needs a layer from loadGatedLinear");
  auto const silu = kernels().siluMultiply;
  int const block = gatedBlock_;
  int const span = next != nullptr ? next->activationSpan() : 0;
  tv::cpu::Q8Buffer* quantized = nullptr;
  if (span > 0 && next->cols_ == rows_ / 2 && next->cols_ != cols_) {
    TV_CHECK_INTERNAL(next->cols_ % kQ4GroupSize == 0, "quantized layers take whole 128-column groups");
    quantized = &scratch.get(next->cols_, tokens);
  }
  // Chunks of whole (gate block, up block) pairs: the grain is a pair, which divides the rows. A 128-column
  // group of act may take two chunks (two threads): each adds the columns it computed to the group's
  // counter, and the one that completes the group quantizes it (its acquire sees the other's columns). A
  // grain of whole groups (256 rows) instead made a 3b verify call's last chunks twice as long and the
  // call 2-7% slower.
  std::atomic<int>* groupDone = quantized != nullptr ? scratch.counters(next->cols_ / kQ4GroupSize) : nullptr;
  withRowKernel(&pool, x, ldx, tokens, y, ldy, scratch, nullptr, [&](auto const& rowsFn) {
    pool.parallelFor(rows_, 2 * block, [&](std::int64_t b, std::int64_t e) {
      rowsFn(static_cast<int>(b), static_cast<int>(e));
      for (std::int64_t r = b; r < e; r += 2 * block) {
        for (int t = 0; t < tokens; ++t) {
          float const* gate = y + static_cast<std::size_t>(t) * ldy + r;
          silu(gate, gate + block, act + static_cast<std::size_t>(t) * ldAct + r / 2, static_cast<std::size_t>(block));
        }
      }
      if (quantized == nullptr) return;
      int const c0 = static_cast<int>(b / 2), c1 = static_cast<int>(e / 2);
      int runBegin = -1;  // consecutive completed groups go to one quantizeColumns call
      for (int g = c0 / kQ4GroupSize; g * kQ4GroupSize < c1; ++g) {
        int const columns = std::min(c1, (g + 1) * kQ4GroupSize) - std::max(c0, g * kQ4GroupSize);
        bool const complete = groupDone[g].fetch_add(columns, std::memory_order_acq_rel) + columns == kQ4GroupSize;
        if (complete && runBegin < 0) runBegin = g;
        if (!complete && runBegin >= 0) {
          quantized->quantizeColumns(kernels(), span, act, ldAct, tokens, runBegin * kQ4GroupSize, g * kQ4GroupSize);
          runBegin = -1;
        }
      }
      if (runBegin >= 0) {
        int const end = (c1 + kQ4GroupSize - 1) / kQ4GroupSize * kQ4GroupSize;
        quantized->quantizeColumns(kernels(), span, act, ldAct, tokens, runBegin * kQ4GroupSize, end);
      }
    });
  });
  return quantized;
}

void Linear::forwardRowList(ThreadPool& pool, float const* x, int tokens, float* y, std::size_t ldy,
                            std::vector<std::int32_t> const& rows, Q8Scratch& scratch) const {
  std::int64_t const n = static_cast<std::int64_t>(rows.size());
  if (n == 0) return;
  TV_CHECK_INTERNAL(rows.front() >= 0 && rows.back() < rows_, "row list out of bounds");
  ThreadPool* const split = n >= kParallelRows ? &pool : nullptr;
  withRowKernel(split, x, static_cast<std::size_t>(cols_), tokens, y, ldy, scratch, nullptr, [&](auto const& rowsFn) {
    // Entries [b, e) of the list, one kernel call per contiguous run of ids. A run cut by a chunk
    // boundary only recomputes the tile the two halves share (each writes its own rows).
    auto const runs = [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e;) {
        std::int64_t j = i + 1;
        while (j < e && rows[static_cast<std::size_t>(j)] == rows[static_cast<std::size_t>(j - 1)] + 1) ++j;
        rowsFn(rows[static_cast<std::size_t>(i)], rows[static_cast<std::size_t>(j - 1)] + 1);
        i = j;
      }
    };
    if (split != nullptr) {
      split->parallelFor(n, kRowGrain, runs);
    } else {
      runs(0, n);
    }
  });
}

Linear Linear::withBias(std::vector<float> bias) && {
  TV_CHECK_INTERNAL(bias.empty() || static_cast<int>(bias.size()) == rows_, "bias length mismatch");
  bias_ = std::move(bias);
  return std::move(*this);
}

char const* weightFormatName(Linear const& linear) {
  switch (linear.format()) {
    case WeightFormat::kInt4: return "int4";
    case WeightFormat::kInt8: return "q8";
    case WeightFormat::kDense: break;
  }
  switch (linear.denseType()) {
    case DenseType::kF32: return "fp32";
    case DenseType::kF16: return "fp16";
    case DenseType::kBF16: return "bf16";
  }
  return "?";
}

std::vector<float> readFloatVector(TensorView const& t, std::int64_t expectedLength) {
  checkShape(t, {expectedLength});
  std::vector<float> out(static_cast<std::size_t>(expectedLength));
  std::vector<std::uint16_t> halves;
  switch (t.dtype) {
    case DType::kF32: t.copyTo(out.data()); break;
    case DType::kF16:
    case DType::kBF16:
      halves.resize(out.size());
      t.copyTo(halves.data());
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.dtype == DType::kF16 ? halfToFloat(halves[i]) : bf16ToFloat(halves[i]);
      break;
    default: TV_THROW(ErrorCode::kModelLoad, "tensor '", t.name, "' has dtype ", dtypeName(t.dtype), "; expected a float type");
  }
  return out;
}

Linear loadDenseMatrix(TensorView const& tensor, std::shared_ptr<void const> keepAlive, int rows, int cols) {
  checkShape(tensor, {rows, cols});
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.type = denseTypeOf(tensor);
  std::size_t const elementSize = denseElementSize(m.type);
  if (reinterpret_cast<std::uintptr_t>(tensor.data) % elementSize == 0) {
    m.data = tensor.data;  // read in place from the map
    return Linear::dense(m, std::move(keepAlive), {});
  }
  auto owned = std::make_shared<std::vector<std::uint8_t>>(tensor.bytes + 64);
  auto* aligned = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(owned->data()) + 63) & ~std::uintptr_t{63});
  tensor.copyTo(aligned);
  m.data = aligned;
  return Linear::dense(m, owned, {});
}

namespace {

// A run of rows of one part in the fused layer's row order.
struct RowRun {
  std::size_t part;
  int begin;
  int count;
};

// The parts' rows one after the other (interleave == 0), or two equal parts alternating in blocks of
// `interleave` rows (loadGatedLinear).
std::vector<RowRun> fusedRowOrder(std::vector<int> const& partRows, int interleave) {
  std::vector<RowRun> order;
  if (interleave == 0) {
    for (std::size_t p = 0; p < partRows.size(); ++p) order.push_back({p, 0, partRows[p]});
    return order;
  }
  TV_CHECK_INTERNAL(partRows.size() == 2 && partRows[0] == partRows[1], "interleaved layers fuse two equal parts");
  TV_CHECK_INTERNAL(partRows[0] % interleave == 0, "interleaved blocks must divide the parts");
  for (int b = 0; b < partRows[0]; b += interleave) {
    order.push_back({0, b, interleave});
    order.push_back({1, b, interleave});
  }
  return order;
}

Linear loadFused(SafetensorsSet const& weights, std::vector<std::string> const& prefixes, std::vector<int> const& expectedOut,
                 int expectedIn, bool withBias, ThreadPool* pool, int interleave) {
  TV_CHECK_INTERNAL(!prefixes.empty() && prefixes.size() == expectedOut.size(), "bad loadLinear call");
  int totalOut = 0;
  for (int n : expectedOut) totalOut += n;
  std::vector<RowRun> const order = fusedRowOrder(expectedOut, interleave);

  std::vector<float> bias;
  if (withBias) {
    std::vector<std::vector<float>> parts;
    for (std::size_t p = 0; p < prefixes.size(); ++p) parts.push_back(readFloatVector(weights.require(prefixes[p] + ".bias"), expectedOut[p]));
    for (RowRun const& run : order) {
      bias.insert(bias.end(), parts[run.part].begin() + run.begin, parts[run.part].begin() + run.begin + run.count);
    }
  }

  bool const awq = weights.find(prefixes[0] + ".qweight") != nullptr;
  if (awq) {
    TV_CHECK(expectedIn % kQ4GroupSize == 0, ErrorCode::kModelLoad, "int4 layer '", prefixes[0], "' has in_features ",
             expectedIn, ", not a multiple of the AWQ group size ", kQ4GroupSize);
    int const groups = expectedIn / kQ4GroupSize;
    int const totalWords = totalOut / 8;
    struct Part {
      std::vector<std::int32_t> qweight, qzeros;
      std::vector<std::uint16_t> scales;
    };
    std::vector<Part> parts(prefixes.size());
    for (std::size_t p = 0; p < prefixes.size(); ++p) {
      int const n = expectedOut[p];
      TV_CHECK(n % 8 == 0, ErrorCode::kModelLoad, "int4 layer '", prefixes[p], "' has out_features ", n, ", not a multiple of 8");
      TensorView const& qw = weights.require(prefixes[p] + ".qweight");
      TensorView const& qz = weights.require(prefixes[p] + ".qzeros");
      TensorView const& sc = weights.require(prefixes[p] + ".scales");
      checkShape(qw, {expectedIn, n / 8});
      checkShape(qz, {groups, n / 8});
      checkShape(sc, {groups, n});
      TV_CHECK(sc.dtype == DType::kF16, ErrorCode::kModelLoad, "tensor '", sc.name, "' has dtype ", dtypeName(sc.dtype),
               "; AutoAWQ scales are F16");
      parts[p].qweight = int32Copy(qw);
      parts[p].qzeros = int32Copy(qz);
      parts[p].scales.resize(static_cast<std::size_t>(sc.elements()));
      sc.copyTo(parts[p].scales.data());
    }
    // Fuse along N in the row order: AutoAWQ packs 8 output columns per int32 (runs are multiples of 8).
    std::vector<std::int32_t> qweight(static_cast<std::size_t>(expectedIn) * totalWords);
    std::vector<std::int32_t> qzeros(static_cast<std::size_t>(groups) * totalWords);
    std::vector<std::uint16_t> scales(static_cast<std::size_t>(groups) * totalOut);
    int column = 0;
    for (RowRun const& run : order) {
      Part const& part = parts[run.part];
      int const partWords = expectedOut[run.part] / 8;
      for (int k = 0; k < expectedIn; ++k) {
        std::memcpy(&qweight[static_cast<std::size_t>(k) * totalWords + column / 8],
                    &part.qweight[static_cast<std::size_t>(k) * partWords + run.begin / 8], sizeof(std::int32_t) * (run.count / 8));
      }
      for (int g = 0; g < groups; ++g) {
        std::memcpy(&qzeros[static_cast<std::size_t>(g) * totalWords + column / 8],
                    &part.qzeros[static_cast<std::size_t>(g) * partWords + run.begin / 8], sizeof(std::int32_t) * (run.count / 8));
        std::memcpy(&scales[static_cast<std::size_t>(g) * totalOut + column],
                    &part.scales[static_cast<std::size_t>(g) * expectedOut[run.part] + run.begin], sizeof(std::uint16_t) * run.count);
      }
      column += run.count;
    }
    tv::cpu::AwqTensors tensors;
    tensors.inFeatures = expectedIn;
    tensors.outFeatures = totalOut;
    tensors.qweight = qweight.data();
    tensors.qzeros = qzeros.data();
    tensors.scales = scales.data();
    return Linear::quantized(tv::cpu::repackAwq(tensors, pool), std::move(bias));
  }

  if (prefixes.size() == 1) {
    TensorView const& w = weights.require(prefixes[0] + ".weight");
    return loadDenseMatrix(w, nullptr, expectedOut[0], expectedIn).withBias(std::move(bias));
  }
  // Dense parts: rows copied in the row order into one owned matrix of the first part's type.
  TensorView const& first = weights.require(prefixes[0] + ".weight");
  DenseType const type = denseTypeOf(first);
  std::size_t const elementSize = denseElementSize(type);
  std::size_t const rowBytes = static_cast<std::size_t>(expectedIn) * elementSize;
  auto owned = std::make_shared<std::vector<std::uint8_t>>(rowBytes * totalOut + 64);
  auto* aligned = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(owned->data()) + 63) & ~std::uintptr_t{63});
  std::vector<TensorView const*> parts;
  for (std::size_t p = 0; p < prefixes.size(); ++p) {
    TensorView const& w = weights.require(prefixes[p] + ".weight");
    checkShape(w, {expectedOut[p], expectedIn});
    TV_CHECK(denseTypeOf(w) == type, ErrorCode::kModelLoad, "tensor '", w.name, "' has dtype ", dtypeName(w.dtype),
             " but '", first.name, "' has ", dtypeName(first.dtype));
    parts.push_back(&w);
  }
  std::size_t offset = 0;
  for (RowRun const& run : order) {  // straight from the loaded file (memcpy takes unaligned data)
    std::memcpy(aligned + offset, parts[run.part]->data + static_cast<std::size_t>(run.begin) * rowBytes, rowBytes * run.count);
    offset += rowBytes * run.count;
  }
  DenseMatrix m;
  m.rows = totalOut;
  m.cols = expectedIn;
  m.type = type;
  m.data = aligned;
  return Linear::dense(m, owned, std::move(bias));
}

}  // namespace

Linear loadLinear(SafetensorsSet const& weights, std::vector<std::string> const& prefixes, std::vector<int> const& expectedOut,
                  int expectedIn, bool withBias, ThreadPool* pool) {
  return loadFused(weights, prefixes, expectedOut, expectedIn, withBias, pool, 0);
}

Linear loadGatedLinear(SafetensorsSet const& weights, std::string const& gate, std::string const& up, int intermediate, int in,
                       bool withBias, ThreadPool* pool) {
  // Whole blocks only: the largest divisor of the intermediate size up to kGatedBlock (64 for every Qwen2.5
  // size; AWQ layers have intermediate % 8 == 0, so their blocks stay whole int4 tiles).
  int const block = std::gcd(intermediate, kGatedBlock);
  Linear l = loadFused(weights, {gate, up}, {intermediate, intermediate}, in, withBias, pool, block);
  l.gatedBlock_ = block;
  return l;
}

}  // namespace tv::engine::cpu
