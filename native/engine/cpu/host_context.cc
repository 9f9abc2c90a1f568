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
  if (profile != profile_) shapes_.clear();
  profile_ = profile;
}

void HostExecutionContext::setInputShape(std::string_view name, Shape const& shape) {
  TensorDesc const* desc = engine_.findTensor(name);
  TV_CHECK_ARG(desc != nullptr && desc->mode == TensorIOMode::kInput, "'", name, "' is not an input of this engine");
  ProfileShapes const p = engine_.profileShapes(name, profile_);
  TV_CHECK_ARG(shape.rank() == desc->shape.rank(), "input '", name, "' has rank ", desc->shape.rank(), " but shape ",
               shape.str(), " was given");
  for (int i = 0; i < shape.rank(); ++i) {
    TV_CHECK_ARG(shape[i] >= p.min[i] && shape[i] <= p.max[i], "input '", name, "' shape ", shape.str(),
                 " is outside profile ", profile_, " [", p.min.str(), " .. ", p.max.str(), "]");
    TV_CHECK_ARG(desc->shape[i] < 0 || desc->shape[i] == shape[i], "input '", name, "' dimension ", i, " must be ",
                 desc->shape[i], " but shape ", shape.str(), " was given");
  }
  shapes_[std::string(name)] = shape;
}

void HostExecutionContext::setTensorAddress(std::string_view name, void* address) {
  TV_CHECK_ARG(engine_.findTensor(name) != nullptr, "the engine has no tensor '", name, "'");
  TV_CHECK_ARG(address != nullptr, "tensor '", name, "' needs a non-null address (bind a dummy for zero-size tensors)");
  addresses_[std::string(name)] = address;
}

Shape HostExecutionContext::tensorShape(std::string_view name) const {
  TensorDesc const& desc = engine_.requireTensor(name);
  if (desc.mode == TensorIOMode::kInput) {
    auto it = shapes_.find(std::string(name));
    return it == shapes_.end() ? desc.shape : it->second;
  }
  return inferOutputShape(name);
}

Shape const& HostExecutionContext::inputShape(std::string_view name) const {
  auto it = shapes_.find(std::string(name));
  TV_CHECK_ARG(it != shapes_.end(), "input '", name, "' has no shape: call setInputShape first");
  return it->second;
}

BoundTensor const& HostExecutionContext::bound(std::string_view name) const {
  auto it = bound_.find(std::string(name));
  TV_CHECK_INTERNAL(it != bound_.end(), "tensor '", name, "' is not bound");
  return it->second;
}

void HostExecutionContext::enqueue(Stream&) {
  bound_.clear();
  for (TensorDesc const& desc : engine_.ioTensors()) {
    auto address = addresses_.find(desc.name);
    TV_CHECK_ARG(address != addresses_.end(), "tensor '", desc.name, "' has no address: call setTensorAddress first");
    Shape shape = desc.mode == TensorIOMode::kInput ? inputShape(desc.name) : inferOutputShape(desc.name);
    bound_[desc.name] = BoundTensor{std::move(shape), address->second};
  }
  execute();
}

}  // namespace tv::engine::cpu
