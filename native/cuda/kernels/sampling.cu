#include "cuda/kernels/sampling.h"

#include <cub/device/device_radix_sort.cuh>

#include <climits>
#include <cstring>

#include "cuda/kernels/launch.cuh"

namespace tv::cuda {

namespace {

using detail::firstIndex;
using detail::gridStride;
using Key = unsigned long long;  // the type CUB and atomicMax take (std::uint64_t is unsigned long)

constexpr std::size_t kHeaderBytes = sizeof(SamplingHeader);
constexpr unsigned kFullMask = 0xffffffffu;
static_assert(kHeaderBytes == 16, "the output layout documents a 16-byte header");

// Scratch at the start of the workspace, reset by initScratchKernel on every launch.
struct Scratch {
  Key best;                  // greedy: the largest key seen (0: none)
  std::int32_t badCount;     // allowed ids outside the vocabulary
  std::int32_t firstBadIndex;  // their smallest list index
};

// The logit's bits mapped to an unsigned integer with the same order as the float (for non-NaN
// values), -0.0 folded into +0.0 because the CPU's comparisons treat them as equal.
__device__ inline std::uint32_t orderedBits(float v) {
  std::uint32_t bits = __float_as_uint(v);
  if ((bits & 0x7fffffffu) == 0) bits = 0;
  return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}

__global__ void initScratchKernel(Scratch* scratch) {
  scratch->best = 0;
  scratch->badCount = 0;
  scratch->firstBadIndex = INT_MAX;
}

// Hugging Face's repetition penalty, with the CPU sampler's float operations. The ids are distinct,
// so no two threads touch the same logit.
__global__ void penaltyKernel(float* __restrict__ logits, int vocab, std::int32_t const* __restrict__ ids, int count,
                              float penalty) {
  for (std::int64_t j = firstIndex(); j < count; j += gridStride()) {
    std::int32_t const id = ids[j];
    if (id < 0 || id >= vocab) continue;
    float const v = logits[id];
    logits[id] = v < 0.0f ? __fmul_rn(v, penalty) : __fdiv_rn(v, penalty);
  }
}

// The candidate's id (the list entry, or the index itself without a mask), or -1 after recording a
// list entry outside the vocabulary.
__device__ inline std::int32_t candidateId(std::int64_t j, std::int32_t const* allowed, int vocab, Scratch* scratch) {
  if (allowed == nullptr) return static_cast<std::int32_t>(j);
  std::int32_t const id = allowed[j];
  if (id >= 0 && id < vocab) return id;
  atomicAdd(&scratch->badCount, 1);
  atomicMin(&scratch->firstBadIndex, static_cast<int>(j));
  return -1;
}

// Greedy: the maximum of (ordered logit, inverted id), i.e. the largest logit and among equals the
// lowest id: the CPU's argmax. NaN and -inf are skipped, so they never win. Block reduction, then one 64-bit
// atomicMax per block.
__global__ void argmaxKernel(float const* __restrict__ logits, int vocab, std::int32_t const* __restrict__ allowed,
                             std::int64_t n, Scratch* scratch) {
  __shared__ Key warpBest[32];
  Key best = 0;
  for (std::int64_t j = firstIndex(); j < n; j += gridStride()) {
    std::int32_t const id = candidateId(j, allowed, vocab, scratch);
    if (id < 0) continue;
    float const v = logits[id];
    if (!(v > -INFINITY)) continue;  // NaN and -inf are never picked (vla/sampler.cc's usable())
    Key const key = (static_cast<Key>(orderedBits(v)) << 32) | (0xffffffffu - static_cast<std::uint32_t>(id));
    best = key > best ? key : best;
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    Key const other = __shfl_xor_sync(kFullMask, best, offset);
    best = other > best ? other : best;
  }
  int const lane = threadIdx.x % 32;
  int const warp = threadIdx.x / 32;
  if (lane == 0) warpBest[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = lane < static_cast<int>(blockDim.x / 32) ? warpBest[lane] : 0;
    for (int offset = 16; offset > 0; offset /= 2) {
      Key const other = __shfl_xor_sync(kFullMask, best, offset);
      best = other > best ? other : best;
    }
    if (lane == 0 && best != 0) atomicMax(&scratch->best, best);
  }
}

__device__ inline void writeBadAllowed(SamplingHeader* header, Scratch const* scratch, std::int32_t const* allowed) {
  header->badAllowed = scratch->badCount;
  header->firstBadAllowed = scratch->badCount > 0 ? allowed[scratch->firstBadIndex] : 0;
}

__global__ void finishGreedyKernel(Scratch const* scratch, std::int32_t const* allowed, SamplingHeader* header) {
  Key const best = scratch->best;
  header->token = best == 0 ? -1 : static_cast<std::int32_t>(0xffffffffu - static_cast<std::uint32_t>(best & 0xffffffffu));
  header->candidates = 0;
  writeBadAllowed(header, scratch, allowed);
}

// Sort keys: ascending order of (inverted ordered logit, id) is the CPU's order, logit descending
// then id ascending. Ids outside the vocabulary get the largest key and sort last (the host then
// throws, as the CPU does).
__global__ void sortKeysKernel(float const* __restrict__ logits, int vocab, std::int32_t const* __restrict__ allowed,
                               std::int64_t n, Scratch* scratch, Key* __restrict__ keys) {
  for (std::int64_t j = firstIndex(); j < n; j += gridStride()) {
    std::int32_t const id = candidateId(j, allowed, vocab, scratch);
    // NaN and -inf sort last with the invalid ids (NaN whatever its sign bit): the host drops trailing
    // unusable candidates (Sampler::drawSorted), as the CPU sampler drops them before its top-k cut.
    keys[j] = id < 0 || !(logits[id] > -INFINITY) ? ~Key{0}
                                          : (static_cast<Key>(~orderedBits(logits[id])) << 32) | static_cast<std::uint32_t>(id);
  }
}

// The best `keep` candidates, each with its (penalised) logit read back from the logits.
__global__ void candidatesKernel(Key const* __restrict__ sorted, float const* __restrict__ logits, int vocab, int keep,
                                 float* __restrict__ outLogits, std::int32_t* __restrict__ outIds) {
  for (std::int64_t i = firstIndex(); i < keep; i += gridStride()) {
    std::uint32_t const id = static_cast<std::uint32_t>(sorted[i] & 0xffffffffu);
    bool const valid = id < static_cast<std::uint32_t>(vocab);
    outIds[i] = valid ? static_cast<std::int32_t>(id) : -1;
    outLogits[i] = valid ? logits[id] : __int_as_float(0x7fc00000);  // NaN marks an invalid slot
  }
}

__global__ void finishSamplingKernel(Scratch const* scratch, std::int32_t const* allowed, int keep, SamplingHeader* header) {
  header->token = -1;
  header->candidates = keep;
  writeBadAllowed(header, scratch, allowed);
}

// Ids outside the full vocabulary are skipped (the map is validated when it is loaded).
__global__ void expandLogitsKernel(float const* __restrict__ reduced, int reducedCount, std::int32_t const* __restrict__ map,
                                   float* __restrict__ full, int fullCount) {
  for (std::int64_t r = firstIndex(); r < reducedCount; r += gridStride()) {
    std::int32_t const id = map[r];
    if (id >= 0 && id < fullCount) full[id] = reduced[r];
  }
}

std::int64_t candidateCount(SamplingArgs const& a) { return a.allowed != nullptr ? a.allowedCount : a.vocab; }

// Without a mask the keys start in id order, and CUB's radix sort is stable, so sorting the logit half
// of the key alone (bits 32..63) already leaves equal logits in id order: half the passes.
int sortBeginBit(SamplingArgs const& a) { return a.allowed != nullptr ? 0 : 32; }

void checkArgs(SamplingArgs const& a) {
  TV_CHECK_ARG(a.vocab >= 1, "the vocabulary must hold at least one token, got ", a.vocab);
  TV_CHECK_ARG(a.logits != nullptr && detail::aligned(a.logits, alignof(float)), "logits must be a 4-byte aligned device pointer");
  TV_CHECK_ARG(a.allowed == nullptr || a.allowedCount > 0, "the grammar allows no token");
  TV_CHECK_ARG(a.allowed != nullptr || a.allowedCount == 0, "allowedCount is ", a.allowedCount, " but no allowed list was given");
  TV_CHECK_ARG(a.penalizedCount >= 0 && (a.penalizedCount == 0 || a.penalized != nullptr), "penalizedCount is ",
               a.penalizedCount, " but no penalised ids were given");
  TV_CHECK_ARG(a.repetitionPenalty > 0.0f, "repetitionPenalty must be > 0");  // NaN fails too
  TV_CHECK_ARG(a.topK >= 0, "topK must be >= 0");
}

struct WorkspaceLayout {
  std::size_t keysIn = 0;
  std::size_t keysOut = 0;
  std::size_t sortScratch = 0;
  std::size_t sortScratchBytes = 0;
  std::size_t bytes = 0;
};

WorkspaceLayout workspaceLayout(SamplingArgs const& a) {
  checkArgs(a);
  WorkspaceLayout l;
  std::size_t offset = detail::alignUp(sizeof(Scratch));
  if (!a.greedy) {
    std::int64_t const n = candidateCount(a);
    std::size_t const keyBytes = sizeof(Key) * static_cast<std::size_t>(n);
    l.keysIn = offset;
    offset += detail::alignUp(keyBytes);
    l.keysOut = offset;
    offset += detail::alignUp(keyBytes);
    // A size query: with a null scratch pointer CUB only computes the bytes it needs.
    TV_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, l.sortScratchBytes, static_cast<Key const*>(nullptr),
                                                 static_cast<Key*>(nullptr), static_cast<int>(n), sortBeginBit(a),
                                                 static_cast<int>(sizeof(Key) * 8)));
    l.sortScratch = offset;
    offset += detail::alignUp(l.sortScratchBytes);
  }
  l.bytes = offset;
  return l;
}

