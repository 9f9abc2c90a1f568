// The kinematic drafter of speculative decoding, natively: the port of lib/action/waypointDrafter.ts
// (WaypointDrafter.draft, formatNumberNear, the block parser) and of waypointExtrapolation.ts, so the
// decode loop drafts once per verify call without calling into JavaScript. Everything that needs the
// tokenizer was computed in TypeScript (buildWaypointDrafterSpec, lib/action/waypointDrafterSpec.ts):
// the bytes of the tokens that can occur in the PLANNING block, and the canonical tokens of every
// piece of text between two numbers. Qwen2's pre-tokenizer makes each digit its own pre-token, and
// the pieces start and end on pre-token boundaries, so the canonical tokens of a continuation are the
// pieces' tokens with one token per digit and per "." in between: no BPE here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vla/session.h"

namespace tv::vla {

// How the answer format prints a coordinate (lib/prompt/formats.ts formatCoordinate).
enum class NumberStyle {
  kRound2,  // nuScenes: str(np.round(v, 2)), every zero as "0.0"
  kFixed2,  // q7: f'{v:.2f}', "-0.00" kept
};

// Canonical token ids of one piece of text between two numbers: alone (before a number that is not
// negative, or at the end of the text) and followed by the "-" of a negative number, which the
// pre-tokenizer joins to the piece's last punctuation (" [-", " -").
struct LiteralTokens {
  std::vector<std::int32_t> plain;
  std::vector<std::int32_t> beforeMinus;
};

// Plain data, filled from the JavaScript spec (native/napi/drafter_spec.cc) or by tests; the
// WaypointDrafter constructor validates all of it.
struct WaypointDrafterSpec {
  // The answer format (lib/prompt/formats.ts PlanningFormatSpec), ASCII.
  int waypoints = 0;
  NumberStyle numberStyle = NumberStyle::kRound2;
  std::string openTag;    // "<PLANNING>": the drafter reads the text from its last occurrence on
  std::string preamble;   // starts with openTag
  std::string separator;  // between two waypoints
  std::string closing;    // after the last one

  // The bytes of every token that can occur from the open tag on: ids strictly ascending, token i is
  // tokenBytes[tokenOffsets[i] .. tokenOffsets[i + 1]). Other tokens count as text before the block.
  std::vector<std::int32_t> tokenIds;
  std::vector<std::int32_t> tokenOffsets;
  std::string tokenBytes;

  std::array<std::int32_t, 10> digitTokens{};  // "0" .. "9"
  std::int32_t dotToken = -1;                   // "."
  std::int32_t endTokenId = -1;                 // <|im_end|>, drafted after the closing when the grammar allows it
  LiteralTokens first;    // preamble + "["
  LiteralTokens comma;    // ", " between x and y
  LiteralTokens between;  // "]" + separator + "[" between two waypoints
  std::vector<std::int32_t> closingTokens;  // "]" + closing

  // The ego history's positions (oldest first, ending at the origin) and the status of its last
  // entry: speed (or vx, else 0), ax, ay (absent: 0). Metres, m/s, m/s².
  std::vector<double> pathX;
  std::vector<double> pathY;
  double speed = 0;
  double ax = 0;
  double ay = 0;
};

// Limits of a spec (ERR_INVALID_ARGUMENT beyond): the token table of the Qwen grammars is ~650 tokens
// and ~2.5 KB; these leave room without letting a spec grow without bound.
constexpr int kMaxDrafterTableTokens = 8192;
constexpr int kMaxDrafterTableBytes = 256 * 1024;
constexpr int kMaxDrafterWaypoints = 64;
constexpr int kMaxDrafterPathPoints = 64;
constexpr std::size_t kMaxDrafterLiteralBytes = 4096;

namespace detail {
// The texts between numbers (waypointDrafter.ts literalBefore): before number 0, before an odd (y)
// and an even (x) number, and after the last.
struct DrafterLiterals {
  std::string first;    // preamble + "["
  std::string comma;    // ", "
  std::string between;  // "]" + separator + "["
  std::string closing;  // "]" + closing
  // The literal before number k of `total`; k == total: the closing.
  std::string const& before(int k, int total) const {
    if (k == total) return closing;
    if (k == 0) return first;
    return k % 2 == 1 ? comma : between;
  }
};
}  // namespace detail

class WaypointDrafter final : public Drafter {
 public:
  // Throws ERR_INVALID_ARGUMENT naming the first bad field. The grammar is the request's: drafts are
  // walked through its next() and cut at the first token it rejects.
  WaypointDrafter(WaypointDrafterSpec spec, std::shared_ptr<TokenConstraint const> grammar);

  void draft(std::int32_t const* answer, int count, int state, int maxDraft, std::vector<std::int32_t>& out) const override;

  // The text expected after `written` (the answer text from anywhere before the open tag) to the end
  // of the PLANNING block, or nothing without a guess: predictContinuation of the TypeScript, for tests.
  std::optional<std::string> predictContinuation(std::string_view written) const;

 private:
  struct Piece {
    std::vector<std::int32_t> const* tokens;
    int skipBytes;  // bytes of the piece already written (only the first element of a continuation)
  };
  // Appends the continuation's canonical tokens to `out`, stopping once it holds more than `limit`
  // (the rest cannot be drafted). False when there is no guess or the written text does not end on
  // a token boundary of the canonical tokens. `complete`: every token of the continuation was appended.
  bool continuationTokens(std::string_view body, std::size_t limit, std::vector<std::int32_t>& out, bool& complete) const;
  int tokenIndex(std::int32_t id) const;  // index into tokenIds, -1 when not in the table
  int tokenLength(std::int32_t id) const;

  WaypointDrafterSpec spec_;
  detail::DrafterLiterals literals_;
  std::shared_ptr<TokenConstraint const> grammar_;
};

// The number printing of the drafter, exposed for tests (lib/action/waypointDrafter.ts
// formatNumberNear, lib/prompt/formats.ts formatCoordinate).
std::string formatDrafterCoordinate(double value, NumberStyle style);
std::optional<std::string> formatNumberNear(double value, std::string_view prefix, NumberStyle style);

}  // namespace tv::vla
