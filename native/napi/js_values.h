// Reading plain JS option objects in native code. lib/ validates user input first (one message
// template); these re-checks only guard native memory and give ERR_INVALID_ARGUMENT on misuse.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tv::napi {

Napi::Object requireObject(Napi::Value value, char const* what);
std::string requireString(Napi::Object const& object, char const* key);
std::string optionalString(Napi::Object const& object, char const* key, std::string fallback);
std::int64_t optionalInteger(Napi::Object const& object, char const* key, std::int64_t fallback, std::int64_t min,
                             std::int64_t max);
double optionalNumber(Napi::Object const& object, char const* key, double fallback);
bool optionalBoolean(Napi::Object const& object, char const* key, bool fallback);
std::vector<std::string> requireStringArray(Napi::Object const& object, char const* key);
std::vector<std::string> optionalStringArray(Napi::Object const& object, char const* key);
std::vector<std::int64_t> requireIntegerArray(Napi::Value value, char const* what);

}  // namespace tv::napi
