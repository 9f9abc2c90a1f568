// Token sampling on fp32 logits, in Hugging Face's order: repetition penalty (over the prompt and the
// tokens generated so far), then temperature, top-k and top-p, then a seeded draw. Greedy (argmax,
// lowest id on ties) when temperature is 0 or top-k is 1. An optional allowed-token list (the
// grammar's mask) restricts every step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace tv::vla {

struct SamplingConfig {
  double temperature = 0.0;        // 0: greedy
  int topK = 0;                    // 0: no limit
  double topP = 1.0;               // 1: no limit
  double repetitionPenalty = 1.0;  // 1: off; > 1 discourages repeats (Hugging Face semantics)
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingConfig config);

  bool greedy() const { return config_.temperature <= 0.0 || config_.topK == 1; }

  // Penalised tokens: everything in the prompt, plus each sampled token (call noteToken).
  void resetHistory(std::int32_t const* prompt, int count, int vocab);
  void noteToken(std::int32_t token);

  // Picks a token. logits [vocab] may be modified (penalty). With allowed (sorted or not) only those
  // ids can be picked; logits need only be valid at the allowed ids then.
  //
  // draft >= 0: speculative verification of a drafted token (a point mass, the deterministic-draft rule):
  // greedy picks as always (the draft is accepted when it is the argmax); sampling accepts the draft with
  // probability p(draft) under exactly the distribution a plain step draws from, else draws from that
  // distribution with the draft removed. Either way the token has the plain step's distribution, and the
  // draft was accepted exactly when the returned token equals it.
  std::int32_t sample(float* logits, int vocab, std::int32_t const* allowed = nullptr, int allowedCount = 0,
                      std::int32_t draft = -1);

  // The tail of sample() for a non-greedy step whose candidates were chosen elsewhere (the CUDA sampler
  // does the penalty, mask, sort and top-k cut on the device): candidates already penalised, sorted by
  // logit descending then id ascending, and cut to top-k. Applies temperature and top-p and takes one
  // draw from this sampler's generator, so the same candidates give the same token as sample().
  std::int32_t drawSorted(std::pair<float, std::int32_t> const* candidates, std::size_t count, std::int32_t draft = -1);

  SamplingConfig const& config() const { return config_; }
  // The penalised ids (prompt, then sampled tokens), each once, in the order first seen.
  std::vector<std::int32_t> const& penalized() const { return seenList_; }

 private:
  double uniform();

  SamplingConfig config_;
  std::uint64_t state_[4];
  std::vector<std::uint8_t> seen_;   // [vocab]: penalised ids
  std::vector<std::int32_t> seenList_;
  std::vector<std::pair<float, std::int32_t>> candidates_;
  std::vector<double> probs_;
};

}  // namespace tv::vla
