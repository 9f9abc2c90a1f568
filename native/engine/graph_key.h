// The identity of an engine step for CUDA-graph replay: the profile, every input shape and every
// tensor address. A captured graph replays exactly the bindings it was captured with, so a step may
// reuse a graph only when all of these are equal (buffer contents may differ). Backend-independent,
// so it is tested without a GPU.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tv::engine {

class GraphKey {
 public:
  int profile = 0;

  void setShape(std::string const& name, std::vector<std::int64_t> const& dims) { shapes_[name] = dims; }
  void setAddress(std::string const& name, void const* address) { addresses_[name] = reinterpret_cast<std::uintptr_t>(address); }

  // A deterministic 64-bit hash (FNV-1a over the sorted bindings).
  std::uint64_t hash() const {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](std::uint64_t v) {
      for (int i = 0; i < 8; ++i) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ULL;
      }
    };
    auto mixString = [&](std::string const& s) {
      for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
      }
      mix(s.size());
    };
    mix(static_cast<std::uint64_t>(profile));
    for (auto const& [name, dims] : shapes_) {
      mixString(name);
      mix(dims.size());
      for (std::int64_t d : dims) mix(static_cast<std::uint64_t>(d));
    }
    for (auto const& [name, address] : addresses_) {
      mixString(name);
      mix(address);
    }
    return h;
  }

 private:
  std::map<std::string, std::vector<std::int64_t>> shapes_;  // ordered: insertion order never matters
  std::map<std::string, std::uintptr_t> addresses_;
};

}  // namespace tv::engine
