#include "engine/cpu/q8_buffer.h"

#include "core/error.h"
#include "core/thread_pool.h"

namespace tv::cpu {

Q8Buffer::Q8Buffer(int tokens, int k) : tokens_(tokens), k_(k) {
  TV_CHECK_ARG(tokens > 0 && k > 0 && k % kQ4GroupSize == 0, "Q8Buffer needs tokens > 0 and k a multiple of ",
               kQ4GroupSize, "; got tokens ", tokens, ", k ", k);
  std::size_t const t = static_cast<std::size_t>(tokens), n = static_cast<std::size_t>(k);
  values_ = AlignedBuffer<std::int8_t>(t * n);
  scales_ = AlignedBuffer<float>(t * (n / kQ8BlockSize));
  groupSums_ = AlignedBuffer<float>(t * (n / kQ4GroupSize));
  blockSums_ = AlignedBuffer<std::int32_t>(t * (n / kQ8BlockSize));
  rows_.resize(t);
  for (std::size_t i = 0; i < t; ++i) {
    rows_[i].values = values_.data() + i * n;
    rows_[i].scale = scales_.data() + i * (n / kQ8BlockSize);
    rows_[i].groupSum = groupSums_.data() + i * (n / kQ4GroupSize);
    rows_[i].blockSum = blockSums_.data() + i * (n / kQ8BlockSize);
  }
}

void Q8Buffer::quantize(KernelTable const& table, int span, float const* x, std::size_t ldx, int tokens, ThreadPool* pool) {
  checkRequest(span, tokens);
  auto work = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) quantizeRow(table, span, x + static_cast<std::size_t>(t) * ldx, static_cast<int>(t), 0, k_);
  };
  if (pool != nullptr) {
    pool->parallelFor(tokens, 1, work);
  } else {
    work(0, tokens);
  }
}

void Q8Buffer::quantizeColumns(KernelTable const& table, int span, float const* x, std::size_t ldx, int tokens, int c0, int c1) {
  checkRequest(span, tokens);
  TV_CHECK_ARG(0 <= c0 && c0 <= c1 && c1 <= k_ && c0 % kQ4GroupSize == 0 && c1 % kQ4GroupSize == 0, "quantizeColumns needs 128-aligned columns within [0, ",
               k_, "); got [", c0, ", ", c1, ")");
  for (int t = 0; t < tokens; ++t) quantizeRow(table, span, x + static_cast<std::size_t>(t) * ldx, t, c0, c1);
}

void Q8Buffer::checkRequest(int span, int tokens) const {
  TV_CHECK_ARG(tokens >= 0 && tokens <= tokens_, "Q8Buffer holds ", tokens_, " tokens; asked to quantize ", tokens);
  TV_CHECK_ARG(span == kQ8BlockSize || span == kQ4ActivationSpan, "a Q8 activation span is ", kQ8BlockSize, " or ", kQ4ActivationSpan, " columns; got ", span);
}

void Q8Buffer::quantizeRow(KernelTable const& table, int span, float const* x, int t, int c0, int c1) const {
  Q8Vector const& row = rows_[static_cast<std::size_t>(t)];
  Q8Vector part;
  part.values = row.values + c0;
  part.scale = row.scale + c0 / kQ8BlockSize;
  part.groupSum = row.groupSum + c0 / kQ4GroupSize;
  part.blockSum = row.blockSum + c0 / kQ8BlockSize;
  table.quantizeQ8(x + c0, c1 - c0, span, part);
}

}  // namespace tv::cpu
