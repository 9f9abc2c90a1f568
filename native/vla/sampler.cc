#include "vla/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tv::vla {

namespace {
// Every sampler (greedy, sampled, CPU, CUDA) fails with this when no candidate has a score: NaN and -inf
// are never picked, so all-NaN logits (a numerically broken forward pass), or NaN where the grammar left
// tokens and -inf where it denied them, cannot yield a made-up token.
// native/cuda/kernels/sampling.cu's checkSamplingResult raises the same text for the device's greedy step.
[[noreturn]] void throwNoUsableScores() {
  TV_THROW(ErrorCode::kInternal, "every candidate logit is NaN or -inf: the model produced no usable scores");
}

// NaN compares false, so this is false for NaN and -inf alike.
bool usable(float logit) { return logit > -INFINITY; }

std::uint64_t splitMix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Sampler::Sampler(SamplingConfig config) : config_(config) {
  TV_CHECK_ARG(config.temperature >= 0.0 && std::isfinite(config.temperature), "temperature must be >= 0");
  TV_CHECK_ARG(config.topK >= 0, "topK must be >= 0");
  TV_CHECK_ARG(config.topP > 0.0 && config.topP <= 1.0, "topP must be in (0, 1]");
  TV_CHECK_ARG(config.repetitionPenalty > 0.0 && std::isfinite(config.repetitionPenalty), "repetitionPenalty must be > 0");
  std::uint64_t seed = config.seed;
  for (auto& s : state_) s = splitMix(seed);
}

double Sampler::uniform() {
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  std::uint64_t const result = rotl(state_[1] * 5, 7) * 9;
  std::uint64_t const t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return static_cast<double>(result >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
}

void Sampler::resetHistory(std::int32_t const* prompt, int count, int vocab) {
  seen_.assign(static_cast<std::size_t>(vocab), 0);
  seenList_.clear();
  for (int i = 0; i < count; ++i) noteToken(prompt[i]);
}

void Sampler::noteToken(std::int32_t token) {
  if (token < 0 || static_cast<std::size_t>(token) >= seen_.size() || seen_[static_cast<std::size_t>(token)]) return;
  seen_[static_cast<std::size_t>(token)] = 1;
  seenList_.push_back(token);
}

std::int32_t Sampler::sample(float* logits, int vocab, std::int32_t const* allowed, int allowedCount, std::int32_t draft) {
  TV_CHECK_INTERNAL(vocab > 0, "empty logits");
  if (config_.repetitionPenalty != 1.0) {
    float const p = static_cast<float>(config_.repetitionPenalty);
    for (std::int32_t id : seenList_) {
      if (id >= vocab) continue;
      float& v = logits[id];
      v = v < 0.0f ? v * p : v / p;
    }
  }
  candidates_.clear();
  if (allowed != nullptr) {
    TV_CHECK_INTERNAL(allowedCount > 0, "the grammar allows no token");
    for (int i = 0; i < allowedCount; ++i) {
      std::int32_t const id = allowed[i];
      TV_CHECK_INTERNAL(id >= 0 && id < vocab, "allowed token ", id, " outside the vocabulary");
      candidates_.emplace_back(logits[id], id);
    }
  }
  if (greedy()) {
    std::int32_t best = -1;
    float bestValue = -INFINITY;
    auto consider = [&](float v, std::int32_t id) {
      // NaN and -inf never win; ties go to the lowest id.
      if (!usable(v)) return;
      if (v > bestValue || (v == bestValue && (best < 0 || id < best))) {
        bestValue = v;
        best = id;
      }
    };
    if (allowed != nullptr) {
      for (auto const& [v, id] : candidates_) consider(v, id);
    } else {
      for (int id = 0; id < vocab; ++id) consider(logits[id], id);
    }
    if (best < 0) throwNoUsableScores();
    return best;
  }
  // NaN and -inf candidates are dropped before top-k, as greedy skips them (and the sort needs an order).
  if (allowed == nullptr) {
    candidates_.reserve(static_cast<std::size_t>(vocab));
    for (int id = 0; id < vocab; ++id) {
      if (usable(logits[id])) candidates_.emplace_back(logits[id], id);
    }
  } else {
    candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(), [](auto const& c) { return !usable(c.first); }),
                      candidates_.end());
  }
  if (candidates_.empty()) throwNoUsableScores();
  // Descending by logit, ties by id: a deterministic order for top-k / top-p.
  auto const byScore = [](auto const& a, auto const& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  std::size_t keep = candidates_.size();
  if (config_.topK > 0 && static_cast<std::size_t>(config_.topK) < keep) {
    keep = static_cast<std::size_t>(config_.topK);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), byScore);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), byScore);
  }
  candidates_.resize(keep);
  return drawSorted(candidates_.data(), candidates_.size(), draft);
}

std::int32_t Sampler::drawSorted(std::pair<float, std::int32_t> const* candidates, std::size_t count, std::int32_t draft) {
  TV_CHECK_INTERNAL(count > 0, "no sampling candidates");
  // NaN and -inf candidates sort last (the device sorts them there too): they are never drawn.
  while (count > 0 && !usable(candidates[count - 1].first)) --count;
  if (count == 0) throwNoUsableScores();
  double const invT = 1.0 / config_.temperature;
  double const maxLogit = candidates[0].first;
  probs_.resize(count);
  double sum = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    // A +inf maximum is the softmax's limit: the +inf candidates share all the probability, as greedy
    // picks among them (and inf - inf would be NaN).
    probs_[i] = std::isinf(maxLogit) ? (candidates[i].first == maxLogit ? 1.0 : 0.0)
                                     : std::exp((candidates[i].first - maxLogit) * invT);
    sum += probs_[i];
  }
  // Nucleus: the smallest prefix whose probability reaches topP (always at least one token).
  std::size_t nucleus = count;
  if (config_.topP < 1.0) {
    double cumulative = 0.0;
    for (std::size_t i = 0; i < count; ++i) {
      cumulative += probs_[i] / sum;
      if (cumulative >= config_.topP) {
        nucleus = i + 1;
        break;
      }
    }
  }
  double total = 0.0;
  for (std::size_t i = 0; i < nucleus; ++i) total += probs_[i];
  if (draft >= 0) {
    // Deterministic-draft acceptance (vLLM's rejection sampler with draft probability 1; Leviathan et al.
    // 2211.17192 with q a point mass): accept with probability p(draft); otherwise draw from p with the
    // draft's probability zeroed, which together give exactly p.
    std::size_t at = nucleus;
    for (std::size_t i = 0; i < nucleus; ++i) {
      if (candidates[i].second == draft) at = i;
    }
    if (at < nucleus) {
      double const pDraft = probs_[at] / total;
      if (uniform() < pDraft) return draft;
      total -= probs_[at];
      if (!(total > 0.0)) return draft;  // p(draft) rounded below 1 with nothing else left
      probs_[at] = 0.0;
    }
  }
  double target = uniform() * total;
  std::size_t last = nucleus - 1;
  for (std::size_t i = 0; i < nucleus; ++i) {
    if (probs_[i] == 0.0) continue;
    last = i;
    target -= probs_[i];
    if (target < 0.0) return candidates[i].second;
  }
  return candidates[last].second;
}

}  // namespace tv::vla
