// A drafter that proposes fixed tokens by answer position: after `count` generated tokens it drafts
// script[count, count + maxDraft), whatever was generated. Tests drive the verify loop with it: the plain
// run's own output (every draft accepted), or that output with tokens changed (drafts rejected where they
// differ, and misaligned after the model diverges).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "vla/session.h"

namespace tv::vla {

class ScriptedDrafter final : public Drafter {
 public:
  explicit ScriptedDrafter(std::vector<std::int32_t> script) : script_(std::move(script)) {}

  void draft(std::int32_t const*, int count, int, int maxDraft, std::vector<std::int32_t>& out) const override {
    std::size_t const begin = std::min(script_.size(), static_cast<std::size_t>(std::max(count, 0)));
    std::size_t const end = std::min(script_.size(), begin + static_cast<std::size_t>(std::max(maxDraft, 0)));
    out.insert(out.end(), script_.begin() + static_cast<std::ptrdiff_t>(begin), script_.begin() + static_cast<std::ptrdiff_t>(end));
  }

 private:
  std::vector<std::int32_t> script_;
};

}  // namespace tv::vla
