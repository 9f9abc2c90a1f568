#include "vla/waypoint_drafter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "core/error.h"

// The TypeScript reference computes in plain IEEE doubles, one rounding per operation: no fused
// multiply-add here either (GCC in ISO mode does not contract; clang would by default).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace tv::vla {

namespace {

// The grammar caps integer parts at three digits (lib/action/grammar.ts).
constexpr double kMaxMagnitude = 999.99;
// lib/action/waypointExtrapolation.ts: STEP_SECONDS, MIN_HEADING_SEGMENT_M.
constexpr double kStepSeconds = 0.5;
constexpr double kMinHeadingSegment = 0.2;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// JavaScript's Number(text) for the texts the block parser and formatNumberNear form (an optional
// "-", digits, an optional "." with digits; never exponents): NaN where Number gives NaN ("", "-",
// "."), infinity beyond the double range.
double jsNumber(std::string_view text) {
  double value = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return text.front() == '-' ? -INFINITY : INFINITY;
  if (ec != std::errc() || end != text.data() + text.size()) return NAN;
  return value;
}

// Math.round: the nearest integer, ties towards +infinity (not away from zero), exact for all doubles.
double jsRound(double x) {
  double r = std::ceil(x);
  if (r - 0.5 > x) r -= 1.0;
  return r;
}

// Math.hypot as V8 computes it (normalised by the larger magnitude, compensated sum of squares),
// which can differ from libm's hypot in the last bit.
double jsHypot(double x, double y) {
  double const a = std::fabs(x);
  double const b = std::fabs(y);
  double const max = a > b ? a : b;
  if (max == INFINITY) return INFINITY;
  if (max == 0) return 0;
  double sum = 0;
  double compensation = 0;
  for (double const n : {a / max, b / max}) {
    double const summand = n * n - compensation;
    double const preliminary = sum + summand;
    compensation = (preliminary - sum) - summand;
    sum = preliminary;
  }
  return std::sqrt(sum) * max;
}

// C rint in the default rounding mode (ties to even), whatever mode the process runs in; the sign of
// zero is kept. lib/prompt/pythonNumbers.ts rint.
double rintEven(double value) {
  double const floor = std::floor(value);
  double const fraction = value - floor;  // exact
  double result;
  if (fraction < 0.5) {
    result = floor;
  } else if (fraction > 0.5) {
    result = floor + 1;
  } else {
    result = std::fmod(floor, 2.0) == 0 ? floor : floor + 1;
  }
  return result == 0 && std::signbit(value) ? -0.0 : result;
}

// Python's repr(float) of a finite value: the shortest round-trip digits, ".0" after integral
// values, scientific notation outside 1e-4 <= |v| < 1e16 (lib/prompt/pythonNumbers.ts pythonFloatRepr).
std::string pythonFloatRepr(double value) {
  std::string const sign = std::signbit(value) ? "-" : "";
  if (value == 0) return sign + "0.0";
  char buffer[64];
  auto const result = std::to_chars(buffer, buffer + sizeof buffer, std::fabs(value), std::chars_format::scientific);
  std::string_view const text(buffer, static_cast<std::size_t>(result.ptr - buffer));  // "1.253e+01", "5e-01"
  std::size_t const e = text.find('e');
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int const exponent = std::atoi(std::string(text.substr(e + 2)).c_str()) * (text[e + 1] == '-' ? -1 : 1);
  if (exponent < -4 || exponent >= 16) {
    std::string const fraction = digits.size() > 1 ? "." + digits.substr(1) : "";
    std::string exponentText = std::to_string(std::abs(exponent));
    if (exponentText.size() < 2) exponentText.insert(0, "0");
    return sign + digits.substr(0, 1) + fraction + "e" + (exponent < 0 ? "-" : "+") + exponentText;
  }
  if (exponent < 0) return sign + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  std::size_t const integerDigits = static_cast<std::size_t>(exponent) + 1;
  if (digits.size() <= integerDigits) return sign + digits + std::string(integerDigits - digits.size(), '0') + ".0";
  return sign + digits.substr(0, integerDigits) + "." + digits.substr(integerDigits);
}

struct Point {
  double x;
  double y;
};

double wrapAngle(double a) { return std::atan2(std::sin(a), std::cos(a)); }

// lib/action/waypointExtrapolation.ts extrapolateNext: the last two segments' speed change and
// heading change repeated once; one point: the status (speed, ax, ay) at it.
Point extrapolateNext(std::vector<Point> const& path, WaypointDrafterSpec const& status) {
  std::size_t const n = path.size();
  Point const last = path[n - 1];
  if (n == 1) {
    double const v = status.speed;
    double const a = status.ax;
    double const yawRate = v > 0.5 ? status.ay / v : 0;
    double const length = std::max(0.0, v * kStepSeconds + 0.5 * a * kStepSeconds * kStepSeconds);
    double const heading = (yawRate * kStepSeconds) / 2;
    return {last.x + length * std::cos(heading), last.y + length * std::sin(heading)};
  }
  Point const prev = path[n - 2];
  double const s2x = last.x - prev.x;
  double const s2y = last.y - prev.y;
  if (n == 2) return {last.x + s2x, last.y + s2y};
  Point const first = path[n - 3];
  double const s1x = prev.x - first.x;
  double const s1y = prev.y - first.y;
  double const l1 = jsHypot(s1x, s1y);
  double const l2 = jsHypot(s2x, s2y);
  double const l3 = std::max(0.0, 2 * l2 - l1);
  if (l3 == 0) return last;
  double const turn =
      l1 >= kMinHeadingSegment && l2 >= kMinHeadingSegment ? wrapAngle(std::atan2(s2y, s2x) - std::atan2(s1y, s1x)) : 0;
  double const heading = (l2 > 0 ? std::atan2(s2y, s2x) : std::atan2(s1y, s1x)) + turn;
  return {last.x + l3 * std::cos(heading), last.y + l3 * std::sin(heading)};
}

// lib/action/waypointExtrapolation.ts predictYGivenX.
double predictYGivenX(Point predicted, Point previous, double writtenX) {
  double const dx = predicted.x - previous.x;
  if (std::fabs(dx) < 0.1) return predicted.y;
  double const scale = (writtenX - previous.x) / dx;
  return scale >= 0.5 && scale <= 2 ? previous.y + (predicted.y - previous.y) * scale : predicted.y;
}

bool startsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Where the writing stands inside the PLANNING block (waypointDrafter.ts BlockPosition).
struct BlockPosition {
  std::vector<double> numbers;                // completed numbers in answer order (x0, y0, x1, ...)
  std::string_view partialNumber;             // what is written of number numbers.size()
  std::optional<std::size_t> partialLiteral;  // bytes written of the literal before it (number not begun)
};

}  // namespace

