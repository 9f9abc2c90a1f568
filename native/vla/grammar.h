// The answer grammar's token automaton (format version 1 of lib/action/grammarAutomaton.ts, whose
// header documents the arrays), held natively so the decode loop can apply it each step.
#pragma once

#include <cstdint>
#include <vector>

#include "vla/session.h"

namespace tv::vla {

struct GrammarArrays {
  int numStates = 0;
  int start = 0;
  int textVocabSize = 0;
  int vocabSize = 0;
  std::vector<std::uint8_t> kind;  // 0 = list, 1 = free text
  std::vector<std::uint8_t> accepting;
  std::vector<std::int32_t> transOffsets, transTokens, transNext, defaultNext, fallback;
  std::vector<std::int32_t> forcedOffsets, forcedTokens, forcedEnd;
};

class GrammarConstraint final : public TokenConstraint {
 public:
  // Validates every index (ERR_INVALID_ARGUMENT): the arrays come from JavaScript.
  explicit GrammarConstraint(GrammarArrays arrays);

  int startState() const override { return a_.start; }
  bool accepting(int state) const override { return a_.accepting[static_cast<std::size_t>(state)] != 0; }
  bool restrict(int state, std::vector<std::int32_t>& allowed, float* logits, int vocab) const override;
  bool allowedList(int state, std::vector<std::int32_t>& allowed) const override;
  int next(int state, std::int32_t token) const override;
  void forcedRun(int state, std::vector<std::int32_t>& out, int& endState) const override;
  int vocabSize() const { return a_.vocabSize; }

 private:
  // Index into trans* of token in state's list, or -1.
  int find(int state, std::int32_t token) const;

  GrammarArrays a_;
};

}  // namespace tv::vla
