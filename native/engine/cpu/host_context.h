// Binding bookkeeping shared by the CPU engines: the descriptors and optimization profiles of an
// engine, and an execution context that records shapes and addresses exactly as TensorRT does and
// validates them before handing a complete set of bound tensors to the engine's compute.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/binding_check.h"
#include "engine/engine.h"

namespace tv::engine::cpu {

// Descriptors plus per-profile shapes for every input (outputs have no profiles).
class HostEngineBase : public Engine {
 public:
  std::vector<TensorDesc> const& ioTensors() const override { return tensors_; }
  int optimizationProfiles() const override { return static_cast<int>(profiles_.size()); }
  ProfileShapes profileShapes(std::string_view name, int profile) const override;
  MemoryLocation memoryLocation() const override { return MemoryLocation::kHost; }

 protected:
  void addInput(std::string name, DType dtype, Shape shape);
  void addOutput(std::string name, DType dtype, Shape shape);
  // Sets an input's [min, opt, max] in one profile (profiles are created on demand).
  void setProfile(int profile, std::string const& name, Shape min, Shape opt, Shape max);

 private:
  std::vector<TensorDesc> tensors_;
  std::vector<std::unordered_map<std::string, ProfileShapes>> profiles_;
};

// A tensor as bound for one enqueue: its resolved shape and host address.
struct BoundTensor {
  Shape shape;
  void* data = nullptr;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

class HostExecutionContext : public ExecutionContext {
 public:
  explicit HostExecutionContext(HostEngineBase const& engine);
  void setOptimizationProfile(int profile, Stream& stream) override;
  int optimizationProfile() const override { return profile_; }
  void setInputShape(std::string_view name, Shape const& shape) override;
  void setTensorAddress(std::string_view name, void* address) override;
  Shape tensorShape(std::string_view name) const override;
  void enqueue(Stream& stream) override;
  void setInterruptCheck(std::function<void()> check) override { interrupt_ = std::move(check); }

 protected:
  // Between the layers of execute(): throws when the caller stops the inference.
  void checkInterrupt() const {
    if (interrupt_) interrupt_();
  }
  // Output shapes from the bound input shapes (called after all inputs have shapes).
  virtual Shape inferOutputShape(std::string_view name) const = 0;
  // The computation, with every tensor validated and bound.
  virtual void execute() = 0;

  // The bound tensor of that name (inputs and outputs); only valid inside execute().
  BoundTensor const& bound(std::string_view name) const;
  Shape const& inputShape(std::string_view name) const;

 private:
  HostEngineBase const& engine_;
  int profile_ = 0;
  BindingTable bindings_;
  std::unordered_map<std::string, BoundTensor> bound_;
  std::function<void()> interrupt_;
};

}  // namespace tv::engine::cpu