std::string formatDrafterCoordinate(double value, NumberStyle style) {
  if (style == NumberStyle::kFixed2) {
    // As printf("%.2f") in the C locale: the exact binary value, ties to even, "-0.00" kept, which is
    // what Python's f'{v:.2f}' prints.
    char buffer[64];
    auto const result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 2);
    return std::string(buffer, result.ptr);
  }
  double const rounded = rintEven(value * 100) / 100;  // np.round(v, 2)
  return rounded == 0 ? "0.0" : pythonFloatRepr(rounded);
}

std::optional<std::string> formatNumberNear(double value, std::string_view prefix, NumberStyle style) {
  if (!std::isfinite(value)) return std::nullopt;
  double const clamped = std::max(-kMaxMagnitude, std::min(kMaxMagnitude, value));
  if (prefix.empty()) return formatDrafterCoordinate(clamped, style);
  bool const negative = prefix.front() == '-';
  std::string_view const body = negative ? prefix.substr(1) : prefix;
  // /^\d*(\.\d{0,2})?$/
  std::size_t const dot = body.find('.');
  std::string_view const integer = body.substr(0, dot);
  std::string_view const fraction = dot == std::string_view::npos ? std::string_view() : body.substr(dot + 1);
  if (!std::all_of(integer.begin(), integer.end(), isDigit) || !std::all_of(fraction.begin(), fraction.end(), isDigit) ||
      fraction.size() > 2) {
    return std::nullopt;
  }
  // Magnitudes the prefix still allows, as [lo, hi] intervals (one per integer-part length).
  std::vector<std::pair<double, double>> intervals;
  if (dot != std::string_view::npos) {
    std::string const head = std::string(integer) + "." + std::string(fraction);
    intervals.emplace_back(jsNumber(head + std::string(2 - fraction.size(), '0')), jsNumber(head + std::string(2 - fraction.size(), '9')));
  } else if (body.empty()) {
    intervals = {{0, 9.99}, {10, 99.99}, {100, 999.99}};
  } else if (body == "0") {
    intervals.emplace_back(0, 0.99);
  } else {
    for (std::size_t digits = body.size(); digits <= 3; ++digits) {
      std::string const low = std::string(body) + std::string(digits - body.size(), '0');
      std::string const high = std::string(body) + std::string(digits - body.size(), '9');
      intervals.emplace_back(jsNumber(low), jsNumber(high) + 0.99);
    }
  }
  if (intervals.empty()) return std::nullopt;  // more integer digits than the grammar allows
  double const target = negative ? -clamped : clamped;
  double best = NAN;
  for (auto const& [lo, hi] : intervals) {
    double const m = std::max(lo, std::min(hi, target));
    if (std::isnan(best) || std::fabs(m - target) < std::fabs(best - target)) best = m;
  }
  double const magnitude = jsRound(best * 100) / 100;
  std::string text = formatDrafterCoordinate(negative ? -magnitude : magnitude, style);
  // A negative prefix cannot end in round2's zero ("0.0" has no sign): take the smallest negative.
  if (!startsWith(text, prefix) && negative && magnitude == 0) text = formatDrafterCoordinate(-0.01, style);
  if (!startsWith(text, prefix)) return std::nullopt;
  return text;
}