int outputCapacity(std::size_t outputBytes) {
  return outputBytes < kHeaderBytes ? -1 : static_cast<int>((outputBytes - kHeaderBytes) / (sizeof(float) + sizeof(std::int32_t)));
}

}  // namespace

int samplingCandidateCapacity(SamplingArgs const& a) {
  checkArgs(a);
  if (a.greedy) return 0;
  std::int64_t const n = candidateCount(a);
  return static_cast<int>(a.topK > 0 && a.topK < n ? a.topK : n);
}

std::size_t samplingOutputBytes(int candidateCapacity) {
  TV_CHECK_ARG(candidateCapacity >= 0, "the candidate capacity must be non-negative");
  return kHeaderBytes + (sizeof(float) + sizeof(std::int32_t)) * static_cast<std::size_t>(candidateCapacity);
}

std::size_t samplingWorkspaceBytes(SamplingArgs const& a) { return workspaceLayout(a).bytes; }

void launchSampling(SamplingArgs const& a, void* workspace, std::size_t workspaceBytes, void* output, std::size_t outputBytes,
                    cudaStream_t stream) {
  WorkspaceLayout const l = workspaceLayout(a);
  TV_CHECK_ARG(workspace != nullptr && workspaceBytes >= l.bytes, "the sampling workspace needs ", l.bytes, " bytes but ",
               workspaceBytes, " were given");
  TV_CHECK_ARG(detail::aligned(workspace, detail::kWorkspaceAlignment), "the sampling workspace must be ",
               detail::kWorkspaceAlignment, "-byte aligned");
  int const keep = samplingCandidateCapacity(a);
  int const capacity = outputCapacity(outputBytes);
  TV_CHECK_ARG(output != nullptr && detail::aligned(output, 4) && capacity >= keep, "the sampling output needs ",
               samplingOutputBytes(keep), " bytes but ", outputBytes, " were given");

  auto* base = static_cast<std::uint8_t*>(workspace);
  auto* scratch = reinterpret_cast<Scratch*>(base);
  auto* header = static_cast<SamplingHeader*>(output);
  std::int64_t const n = candidateCount(a);

  initScratchKernel<<<1, 1, 0, stream>>>(scratch);
  detail::checkLaunch("initScratchKernel");
  if (a.repetitionPenalty != 1.0f && a.penalizedCount > 0) {
    penaltyKernel<<<detail::blocksFor(a.penalizedCount), detail::kThreads, 0, stream>>>(a.logits, a.vocab, a.penalized,
                                                                                       a.penalizedCount, a.repetitionPenalty);
    detail::checkLaunch("penaltyKernel");
  }
  if (a.greedy) {
    argmaxKernel<<<detail::blocksFor(n), detail::kThreads, 0, stream>>>(a.logits, a.vocab, a.allowed, n, scratch);
    detail::checkLaunch("argmaxKernel");
    finishGreedyKernel<<<1, 1, 0, stream>>>(scratch, a.allowed, header);
    detail::checkLaunch("finishGreedyKernel");
    return;
  }
  auto* keysIn = reinterpret_cast<Key*>(base + l.keysIn);
  auto* keysOut = reinterpret_cast<Key*>(base + l.keysOut);
  sortKeysKernel<<<detail::blocksFor(n), detail::kThreads, 0, stream>>>(a.logits, a.vocab, a.allowed, n, scratch, keysIn);
  detail::checkLaunch("sortKeysKernel");
  std::size_t sortBytes = l.sortScratchBytes;
  TV_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(base + l.sortScratch, sortBytes, keysIn, keysOut, static_cast<int>(n),
                                               sortBeginBit(a), static_cast<int>(sizeof(Key) * 8), stream));
  auto* outLogits = reinterpret_cast<float*>(static_cast<std::uint8_t*>(output) + kHeaderBytes);
  auto* outIds = reinterpret_cast<std::int32_t*>(outLogits + capacity);
  candidatesKernel<<<detail::blocksFor(keep), detail::kThreads, 0, stream>>>(keysOut, a.logits, a.vocab, keep, outLogits,
                                                                             outIds);
  detail::checkLaunch("candidatesKernel");
  finishSamplingKernel<<<1, 1, 0, stream>>>(scratch, a.allowed, keep, header);
  detail::checkLaunch("finishSamplingKernel");
}

