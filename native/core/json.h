// A small, strict JSON reader for config files and safetensors headers. Input is untrusted: depth is
// bounded, every read is bounds-checked, and errors name the document and the byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace tv {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const noexcept { return kind_; }
  bool isNull() const noexcept { return kind_ == Kind::kNull; }
  bool isBool() const noexcept { return kind_ == Kind::kBool; }
  bool isNumber() const noexcept { return kind_ == Kind::kNumber; }
  bool isString() const noexcept { return kind_ == Kind::kString; }
  bool isArray() const noexcept { return kind_ == Kind::kArray; }
  bool isObject() const noexcept { return kind_ == Kind::kObject; }
  // True for numbers written without fraction or exponent that fit in int64 exactly.
  bool isInteger() const noexcept { return kind_ == Kind::kNumber && isInteger_; }

  bool boolean() const noexcept { return bool_; }
  double number() const noexcept { return number_; }
  std::int64_t integer() const noexcept { return integer_; }
  std::string const& string() const noexcept { return string_; }
  std::vector<JsonValue> const& items() const noexcept { return items_; }
  std::vector<std::pair<std::string, JsonValue>> const& members() const noexcept { return members_; }

  // The member with this key (first one if repeated), or null.
  JsonValue const* find(std::string_view key) const noexcept;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  bool isInteger_ = false;
  double number_ = 0.0;
  std::int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses a whole document. `what` names it in errors ("config.json"); failures throw tv::Error with
// `code` (ERR_MODEL_LOAD for model files by default).
JsonValue parseJson(std::string_view text, std::string_view what, ErrorCode code = ErrorCode::kModelLoad);

// Reads and parses a file (ERR_MODEL_LOAD when it is missing or malformed).
JsonValue readJsonFile(std::string const& path);

// Typed access to object members with errors that name the document and key, e.g.
// "llm/config.json: expected an integer for 'hidden_size'".
class JsonFields {
 public:
  JsonFields(JsonValue const& object, std::string what, ErrorCode code = ErrorCode::kModelLoad);
  bool has(std::string_view key) const;
  JsonValue const& get(std::string_view key) const;  // throws when missing
  std::int64_t integer(std::string_view key) const;
  std::int64_t integer(std::string_view key, std::int64_t fallback) const;
  double number(std::string_view key) const;
  double number(std::string_view key, double fallback) const;
  // Range-checked reads: an integer (or a finite number) within [min, max], else ERR_MODEL_LOAD naming
  // the document, the key and the range. Callers cast to narrower types only after these checks.
  std::int64_t integerIn(std::string_view key, std::int64_t min, std::int64_t max) const;
  std::int64_t integerIn(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t fallback) const;
  double numberIn(std::string_view key, double min, double max, double fallback) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::string string(std::string_view key) const;
  std::string string(std::string_view key, std::string fallback) const;
  std::vector<std::int64_t> integers(std::string_view key) const;
  JsonFields object(std::string_view key) const;
  std::string const& what() const { return what_; }
  [[noreturn]] void fail(std::string_view key, std::string_view expectation) const;

 private:
  JsonValue const& object_;
  std::string what_;
  ErrorCode code_;
};

}  // namespace tv
