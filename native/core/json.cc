#include "core/json.h"

#include "core/loaded_file.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tv {

namespace {
constexpr int kMaxDepth = 64;
// Config files are a few KB; tokenizer.json, the largest JSON of a bundle, is about 7 MB.
constexpr std::size_t kMaxJsonFileBytes = 64 << 20;

std::string formatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

class JsonParser {
 public:
  JsonParser(std::string_view text, std::string_view what, ErrorCode code) : text_(text), what_(what), code_(code) {}

  JsonValue parseDocument() {
    JsonValue value = parseValue(0);
    skipSpace();
    if (pos_ != text_.size()) fail("unexpected characters after the document");
    return value;
  }

 private:
  [[noreturn]] void fail(std::string_view message) const {
    TV_THROW(code_, what_, ": invalid JSON at byte ", pos_, ": ", message);
  }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void expectLiteral(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) fail("unknown literal");
    pos_ += literal.size();
  }

  JsonValue parseValue(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skipSpace();
    if (pos_ >= text_.size()) fail("unexpected end of input");
    JsonValue value;
    char const c = text_[pos_];
    if (c == '{') {
      value.kind_ = JsonValue::Kind::kObject;
      ++pos_;
      skipSpace();
      if (peek() == '}') {
        ++pos_;
        return value;
      }
      for (;;) {
        skipSpace();
        if (peek() != '"') fail("expected a string key");
        std::string key = parseString();
        skipSpace();
        if (peek() != ':') fail("expected ':'");
        ++pos_;
        JsonValue member = parseValue(depth + 1);
        value.members_.emplace_back(std::move(key), std::move(member));
        skipSpace();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == '}') {
          ++pos_;
          return value;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      value.kind_ = JsonValue::Kind::kArray;
      ++pos_;
      skipSpace();
      if (peek() == ']') {
        ++pos_;
        return value;
      }
      for (;;) {
        value.items_.push_back(parseValue(depth + 1));
        skipSpace();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == ']') {
          ++pos_;
          return value;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      value.kind_ = JsonValue::Kind::kString;
      value.string_ = parseString();
      return value;
    }
    if (c == 't') {
      expectLiteral("true");
      value.kind_ = JsonValue::Kind::kBool;
      value.bool_ = true;
      return value;
    }
    if (c == 'f') {
      expectLiteral("false");
      value.kind_ = JsonValue::Kind::kBool;
      return value;
    }
    if (c == 'n') {
      expectLiteral("null");
      return value;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber();
    fail("unexpected character");
  }

  JsonValue parseNumber() {
    std::size_t const start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    std::string const digits(text_.substr(start, pos_ - start));
    JsonValue value;
    value.kind_ = JsonValue::Kind::kNumber;
    value.number_ = std::strtod(digits.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long const parsed = std::strtoll(digits.c_str(), nullptr, 10);
      if (errno == 0) {
        value.isInteger_ = true;
        value.integer_ = parsed;
      }
    } else if (std::isfinite(value.number_) && value.number_ == std::floor(value.number_) &&
               std::fabs(value.number_) < 9.007199254740992e15) {
      // 1.0 or 2e3 still count as integers for config fields (Python writes some ints as floats).
      value.isInteger_ = true;
      value.integer_ = static_cast<std::int64_t>(value.number_);
    }
    return value;
  }

  static void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::uint32_t parseHex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    std::uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char const h = text_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return cp;
  }

  std::string parseString() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char const c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) fail("unterminated escape");
      char const e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = parseHex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") fail("unpaired surrogate");
            pos_ += 2;
            std::uint32_t const low = parseHex4();
            if (low < 0xdc00 || low > 0xdfff) fail("invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            fail("unpaired surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default: fail("invalid escape");
      }
    }
  }

  std::string_view text_;
  std::string_view what_;
  ErrorCode code_;
  std::size_t pos_ = 0;
};

JsonValue const* JsonValue::find(std::string_view key) const noexcept {
  for (auto const& [name, value] : members_) {
    if (name == key) return &value;
  }
  return nullptr;
}

JsonValue parseJson(std::string_view text, std::string_view what, ErrorCode code) {
  return JsonParser(text, what, code).parseDocument();
}

JsonValue readJsonFile(std::string const& path) { return parseJson(readSmallFile(path, kMaxJsonFileBytes), path); }

JsonFields::JsonFields(JsonValue const& object, std::string what, ErrorCode code)
    : object_(object), what_(std::move(what)), code_(code) {
  TV_CHECK(object.isObject(), code_, what_, ": expected a JSON object");
}

void JsonFields::fail(std::string_view key, std::string_view expectation) const {
  TV_THROW(code_, what_, ": expected ", expectation, " for '", key, "'");
}

bool JsonFields::has(std::string_view key) const {
  JsonValue const* v = object_.find(key);
  return v != nullptr && !v->isNull();
}

JsonValue const& JsonFields::get(std::string_view key) const {
  JsonValue const* v = object_.find(key);
  if (v == nullptr || v->isNull()) fail(key, "a value (missing)");
  return *v;
}

std::int64_t JsonFields::integer(std::string_view key) const {
  JsonValue const& v = get(key);
  if (!v.isInteger()) fail(key, "an integer");
  return v.integer();
}

std::int64_t JsonFields::integer(std::string_view key, std::int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

double JsonFields::number(std::string_view key) const {
  JsonValue const& v = get(key);
  if (!v.isNumber()) fail(key, "a number");
  return v.number();
}

double JsonFields::number(std::string_view key, double fallback) const { return has(key) ? number(key) : fallback; }

std::int64_t JsonFields::integerIn(std::string_view key, std::int64_t min, std::int64_t max) const {
  JsonValue const& v = get(key);
  if (!v.isInteger() || v.integer() < min || v.integer() > max) {
    fail(key, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]" +
                  (v.isNumber() ? ", got " + (v.isInteger() ? std::to_string(v.integer()) : formatNumber(v.number())) : std::string()));
  }
  return v.integer();
}

std::int64_t JsonFields::integerIn(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t fallback) const {
  return has(key) ? integerIn(key, min, max) : fallback;
}

double JsonFields::numberIn(std::string_view key, double min, double max, double fallback) const {
  if (!has(key)) return fallback;
  double const v = number(key);
  // NaN fails both comparisons; infinities fail the range.
  if (!(v >= min && v <= max)) {
    fail(key, "a finite number in [" + formatNumber(min) + ", " + formatNumber(max) + "], got " + formatNumber(v));
  }
  return v;
}

bool JsonFields::boolean(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  JsonValue const& v = get(key);
  if (!v.isBool()) fail(key, "true or false");
  return v.boolean();
}

std::string JsonFields::string(std::string_view key) const {
  JsonValue const& v = get(key);
  if (!v.isString()) fail(key, "a string");
  return v.string();
}

std::string JsonFields::string(std::string_view key, std::string fallback) const {
  return has(key) ? string(key) : fallback;
}

std::vector<std::int64_t> JsonFields::integers(std::string_view key) const {
  JsonValue const& v = get(key);
  if (!v.isArray()) fail(key, "an array of integers");
  std::vector<std::int64_t> out;
  out.reserve(v.items().size());
  for (JsonValue const& item : v.items()) {
    if (!item.isInteger()) fail(key, "an array of integers");
    out.push_back(item.integer());
  }
  return out;
}

JsonFields JsonFields::object(std::string_view key) const {
  JsonValue const& v = get(key);
  if (!v.isObject()) fail(key, "an object");
  return JsonFields(v, what_ + " ." + std::string(key), code_);
}

}  // namespace tv