void launchExpandLogits(ExpandLogitsArgs const& a, cudaStream_t stream) {
  TV_CHECK_ARG(a.reducedCount >= 0 && a.fullCount >= a.reducedCount, "a reduced vocabulary of ", a.reducedCount,
               " ids cannot map into ", a.fullCount);
  if (a.reducedCount == 0) return;
  TV_CHECK_ARG(a.reduced != nullptr && a.reducedToFull != nullptr && a.full != nullptr && detail::aligned(a.reduced, 4) &&
                   detail::aligned(a.full, 4),
               "the logits and the vocabulary map must be 4-byte aligned device pointers");
  expandLogitsKernel<<<detail::blocksFor(a.reducedCount), detail::kThreads, 0, stream>>>(a.reduced, a.reducedCount, a.reducedToFull,
                                                                                        a.full, a.fullCount);
  detail::checkLaunch("expandLogitsKernel");
}

SamplingResult readSamplingOutput(void const* hostOutput, std::size_t outputBytes) {
  int const capacity = outputCapacity(outputBytes);
  TV_CHECK_ARG(hostOutput != nullptr && capacity >= 0, "not a sampling output buffer");
  auto const* bytes = static_cast<std::uint8_t const*>(hostOutput);
  SamplingResult r;
  std::memcpy(&r.header, bytes, kHeaderBytes);
  TV_CHECK_INTERNAL(r.header.candidates >= 0 && r.header.candidates <= capacity, "the sampling output holds ",
                    r.header.candidates, " candidates but has room for ", capacity);
  r.candidates.resize(static_cast<std::size_t>(r.header.candidates));
  std::uint8_t const* logits = bytes + kHeaderBytes;
  std::uint8_t const* ids = logits + sizeof(float) * static_cast<std::size_t>(capacity);
  for (std::size_t i = 0; i < r.candidates.size(); ++i) {
    std::memcpy(&r.candidates[i].first, logits + sizeof(float) * i, sizeof(float));
    std::memcpy(&r.candidates[i].second, ids + sizeof(std::int32_t) * i, sizeof(std::int32_t));
  }
  return r;
}

void checkSamplingResult(SamplingResult const& r, SamplingArgs const& a) {
  TV_CHECK_INTERNAL(r.header.badAllowed == 0, "allowed token ", r.header.firstBadAllowed, " outside the vocabulary");
  if (a.greedy) {
    // The text of native/vla/sampler.cc's throwNoUsableScores (the CPU's greedy step), so both fail alike.
    TV_CHECK(r.header.token >= 0, ErrorCode::kInternal, "every candidate logit is NaN or -inf: the model produced no usable scores");
  } else {
    TV_CHECK_INTERNAL(!r.candidates.empty(), "no sampling candidates");
  }
}

}  // namespace tv::cuda