namespace {

using Literals = detail::DrafterLiterals;

// waypointDrafter.ts blockPosition: parses the text from the open tag on; false when it is not a
// prefix of a PLANNING block.
bool blockPosition(std::string_view body, Literals const& literals, int waypoints, BlockPosition& out) {
  int const total = 2 * waypoints;
  std::size_t pos = 0;
  for (int k = 0; k <= total; ++k) {
    std::string const& literal = literals.before(k, total);
    std::string_view const rest = body.substr(pos);
    if (rest.size() <= literal.size() && startsWith(literal, rest)) {
      out.partialLiteral = rest.size();
      return true;
    }
    if (k == total || !startsWith(rest, literal)) return false;
    pos += literal.size();
    // /-?\d*(?:\.\d*)?/y
    std::size_t end = pos;
    if (end < body.size() && body[end] == '-') ++end;
    while (end < body.size() && isDigit(body[end])) ++end;
    if (end < body.size() && body[end] == '.') {
      ++end;
      while (end < body.size() && isDigit(body[end])) ++end;
    }
    std::string_view const text = body.substr(pos, end - pos);
    pos = end;
    if (pos == body.size()) {
      out.partialNumber = text;
      return true;
    }
    double const value = text.empty() ? NAN : jsNumber(text);
    if (!std::isfinite(value)) return false;
    out.numbers.push_back(value);
  }
  return false;
}

// Walks the continuation of a block position the way waypointDrafter.ts predictContinuation builds
// its text, as events for a sink:
//   sink.literal(k, skipBytes, minus): the literal before number k (k == total: the closing), of
//     which skipBytes are already written, followed by the "-" of a negative number when `minus`;
//   sink.number(text): the rest of a number after its sign and what is written of it;
// each returns false to stop the walk. Returns false when there is no guess (the number being
// written cannot be continued), true otherwise (also when the sink stopped).
template <typename Sink>
bool walkContinuation(WaypointDrafterSpec const& spec, BlockPosition const& position, Sink& sink) {
  int const total = 2 * spec.waypoints;
  std::vector<double> numbers = position.numbers;
  std::vector<Point> path;
  path.reserve(spec.pathX.size() + static_cast<std::size_t>(spec.waypoints));
  for (std::size_t i = 0; i < spec.pathX.size(); ++i) path.push_back({spec.pathX[i], spec.pathY[i]});
  for (std::size_t k = 0; k + 1 < numbers.size(); k += 2) path.push_back({numbers[k], numbers[k + 1]});
  bool first = true;
  for (int k = static_cast<int>(numbers.size()); k < total; ++k) {
    std::string_view const partial = first ? position.partialNumber : std::string_view();
    Point const predicted = extrapolateNext(path, spec);
    double const value = k % 2 == 0 ? predicted.x : predictYGivenX(predicted, path.back(), numbers[static_cast<std::size_t>(k - 1)]);
    std::optional<std::string> const printed = formatNumberNear(value, partial, spec.numberStyle);
    // Only the number being written can fail (the others have no prefix): nothing is guessed then.
    if (!printed) return false;
    bool const minus = printed->front() == '-';
    std::string_view rest = *printed;
    if (first && !position.partialLiteral) {
      rest.remove_prefix(partial.size());  // the literal and the sign are written
    } else {
      if (!sink.literal(k, first ? *position.partialLiteral : 0, minus)) return true;
      if (minus) rest.remove_prefix(1);
    }
    if (!sink.number(rest)) return true;
    first = false;
    numbers.push_back(jsNumber(*printed));
    if (k % 2 == 1) path.push_back({numbers[static_cast<std::size_t>(k - 1)], numbers[static_cast<std::size_t>(k)]});
  }
  sink.literal(total, first && position.partialLiteral ? *position.partialLiteral : 0, false);
  return true;
}

struct TextSink {
  Literals const& literals;
  int total;
  std::string text;
  bool literal(int k, std::size_t skip, bool minus) {
    text += literals.before(k, total).substr(skip);
    if (minus) text += '-';
    return true;
  }
  bool number(std::string_view rest) {
    text += rest;
    return true;
  }
};

}  // namespace

