// libFuzzer harness: the JSON reader (native/core/json.cc) on arbitrary bytes, then every typed
// accessor of JsonFields on the result. Any outcome but a value or a tv::Error is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/json.h"

namespace {

void visit(tv::JsonValue const& v, int depth) {
  if (depth > 200) __builtin_trap();  // the parser bounds depth at 64; deeper means that check broke
  for (tv::JsonValue const& item : v.items()) visit(item, depth + 1);
  for (auto const& [key, member] : v.members()) visit(member, depth + 1);
  if (!v.isObject()) return;
  tv::JsonFields const f(v, "fuzz.json");
  for (auto const& entry : v.members()) {
    std::string const& key = entry.first;  // named, not a structured binding: lambdas capture it below
    auto attempt = [](auto&& read) {
      try {
        read();
      } catch (tv::Error const&) {
      }
    };
    attempt([&] { f.integer(key); });
    attempt([&] { f.integerIn(key, -5, 1 << 20); });
    attempt([&] { f.numberIn(key, 1e-12, 1.0, 0.5); });
    attempt([&] { f.number(key); });
    attempt([&] { f.boolean(key, false); });
    attempt([&] { f.string(key); });
    attempt([&] { f.integers(key); });
    attempt([&] { f.object(key); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  try {
    tv::JsonValue const v = tv::parseJson(std::string_view(reinterpret_cast<char const*>(data), size), "fuzz.json");
    visit(v, 0);
  } catch (tv::Error const&) {
  }
  return 0;
}
