#include "cuda/kernels/embedding.h"

#include <climits>

#include "cuda/kernels/launch.cuh"

namespace tv::cuda {

namespace {

using detail::firstIndex;
using detail::gridStride;

// Row-map codes: >= 0 a table row; -1 - r image row r; kZeroRow a bad id (a zero row is written and
// the status says why, so nothing reads outside the table or the image).
constexpr std::int32_t kZeroRow = INT_MIN;
constexpr int kScanThreads = 1024;  // one block; a multiple of the warp size
constexpr unsigned kFullMask = 0xffffffffu;

// Which row each position reads. The k-th image-pad token needs k = the number of pads before it: a
// prefix sum over the sequence. Prompts are at most a few thousand tokens, so one block walks them in
// chunks of 1024 with a warp-shuffle scan and carries the count between chunks; it also finds the first
// bad id and writes the whole status, so no separate initialisation is needed.
__global__ void rowMapKernel(std::int32_t const* __restrict__ ids, int count, std::int32_t imageTokenId, int imageRows,
                             int vocab, std::int32_t* __restrict__ rowMap, EmbedStatus* __restrict__ status) {
  __shared__ int warpTotals[kScanThreads / 32];
  __shared__ int carry;
  __shared__ int firstBad;
  __shared__ int firstExcess;
  int const lane = threadIdx.x % 32;
  int const warp = threadIdx.x / 32;
  int const warps = blockDim.x / 32;
  if (threadIdx.x == 0) {
    carry = 0;
    firstBad = INT_MAX;
    firstExcess = -1;
  }
  __syncthreads();
  for (int base = 0; base < count; base += blockDim.x) {
    int const i = base + static_cast<int>(threadIdx.x);
    std::int32_t const id = i < count ? ids[i] : 0;
    int const isPad = i < count && id == imageTokenId ? 1 : 0;
    int inclusive = isPad;
    for (int offset = 1; offset < 32; offset *= 2) {
      int const other = __shfl_up_sync(kFullMask, inclusive, offset);
      if (lane >= offset) inclusive += other;
    }
    if (lane == 31) warpTotals[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
      int total = lane < warps ? warpTotals[lane] : 0;
      for (int offset = 1; offset < 32; offset *= 2) {
        int const other = __shfl_up_sync(kFullMask, total, offset);
        if (lane >= offset) total += other;
      }
      if (lane < warps) warpTotals[lane] = total;  // now inclusive over warps
    }
    __syncthreads();
    int const before = carry + (warp > 0 ? warpTotals[warp - 1] : 0) + inclusive - isPad;
    if (i < count) {
      std::int32_t code;
      if (isPad) {
        code = before < imageRows ? -1 - before : kZeroRow;
        if (before == imageRows) firstExcess = i;  // exactly one position has this count
      } else if (id >= 0 && id < vocab) {
        code = id;
      } else {
        code = kZeroRow;
        atomicMin(&firstBad, i);
      }
      rowMap[i] = code;
    }
    __syncthreads();  // everyone has read carry and warpTotals
    if (threadIdx.x == 0) carry += warpTotals[warps - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    status->imageTokens = carry;
    status->firstExcessImageToken = firstExcess;
    status->firstBadPosition = firstBad == INT_MAX ? -1 : firstBad;
    status->firstBadId = firstBad == INT_MAX ? 0 : ids[firstBad];
  }
}

// Copies rows in vectors of V (16, 4 or 2 bytes, chosen by the launcher from the alignment of the
// pointers and the row size). One thread per vector, in output order, so stores are coalesced.
template <typename V>
__global__ void gatherKernel(V const* __restrict__ table, V const* __restrict__ image, std::int32_t const* __restrict__ rowMap,
                             int count, std::int64_t vectorsPerRow, V* __restrict__ out) {
  std::int64_t const total = static_cast<std::int64_t>(count) * vectorsPerRow;
  for (std::int64_t e = firstIndex(); e < total; e += gridStride()) {
    std::int64_t const position = e / vectorsPerRow;
    std::int64_t const j = e % vectorsPerRow;
    std::int32_t const code = rowMap[position];
    V value{};
    if (code >= 0) {
      value = table[static_cast<std::int64_t>(code) * vectorsPerRow + j];
    } else if (code != kZeroRow) {
      value = image[static_cast<std::int64_t>(-1 - static_cast<std::int64_t>(code)) * vectorsPerRow + j];
    }
    out[e] = value;
  }
}

template <typename V>
void launchGather(EmbedArgs const& a, std::int32_t const* rowMap, cudaStream_t stream) {
  std::int64_t const vectorsPerRow = static_cast<std::int64_t>(a.hidden) * 2 / static_cast<std::int64_t>(sizeof(V));
  gatherKernel<V><<<detail::blocksFor(a.count * vectorsPerRow), detail::kThreads, 0, stream>>>(
      reinterpret_cast<V const*>(a.table), reinterpret_cast<V const*>(a.image), rowMap, a.count, vectorsPerRow,
      reinterpret_cast<V*>(a.out));
  detail::checkLaunch("gatherKernel");
}

bool vectorizable(EmbedArgs const& a, std::size_t bytes) {
  bool const rows = (static_cast<std::size_t>(a.hidden) * 2) % bytes == 0;
  bool const image = a.image == nullptr || detail::aligned(a.image, bytes);
  return rows && image && detail::aligned(a.table, bytes) && detail::aligned(a.out, bytes);
}

}  // namespace

std::size_t embedWorkspaceBytes(int count) {
  TV_CHECK_ARG(count >= 0, "the token count must be non-negative, got ", count);
  return sizeof(std::int32_t) * static_cast<std::size_t>(count);
}

void launchEmbed(EmbedArgs const& a, void* workspace, std::size_t workspaceBytes, EmbedStatus* status, cudaStream_t stream) {
  TV_CHECK_ARG(a.vocab >= 1 && a.hidden >= 1, "the embedding table must be at least 1 x 1, got ", a.vocab, " x ", a.hidden);
  TV_CHECK_ARG(a.table != nullptr && detail::aligned(a.table, 2), "the embedding table must be a 2-byte aligned device pointer");
  TV_CHECK_ARG(a.count >= 0, "the token count must be non-negative, got ", a.count);
  TV_CHECK_ARG(a.count == 0 || a.ids != nullptr, "no token ids given");
  TV_CHECK_ARG(a.imageRows >= 0, "imageRows must be non-negative, got ", a.imageRows);
  TV_CHECK_ARG(a.imageRows == 0 || (a.image != nullptr && detail::aligned(a.image, 2)),
               "image embeddings must be a 2-byte aligned device pointer when imageRows > 0");
  TV_CHECK_ARG(a.count == 0 || (a.out != nullptr && detail::aligned(a.out, 2)), "out must be a 2-byte aligned device pointer");
  TV_CHECK_ARG(status != nullptr && detail::aligned(status, alignof(EmbedStatus)), "no status pointer given");
  std::size_t const needed = embedWorkspaceBytes(a.count);
  TV_CHECK_ARG(workspaceBytes >= needed && (needed == 0 || workspace != nullptr), "the embedding workspace needs ", needed,
               " bytes but ", workspaceBytes, " were given");
  TV_CHECK_ARG(workspace == nullptr || detail::aligned(workspace, 4), "the embedding workspace must be 4-byte aligned");

  auto* rowMap = static_cast<std::int32_t*>(workspace);
  rowMapKernel<<<1, kScanThreads, 0, stream>>>(a.ids, a.count, a.imageTokenId, a.imageRows, a.vocab, rowMap, status);
  detail::checkLaunch("rowMapKernel");
  if (a.count == 0) return;
  if (vectorizable(a, 16)) {
    launchGather<uint4>(a, rowMap, stream);
  } else if (vectorizable(a, 4)) {
    launchGather<std::uint32_t>(a, rowMap, stream);
  } else {
    launchGather<std::uint16_t>(a, rowMap, stream);
  }
}

void checkEmbedStatus(EmbedStatus const& s, int vocab, int imageRows) {
  // The CPU loop stops at the first problem in position order.
  bool const excess = s.firstExcessImageToken >= 0;
  bool const bad = s.firstBadPosition >= 0;
  if (excess && (!bad || s.firstExcessImageToken < s.firstBadPosition)) {
    TV_THROW(ErrorCode::kInvalidArgument, "the prompt has more image-pad tokens than the ", imageRows, " image embeddings");
  }
  if (bad) {
    TV_THROW(ErrorCode::kInvalidArgument, "token id ", s.firstBadId, " at position ", s.firstBadPosition,
             " is outside the vocabulary (", vocab, ")");
  }
  TV_CHECK_ARG(s.imageTokens == imageRows, "the prompt has ", s.imageTokens, " image-pad tokens but the images produced ",
               imageRows, " embeddings");
}

}  // namespace tv::cuda
