#include "napi/drafter_spec.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "napi/js_values.h"
#include "vla/waypoint_drafter.h"

namespace tv::napi {

namespace {

constexpr int kDrafterSpecVersion = 1;

Napi::Value field(Napi::Object const& object, char const* key) {
  Napi::Value v = object.Get(key);
  TV_CHECK_ARG(!v.IsUndefined(), "drafter spec: missing field ", key);
  return v;
}

std::int32_t requireInt(Napi::Object const& object, char const* key, double min, double max) {
  Napi::Value v = field(object, key);
  double const d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  TV_CHECK_ARG(std::floor(d) == d && d >= min && d <= max, "drafter spec: expected an integer between ", min, " and ", max, " for ", key);
  return static_cast<std::int32_t>(d);
}

double requireFinite(Napi::Object const& object, char const* key) {
  Napi::Value v = field(object, key);
  TV_CHECK_ARG(v.IsNumber() && std::isfinite(v.As<Napi::Number>().DoubleValue()), "drafter spec: expected a finite number for ", key);
  return v.As<Napi::Number>().DoubleValue();
}

std::string requireText(Napi::Object const& object, char const* key) {
  Napi::Value v = field(object, key);
  TV_CHECK_ARG(v.IsString(), "drafter spec: expected a string for ", key);
  // Bounded before converting: the drafter's own check (printable ASCII, kMaxDrafterLiteralBytes) follows.
  std::size_t length = 0;
  napi_get_value_string_utf16(v.Env(), v, nullptr, 0, &length);
  TV_CHECK_ARG(length <= vla::kMaxDrafterLiteralBytes, "drafter spec: ", key, " is longer than ", vla::kMaxDrafterLiteralBytes, " characters");
  return v.As<Napi::String>().Utf8Value();
}

// The elements of a typed array of exactly `type`, at most maxLength of them.
template <typename T>
std::vector<T> requireTyped(Napi::Object const& object, char const* key, napi_typedarray_type type, char const* typeName,
                            std::size_t maxLength) {
  Napi::Value v = field(object, key);
  TV_CHECK_ARG(v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type, "drafter spec: expected a ", typeName, " for ",
               key);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  TV_CHECK_ARG(t.ElementLength() <= maxLength, "drafter spec: ", key, " holds ", t.ElementLength(), " elements, more than ", maxLength);
  if (t.ElementLength() == 0) return {};
  auto const* data = reinterpret_cast<T const*>(static_cast<std::uint8_t const*>(t.ArrayBuffer().Data()) + t.ByteOffset());
  return std::vector<T>(data, data + t.ElementLength());
}

std::vector<std::int32_t> requireIds(Napi::Object const& object, char const* key, std::size_t maxLength) {
  return requireTyped<std::int32_t>(object, key, napi_int32_array, "Int32Array", maxLength);
}

}  // namespace

std::shared_ptr<vla::Drafter const> parseDrafterSpec(Napi::Value value, std::shared_ptr<vla::TokenConstraint const> grammar) {
  TV_CHECK_ARG(value.IsObject() && !value.IsArray(), "Expected an object for the drafter spec (buildWaypointDrafterSpec)");
  Napi::Object o = value.As<Napi::Object>();
  TV_CHECK_ARG(requireInt(o, "version", 0, 1e6) == kDrafterSpecVersion, "drafter spec: unsupported version (expected ",
               kDrafterSpecVersion, ")");
  vla::WaypointDrafterSpec spec;
  spec.waypoints = requireInt(o, "waypoints", 1, vla::kMaxDrafterWaypoints);
  std::string const style = requireText(o, "numberStyle");
  TV_CHECK_ARG(style == "round2" || style == "fixed2", "drafter spec: numberStyle must be 'round2' or 'fixed2'");
  spec.numberStyle = style == "round2" ? vla::NumberStyle::kRound2 : vla::NumberStyle::kFixed2;
  spec.openTag = requireText(o, "openTag");
  spec.preamble = requireText(o, "preamble");
  spec.separator = requireText(o, "separator");
  spec.closing = requireText(o, "closing");

  std::size_t const maxTokens = static_cast<std::size_t>(vla::kMaxDrafterTableTokens);
  spec.tokenIds = requireIds(o, "tokenIds", maxTokens);
  spec.tokenOffsets = requireIds(o, "tokenOffsets", maxTokens + 1);
  std::vector<std::uint8_t> const bytes =
      requireTyped<std::uint8_t>(o, "tokenBytes", napi_uint8_array, "Uint8Array", static_cast<std::size_t>(vla::kMaxDrafterTableBytes));
  spec.tokenBytes.assign(bytes.begin(), bytes.end());
  std::vector<std::int32_t> const digits = requireIds(o, "digitTokens", 10);
  TV_CHECK_ARG(digits.size() == 10, "drafter spec: digitTokens must hold the tokens of the 10 digits");
  std::copy(digits.begin(), digits.end(), spec.digitTokens.begin());
  spec.dotToken = requireInt(o, "dotToken", 0, 2147483647.0);
  spec.endTokenId = requireInt(o, "endTokenId", 0, 2147483647.0);

  Napi::Value literalsValue = field(o, "literalTokens");
  TV_CHECK_ARG(literalsValue.IsObject() && !literalsValue.IsArray(), "drafter spec: expected an object for literalTokens");
  Napi::Object literals = literalsValue.As<Napi::Object>();
  std::size_t const maxPiece = vla::kMaxDrafterLiteralBytes + 2;  // a token holds at least one byte
  spec.first = {requireIds(literals, "first", maxPiece), requireIds(literals, "firstMinus", maxPiece)};
  spec.comma = {requireIds(literals, "comma", maxPiece), requireIds(literals, "commaMinus", maxPiece)};
  spec.between = {requireIds(literals, "between", maxPiece), requireIds(literals, "betweenMinus", maxPiece)};
  spec.closingTokens = requireIds(literals, "closing", maxPiece);

  std::vector<double> const path =
      requireTyped<double>(o, "path", napi_float64_array, "Float64Array", 2 * static_cast<std::size_t>(vla::kMaxDrafterPathPoints));
  TV_CHECK_ARG(!path.empty() && path.size() % 2 == 0, "drafter spec: path must hold x, y pairs of at least one point");
  for (std::size_t i = 0; i < path.size(); i += 2) {
    spec.pathX.push_back(path[i]);
    spec.pathY.push_back(path[i + 1]);
  }
  spec.speed = requireFinite(o, "speed");
  spec.ax = requireFinite(o, "ax");
  spec.ay = requireFinite(o, "ay");
  return std::make_shared<vla::WaypointDrafter const>(std::move(spec), std::move(grammar));
}

}  // namespace tv::napi
