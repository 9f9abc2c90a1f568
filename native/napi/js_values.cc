#include "napi/js_values.h"

#include <cmath>

#include "core/error.h"

namespace tv::napi {

Napi::Object requireObject(Napi::Value value, char const* what) {
  TV_CHECK_ARG(value.IsObject() && !value.IsArray(), "Expected an object for ", what);
  return value.As<Napi::Object>();
}

std::string requireString(Napi::Object const& object, char const* key) {
  Napi::Value v = object.Get(key);
  TV_CHECK_ARG(v.IsString(), "Expected a string for ", key);
  return v.As<Napi::String>().Utf8Value();
}

std::string optionalString(Napi::Object const& object, char const* key, std::string fallback) {
  Napi::Value v = object.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  TV_CHECK_ARG(v.IsString(), "Expected a string for ", key);
  return v.As<Napi::String>().Utf8Value();
}

std::int64_t optionalInteger(Napi::Object const& object, char const* key, std::int64_t fallback, std::int64_t min,
                             std::int64_t max) {
  Napi::Value v = object.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  TV_CHECK_ARG(v.IsNumber(), "Expected an integer for ", key);
  double const d = v.As<Napi::Number>().DoubleValue();
  TV_CHECK_ARG(std::floor(d) == d && d >= static_cast<double>(min) && d <= static_cast<double>(max), "Expected an integer between ",
               min, " and ", max, " for ", key, " but received ", d);
  return static_cast<std::int64_t>(d);
}

double optionalNumber(Napi::Object const& object, char const* key, double fallback) {
  Napi::Value v = object.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  TV_CHECK_ARG(v.IsNumber() && std::isfinite(v.As<Napi::Number>().DoubleValue()), "Expected a finite number for ", key);
  return v.As<Napi::Number>().DoubleValue();
}

bool optionalBoolean(Napi::Object const& object, char const* key, bool fallback) {
  Napi::Value v = object.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  TV_CHECK_ARG(v.IsBoolean(), "Expected a boolean for ", key);
  return v.As<Napi::Boolean>().Value();
}

std::vector<std::string> optionalStringArray(Napi::Object const& object, char const* key) {
  Napi::Value v = object.Get(key);
  if (v.IsUndefined() || v.IsNull()) return {};
  TV_CHECK_ARG(v.IsArray(), "Expected an array of strings for ", key);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value item = a.Get(i);
    TV_CHECK_ARG(item.IsString(), "Expected an array of strings for ", key);
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<std::string> requireStringArray(Napi::Object const& object, char const* key) {
  TV_CHECK_ARG(object.Get(key).IsArray(), "Expected an array of strings for ", key);
  return optionalStringArray(object, key);
}

std::vector<std::int64_t> requireIntegerArray(Napi::Value value, char const* what) {
  TV_CHECK_ARG(value.IsArray(), "Expected an array of integers for ", what);
  Napi::Array a = value.As<Napi::Array>();
  std::vector<std::int64_t> out;
  for (std::uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value item = a.Get(i);
    TV_CHECK_ARG(item.IsNumber(), "Expected an array of integers for ", what);
    double const d = item.As<Napi::Number>().DoubleValue();
    TV_CHECK_ARG(std::floor(d) == d && std::fabs(d) < 9.007199254740992e15, "Expected an array of integers for ", what);
    out.push_back(static_cast<std::int64_t>(d));
  }
  return out;
}

}  // namespace tv::napi
