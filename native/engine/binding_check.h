// The bindings of one execution context (input shapes, tensor addresses), checked before every enqueue
// against the engine's descriptors and the profile selected at that moment, the same way for every
// backend. It matters most for TensorRT: Edge-LLM's plugins run their own checks inside a noexcept
// enqueue, so a bad binding that reaches them terminates the process (Edge-LLM 0.6.1
// cpp/plugins/attentionPlugin/attentionPlugin.cpp:592-612, cpp/common/checkMacros.h:40-46). Here it is
// an ERR_INVALID_ARGUMENT naming the tensor instead, before anything is enqueued.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"

namespace tv::engine {

// Throws ERR_INVALID_ARGUMENT unless `shape` fits input `desc` in profile `profile` (`bounds`): the rank,
// every static dimension, and min <= dim <= max for each dimension.
void checkInputShape(TensorDesc const& desc, ProfileShapes const& bounds, int profile, Shape const& shape);

class BindingTable {
 public:
  // The profile shapes of an input (name, profile).
  using ProfileLookup = std::function<ProfileShapes(std::string const&, int)>;

  void setShape(std::string_view name, Shape shape) { shapes_[std::string(name)] = std::move(shape); }
  void setAddress(std::string_view name, void* address) { addresses_[std::string(name)] = address; }
  // After a profile switch every input needs its shape again.
  void clearShapes() { shapes_.clear(); }
  Shape const* shape(std::string_view name) const;
  void* address(std::string_view name) const;

  // Before an enqueue: every input has a shape inside profile `profile`, every input and output a
  // non-null address. Throws ERR_INVALID_ARGUMENT naming the first tensor that does not.
  void requireRunnable(std::vector<TensorDesc> const& tensors, int profile, ProfileLookup const& profiles) const;

 private:
  std::unordered_map<std::string, Shape> shapes_;
  std::unordered_map<std::string, void*> addresses_;
};

}  // namespace tv::engine
