// An engine known only by its interface: I/O tensors and per-profile shapes, which is all the
// compatibility checks (vla/engine_check.h) read. Tests build one from the documented TensorRT
// Edge-LLM contract, or from a real engine's interface with one thing changed, and check that the
// checks accept or reject it for the right reason. It runs nothing: createExecutionContext throws.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"

namespace tv::engine {

class DescribedEngine final : public Engine {
 public:
  // profiles[name][p]: the shapes of input `name` in profile p (every input has `profileCount`).
  DescribedEngine(std::vector<TensorDesc> tensors, int profileCount, std::map<std::string, std::vector<ProfileShapes>> profiles)
      : tensors_(std::move(tensors)), profileCount_(profileCount), profiles_(std::move(profiles)) {
    for (TensorDesc const& t : tensors_) {
      if (t.mode != TensorIOMode::kInput) continue;
      auto it = profiles_.find(t.name);
      TV_CHECK_ARG(it != profiles_.end() && static_cast<int>(it->second.size()) == profileCount_, "input '", t.name, "' needs shapes for ",
                   profileCount_, " profiles");
    }
  }

  std::vector<TensorDesc> const& ioTensors() const override { return tensors_; }
  int optimizationProfiles() const override { return profileCount_; }
  ProfileShapes profileShapes(std::string_view name, int profile) const override {
    auto it = profiles_.find(std::string(name));
    TV_CHECK_ARG(it != profiles_.end(), "no profile shapes for '", name, "'");
    TV_CHECK_ARG(profile >= 0 && profile < profileCount_, "no optimization profile ", profile);
    return it->second[static_cast<std::size_t>(profile)];
  }
  MemoryLocation memoryLocation() const override { return MemoryLocation::kDevice; }
  std::unique_ptr<ExecutionContext> createExecutionContext() override {
    TV_THROW(ErrorCode::kInvalidArgument, "a described engine has an interface only and cannot run");
  }

 private:
  std::vector<TensorDesc> tensors_;
  int profileCount_;
  std::map<std::string, std::vector<ProfileShapes>> profiles_;
};

}  // namespace tv::engine