WaypointDrafter::WaypointDrafter(WaypointDrafterSpec spec, std::shared_ptr<TokenConstraint const> grammar)
    : spec_(std::move(spec)),
      literals_{spec_.preamble + "[", ", ", "]" + spec_.separator + "[", "]" + spec_.closing},
      grammar_(std::move(grammar)) {
  WaypointDrafterSpec const& s = spec_;
  TV_CHECK_ARG(grammar_ != nullptr, "drafter spec: the waypoint drafter needs the request's grammar");
  TV_CHECK_ARG(s.waypoints >= 1 && s.waypoints <= kMaxDrafterWaypoints, "drafter spec: waypoints must be between 1 and ",
               kMaxDrafterWaypoints, " but is ", s.waypoints);
  auto printable = [](std::string const& text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  };
  for (auto const& [name, text] : {std::pair<char const*, std::string const&>{"openTag", s.openTag}, {"preamble", s.preamble},
                                   {"separator", s.separator}, {"closing", s.closing}}) {
    TV_CHECK_ARG(text.size() <= kMaxDrafterLiteralBytes && printable(text), "drafter spec: ", name, " must be printable ASCII of at most ",
                 kMaxDrafterLiteralBytes, " bytes");
  }
  TV_CHECK_ARG(!s.openTag.empty() && startsWith(s.preamble, s.openTag), "drafter spec: preamble must start with openTag");

  std::size_t const tokens = s.tokenIds.size();
  TV_CHECK_ARG(tokens >= 1 && tokens <= static_cast<std::size_t>(kMaxDrafterTableTokens), "drafter spec: tokenIds must hold 1 to ",
               kMaxDrafterTableTokens, " tokens but holds ", tokens);
  TV_CHECK_ARG(s.tokenBytes.size() <= static_cast<std::size_t>(kMaxDrafterTableBytes), "drafter spec: tokenBytes must hold at most ",
               kMaxDrafterTableBytes, " bytes but holds ", s.tokenBytes.size());
  TV_CHECK_ARG(s.tokenOffsets.size() == tokens + 1 && s.tokenOffsets.front() == 0 &&
                   static_cast<std::size_t>(s.tokenOffsets.back()) == s.tokenBytes.size(),
               "drafter spec: tokenOffsets must have tokenIds.length + 1 entries from 0 to tokenBytes.length");
  for (std::size_t i = 0; i < tokens; ++i) {
    TV_CHECK_ARG(s.tokenIds[i] >= 0 && (i == 0 || s.tokenIds[i] > s.tokenIds[i - 1]),
                 "drafter spec: tokenIds must be non-negative and strictly ascending (at index ", i, ")");
    TV_CHECK_ARG(s.tokenOffsets[i + 1] > s.tokenOffsets[i], "drafter spec: token ", s.tokenIds[i], " has no bytes (tokenOffsets must increase)");
  }

  // Every token the drafter emits must be in the table and spell exactly its piece of text.
  auto spell = [&](std::vector<std::int32_t> const& ids) {
    std::string text;
    for (std::int32_t id : ids) {
      int const i = tokenIndex(id);
      TV_CHECK_ARG(i >= 0, "drafter spec: token ", id, " of a literal is not in tokenIds");
      text.append(s.tokenBytes, static_cast<std::size_t>(s.tokenOffsets[static_cast<std::size_t>(i)]),
                  static_cast<std::size_t>(s.tokenOffsets[static_cast<std::size_t>(i) + 1] - s.tokenOffsets[static_cast<std::size_t>(i)]));
    }
    return text;
  };
  for (int d = 0; d < 10; ++d) {
    TV_CHECK_ARG(spell({s.digitTokens[static_cast<std::size_t>(d)]}) == std::string(1, static_cast<char>('0' + d)),
                 "drafter spec: digitTokens[", d, "] must be the token of \"", d, "\"");
  }
  TV_CHECK_ARG(spell({s.dotToken}) == ".", "drafter spec: dotToken must be the token of \".\"");
  Literals const& literals = literals_;
  auto checkPiece = [&](std::vector<std::int32_t> const& ids, std::string const& text, char const* name) {
    TV_CHECK_ARG(!ids.empty() && spell(ids) == text, "drafter spec: the tokens of ", name, " must spell \"", text, "\"");
  };
  checkPiece(s.first.plain, literals.first, "literalTokens.first");
  checkPiece(s.first.beforeMinus, literals.first + "-", "literalTokens.firstMinus");
  checkPiece(s.comma.plain, literals.comma, "literalTokens.comma");
  checkPiece(s.comma.beforeMinus, literals.comma + "-", "literalTokens.commaMinus");
  checkPiece(s.between.plain, literals.between, "literalTokens.between");
  checkPiece(s.between.beforeMinus, literals.between + "-", "literalTokens.betweenMinus");
  checkPiece(s.closingTokens, literals.closing, "literalTokens.closing");
  TV_CHECK_ARG(s.endTokenId >= 0, "drafter spec: endTokenId must be a token id");

  TV_CHECK_ARG(!s.pathX.empty() && s.pathX.size() == s.pathY.size() && s.pathX.size() <= static_cast<std::size_t>(kMaxDrafterPathPoints),
               "drafter spec: path must hold 1 to ", kMaxDrafterPathPoints, " points");
  // Bounds far beyond any vehicle (the history validator allows 1000 m, 150 m/s, 100 m/s²) that keep
  // every intermediate of the extrapolation finite.
  for (std::size_t i = 0; i < s.pathX.size(); ++i) {
    TV_CHECK_ARG(std::isfinite(s.pathX[i]) && std::isfinite(s.pathY[i]) && std::fabs(s.pathX[i]) <= 1e4 && std::fabs(s.pathY[i]) <= 1e4,
                 "drafter spec: path point ", i, " must be finite metres within 10 km");
  }
  for (auto const& [name, value] : {std::pair<char const*, double>{"speed", s.speed}, {"ax", s.ax}, {"ay", s.ay}}) {
    TV_CHECK_ARG(std::isfinite(value) && std::fabs(value) <= 1e3, "drafter spec: ", name, " must be a finite number within 1000");
  }
}

