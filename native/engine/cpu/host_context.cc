#include "engine/cpu/host_context.h"

#include "core/error.h"

namespace tv::engine::cpu {

void HostEngineBase::addInput(std::string name, DType dtype, Shape shape) {
  tensors_.push_back(TensorDesc{std::move(name), dtype, std::move(shape), TensorIOMode::kInput});
}

void HostEngineBase::addOutput(std::string name, DType dtype, Shape shape) {
  tensors_.push_back(TensorDesc{std::move(name), dtype, std::move(shape), TensorIOMode::kOutput});
}

void HostEngineBase::setProfile(int profile, std::string const& name, Shape min, Shape opt, Shape max) {
  if (static_cast<int>(profiles_.size()) <= profile) profiles_.resize(static_cast<std::size_t>(profile) + 1);
  profiles_[static_cast<std::size_t>(profile)][name] = ProfileShapes{std::move(min), std::move(opt), std::move(max)};
}

ProfileShapes HostEngineBase::profileShapes(std::string_view name, int profile) const {
  TV_CHECK_ARG(profile >= 0 && profile < optimizationProfiles(), "no optimization profile ", profile);
  auto const& shapes = profiles_[static_cast<std::size_t>(profile)];
  auto it = shapes.find(std::string(name));
  TV_CHECK_ARG(it != shapes.end(), "tensor '", name, "' has no profile shapes (not an input?)");
  return it->second;
}

HostExecutionContext::HostExecutionContext(HostEngineBase const& engine) : engine_(engine) {}

void HostExecutionContext::setOptimizationProfile(int profile, Stream&) {
  TV_CHECK_ARG(profile >= 0 && profile < engine_.optimizationProfiles(), "no optimization profile ", profile,
               " (the engine has ", engine_.optimizationProfiles(), ")");
  if (profile != profile_) bindings_.clearShapes();
  profile_ = profile;
}

void HostExecutionContext::setInputShape(std::string_view name, Shape const& shape) {
  TensorDesc const* desc = engine_.findTensor(name);
  TV_CHECK_ARG(desc != nullptr && desc->mode == TensorIOMode::kInput, "'", name, "' is not an input of this engine");
  checkInputShape(*desc, engine_.profileShapes(name, profile_), profile_, shape);
  bindings_.setShape(name, shape);
}

void HostExecutionContext::setTensorAddress(std::string_view name, void* address) {
  TV_CHECK_ARG(engine_.findTensor(name) != nullptr, "the engine has no tensor '", name, "'");
  TV_CHECK_ARG(address != nullptr, "tensor '", name, "' needs a non-null address (bind a dummy for zero-size tensors)");
  bindings_.setAddress(name, address);
}

Shape HostExecutionContext::tensorShape(std::string_view name) const {
  TensorDesc const& desc = engine_.requireTensor(name);
  if (desc.mode == TensorIOMode::kInput) {
    Shape const* s = bindings_.shape(name);
    return s == nullptr ? desc.shape : *s;
  }
  return inferOutputShape(name);
}

Shape const& HostExecutionContext::inputShape(std::string_view name) const {
  Shape const* s = bindings_.shape(name);
  TV_CHECK_ARG(s != nullptr, "input '", name, "' has no shape: call setInputShape first");
  return *s;
}

BoundTensor const& HostExecutionContext::bound(std::string_view name) const {
  auto it = bound_.find(std::string(name));
  TV_CHECK_INTERNAL(it != bound_.end(), "tensor '", name, "' is not bound");
  return it->second;
}

void HostExecutionContext::enqueue(Stream&) {
  // The same check as the TensorRT adapter's before enqueueV3 (engine/binding_check.h).
  bindings_.requireRunnable(engine_.ioTensors(), profile_,
                            [this](std::string const& name, int profile) { return engine_.profileShapes(name, profile); });
  bound_.clear();
  for (TensorDesc const& desc : engine_.ioTensors()) {
    Shape shape = desc.mode == TensorIOMode::kInput ? inputShape(desc.name) : inferOutputShape(desc.name);
    bound_[desc.name] = BoundTensor{std::move(shape), bindings_.address(desc.name)};
  }
  execute();
}

}  // namespace tv::engine::cpu
