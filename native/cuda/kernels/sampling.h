// Token sampling on the GPU, split so that the result is bit-identical with the CPU sampler
// (vla::Sampler): the device does the work that scales with the vocabulary, the host the seeded draw.
//
//   device: repetition penalty on the logits in place (same float operations) -> grammar mask (an
//           allowed-id list, or none) -> greedy: argmax (NaN never wins, ties to the lowest id)
//                                       sampling: sort by (logit descending, id ascending), cut to top-k
//   host:   vla::Sampler::drawSorted on the candidates: temperature, top-p, one xoshiro draw.
//
// The draw's softmax and nucleus sums are sequential double sums whose rounding depends on their
// order and extent, so the host needs every candidate that survives top-k: topK candidates, or the
// whole (masked) vocabulary when topK is 0 (vocab * 8 bytes back per token; set topK to keep it small).
//
// Sorting ties: the CPU's comparator orders equal logits by id, and treats -0.0 and +0.0 as equal; the
// device sorts one 64-bit key per candidate (the logit's order-preserving bits, then the id) with
// -0.0 folded into +0.0, which is the same total order. NaN logits: the greedy path skips them exactly
// like the CPU; on the sampling path the CPU's order is undefined for NaN (std::sort), so there is no
// result to match.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace tv::cuda {

struct SamplingArgs {
  float* logits = nullptr;                 // [device, f32] [vocab]; the penalty rewrites it in place
  int vocab = 0;
  std::int32_t const* allowed = nullptr;   // [device-readable, i32] [allowedCount] grammar mask, or null
  int allowedCount = 0;
  std::int32_t const* penalized = nullptr; // [device-readable, i32] [penalizedCount] distinct ids
  int penalizedCount = 0;                  //   (vla::Sampler::penalized(): prompt + sampled tokens)
  float repetitionPenalty = 1.0f;          // 1: off (the CPU sampler's float(repetitionPenalty))
  bool greedy = true;                      // vla::Sampler::greedy()
  int topK = 0;                            // sampling only; 0: no limit
};

// The first 16 bytes of the output buffer, written by the device on every launch.
struct SamplingHeader {
  std::int32_t token = -1;           // greedy: the pick, or -1 when every candidate logit is NaN
  std::int32_t candidates = 0;       // sampling: (logit, id) pairs that follow, best first
  std::int32_t badAllowed = 0;       // allowed ids outside [0, vocab) (the CPU sampler's internal error)
  std::int32_t firstBadAllowed = 0;  // the first such id, in list order
};

// Candidates a launch can produce: 0 when greedy, else min(topK or all, allowedCount or vocab).
int samplingCandidateCapacity(SamplingArgs const& args);

// Bytes of the output buffer: the header, then float logits [capacity], then int32 ids [capacity].
std::size_t samplingOutputBytes(int candidateCapacity);

// Device scratch for launchSampling. Asks CUB for its sort scratch, so it needs a CUDA device.
std::size_t samplingWorkspaceBytes(SamplingArgs const& args);

// workspace: [device] samplingWorkspaceBytes(args) bytes, 256-byte aligned.
// output: [device-writable] samplingOutputBytes(samplingCandidateCapacity(args)) bytes, 4-byte aligned
// (device memory copied back afterwards, or mapped pinned memory read after the stream synchronises).
void launchSampling(SamplingArgs const& args, void* workspace, std::size_t workspaceBytes, void* output,
                    std::size_t outputBytes, cudaStream_t stream);

// Reduced-vocabulary engines (engine/vocab_map.h) compute logits for the mapped ids only, indexed by
// reduced id. This writes full[reducedToFull[r]] = reduced[r] for every r and leaves the other entries
// of full alone (the caller fills them with -inf once), exactly as the host pipeline maps an engine's
// logits back to the tokenizer's ids, so sampling, grammars and stop tokens see full ids.
struct ExpandLogitsArgs {
  float const* reduced = nullptr;             // [device, f32] [reducedCount]
  int reducedCount = 0;
  std::int32_t const* reducedToFull = nullptr;  // [device-readable, i32] [reducedCount], inside [0, fullCount)
  float* full = nullptr;                      // [device, f32] [fullCount]
  int fullCount = 0;
};
void launchExpandLogits(ExpandLogitsArgs const& args, cudaStream_t stream);

// A host copy of an output buffer, decoded.
struct SamplingResult {
  SamplingHeader header;
  std::vector<std::pair<float, std::int32_t>> candidates;  // (penalised logit, id), best first
};
SamplingResult readSamplingOutput(void const* hostOutput, std::size_t outputBytes);

// Throws what the CPU sampler throws for this result: ERR_INTERNAL for an allowed id outside the
// vocabulary, or, when greedy, for logits that are all NaN.
void checkSamplingResult(SamplingResult const& result, SamplingArgs const& args);

}  // namespace tv::cuda