int WaypointDrafter::tokenIndex(std::int32_t id) const {
  auto const it = std::lower_bound(spec_.tokenIds.begin(), spec_.tokenIds.end(), id);
  return it != spec_.tokenIds.end() && *it == id ? static_cast<int>(it - spec_.tokenIds.begin()) : -1;
}

int WaypointDrafter::tokenLength(std::int32_t id) const {
  std::size_t const i = static_cast<std::size_t>(tokenIndex(id));  // validated to be in the table
  return spec_.tokenOffsets[i + 1] - spec_.tokenOffsets[i];
}

std::optional<std::string> WaypointDrafter::predictContinuation(std::string_view written) const {
  std::size_t const start = written.rfind(spec_.openTag);
  if (start == std::string_view::npos) return std::nullopt;
  BlockPosition position;
  if (!blockPosition(written.substr(start), literals_, spec_.waypoints, position)) return std::nullopt;
  TextSink sink{literals_, 2 * spec_.waypoints, {}};
  if (!walkContinuation(spec_, position, sink)) return std::nullopt;
  return sink.text;
}

bool WaypointDrafter::continuationTokens(std::string_view body, std::size_t limit, std::vector<std::int32_t>& out, bool& complete) const {
  BlockPosition position;
  if (!blockPosition(body, literals_, spec_.waypoints, position)) return false;
  int const total = 2 * spec_.waypoints;
  struct TokenSink {
    WaypointDrafter const& self;
    int total;
    std::size_t limit;
    std::vector<std::int32_t>& out;
    bool aligned = true;
    bool literal(int k, std::size_t skip, bool minus) {
      WaypointDrafterSpec const& s = self.spec_;
      LiteralTokens const& piece = k == 0 ? s.first : k % 2 == 1 ? s.comma : s.between;
      std::vector<std::int32_t> const& ids = k == total ? s.closingTokens : minus ? piece.beforeMinus : piece.plain;
      // Skip the tokens of what is written; the canonical tokens must have a boundary where it ends,
      // or the draft would re-tokenize text the model has already committed.
      std::size_t i = 0;
      std::size_t covered = 0;
      while (covered < skip && i < ids.size()) covered += static_cast<std::size_t>(self.tokenLength(ids[i++]));
      if (covered != skip) {
        aligned = false;
        return false;
      }
      out.insert(out.end(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids.end());
      return out.size() <= limit;
    }
    bool number(std::string_view rest) {
      for (char c : rest) {
        if (c != '.' && !isDigit(c)) {  // not a format's number (never printed for |v| <= 999.99)
          aligned = false;
          return false;
        }
        out.push_back(c == '.' ? self.spec_.dotToken : self.spec_.digitTokens[static_cast<std::size_t>(c - '0')]);
      }
      return out.size() <= limit;
    }
  } sink{*this, total, limit, out};
  if (!walkContinuation(spec_, position, sink) || !sink.aligned) return false;
  complete = out.size() <= limit;
  return true;
}

void WaypointDrafter::draft(std::int32_t const* answer, int count, int state, int maxDraft, std::vector<std::int32_t>& out) const {
  if (maxDraft <= 0 || count < 0 || (count > 0 && answer == nullptr)) return;
  // The text written since the last token outside the table (such tokens precede the block).
  int begin = count;
  while (begin > 0 && tokenIndex(answer[begin - 1]) >= 0) --begin;
  std::string written;
  for (int i = begin; i < count; ++i) {
    std::size_t const t = static_cast<std::size_t>(tokenIndex(answer[i]));
    written.append(spec_.tokenBytes, static_cast<std::size_t>(spec_.tokenOffsets[t]),
                   static_cast<std::size_t>(spec_.tokenOffsets[t + 1] - spec_.tokenOffsets[t]));
  }
  std::size_t const start = written.rfind(spec_.openTag);
  if (start == std::string::npos) return;

  std::vector<std::int32_t> tokens;
  tokens.reserve(static_cast<std::size_t>(maxDraft) + 16);
  bool complete = false;
  if (!continuationTokens(std::string_view(written).substr(start), static_cast<std::size_t>(maxDraft), tokens, complete)) return;
  if (tokens.empty()) return;  // the block is written to its end: nothing to guess
  int s = state;
  int drafted = 0;
  std::size_t at = 0;
  for (; at < tokens.size() && drafted < maxDraft; ++at) {
    s = grammar_->next(s, tokens[at]);
    if (s < 0) return;
    out.push_back(tokens[at]);
    ++drafted;
  }
  // The guess reaches the end of the answer: the end-of-turn token is the grammar's only choice.
  if (complete && at == tokens.size() && drafted < maxDraft && grammar_->next(s, spec_.endTokenId) >= 0) out.push_back(spec_.endTokenId);
}

}  // namespace tv::vla
