#include "vla/grammar.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tv::vla {

namespace {
constexpr std::uint8_t kList = 0;
constexpr std::uint8_t kFree = 1;

void checkOffsets(std::vector<std::int32_t> const& offsets, std::size_t states, std::size_t total, char const* name) {
  TV_CHECK_ARG(offsets.size() == states + 1 && offsets.front() == 0 && static_cast<std::size_t>(offsets.back()) == total,
               "grammar: ", name, " must have numStates + 1 entries from 0 to the list length");
  for (std::size_t i = 1; i < offsets.size(); ++i) TV_CHECK_ARG(offsets[i] >= offsets[i - 1], "grammar: ", name, " must not decrease");
}
}  // namespace

GrammarConstraint::GrammarConstraint(GrammarArrays arrays) : a_(std::move(arrays)) {
  std::size_t const n = static_cast<std::size_t>(a_.numStates);
  TV_CHECK_ARG(a_.numStates > 0 && a_.start >= 0 && a_.start < a_.numStates, "grammar: invalid start state");
  TV_CHECK_ARG(a_.vocabSize > 0 && a_.textVocabSize > 0 && a_.textVocabSize <= a_.vocabSize, "grammar: invalid vocabulary sizes");
  TV_CHECK_ARG(a_.kind.size() == n && a_.accepting.size() == n && a_.defaultNext.size() == n && a_.fallback.size() == n &&
                   a_.forcedEnd.size() == n,
               "grammar: per-state arrays must have numStates entries");
  checkOffsets(a_.transOffsets, n, a_.transTokens.size(), "transOffsets");
  checkOffsets(a_.forcedOffsets, n, a_.forcedTokens.size(), "forcedOffsets");
  TV_CHECK_ARG(a_.transNext.size() == a_.transTokens.size(), "grammar: transNext must match transTokens");
  auto state = [&](std::int32_t s, bool allowNone) { return (allowNone && s == -1) || (s >= 0 && s < a_.numStates); };
  for (std::size_t s = 0; s < n; ++s) {
    TV_CHECK_ARG(a_.kind[s] == kList || a_.kind[s] == kFree, "grammar: unknown state kind ", int{a_.kind[s]});
    TV_CHECK_ARG(state(a_.defaultNext[s], true) && state(a_.fallback[s], true) && state(a_.forcedEnd[s], false),
                 "grammar: state index out of range in state ", s);
    for (std::int32_t i = a_.transOffsets[s] + 1; i < a_.transOffsets[s + 1]; ++i) {
      TV_CHECK_ARG(a_.transTokens[static_cast<std::size_t>(i)] > a_.transTokens[static_cast<std::size_t>(i - 1)],
                   "grammar: the tokens of state ", s, " must be strictly ascending");
    }
  }
  for (std::size_t i = 0; i < a_.transTokens.size(); ++i) {
    TV_CHECK_ARG(a_.transTokens[i] >= 0 && a_.transTokens[i] < a_.vocabSize, "grammar: token id out of range");
    TV_CHECK_ARG(state(a_.transNext[i], true), "grammar: next state out of range");
  }
  for (std::int32_t t : a_.forcedTokens) TV_CHECK_ARG(t >= 0 && t < a_.vocabSize, "grammar: forced token out of range");
}

int GrammarConstraint::find(int state, std::int32_t token) const {
  auto const begin = a_.transTokens.begin() + a_.transOffsets[static_cast<std::size_t>(state)];
  auto const end = a_.transTokens.begin() + a_.transOffsets[static_cast<std::size_t>(state) + 1];
  auto const it = std::lower_bound(begin, end, token);
  return it != end && *it == token ? static_cast<int>(it - a_.transTokens.begin()) : -1;
}

int GrammarConstraint::next(int state, std::int32_t token) const {
  if (state < 0 || state >= a_.numStates || token < 0 || token >= a_.vocabSize) return -1;
  int const i = find(state, token);
  if (i >= 0) return a_.transNext[static_cast<std::size_t>(i)];
  if (a_.kind[static_cast<std::size_t>(state)] != kFree) return -1;
  int const fb = a_.fallback[static_cast<std::size_t>(state)];
  if (fb >= 0) {
    int const j = find(fb, token);
    if (j >= 0) return a_.transNext[static_cast<std::size_t>(j)];
  }
  return token < a_.textVocabSize ? a_.defaultNext[static_cast<std::size_t>(state)] : -1;
}

bool GrammarConstraint::allowedList(int state, std::vector<std::int32_t>& allowed) const {
  if (a_.kind[static_cast<std::size_t>(state)] == kFree) return false;
  allowed.assign(a_.transTokens.begin() + a_.transOffsets[static_cast<std::size_t>(state)],
                 a_.transTokens.begin() + a_.transOffsets[static_cast<std::size_t>(state) + 1]);
  return true;
}

bool GrammarConstraint::restrict(int state, std::vector<std::int32_t>& allowed, float* logits, int vocab) const {
  if (allowedList(state, allowed)) return true;
  // Free text: deny what the lists deny, and every added token that no list allows.
  int const limit = std::min(vocab, a_.vocabSize);
  for (int id = a_.textVocabSize; id < limit; ++id) {
    if (next(state, id) < 0) logits[id] = -INFINITY;
  }
  for (int s : {a_.fallback[static_cast<std::size_t>(state)], state}) {
    if (s < 0) continue;
    for (std::int32_t i = a_.transOffsets[static_cast<std::size_t>(s)]; i < a_.transOffsets[static_cast<std::size_t>(s) + 1]; ++i) {
      std::int32_t const token = a_.transTokens[static_cast<std::size_t>(i)];
      if (token < limit && next(state, token) < 0) logits[token] = -INFINITY;
    }
  }
  for (int id = limit; id < vocab; ++id) logits[id] = -INFINITY;  // padded embedding rows
  return false;
}

void GrammarConstraint::forcedRun(int state, std::vector<std::int32_t>& out, int& endState) const {
  out.assign(a_.forcedTokens.begin() + a_.forcedOffsets[static_cast<std::size_t>(state)],
             a_.forcedTokens.begin() + a_.forcedOffsets[static_cast<std::size_t>(state) + 1]);
  endState = a_.forcedEnd[static_cast<std::size_t>(state)];
}

}  // namespace tv::vla
