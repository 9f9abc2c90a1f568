#include "engine/binding_check.h"

#include "core/error.h"

namespace tv::engine {

void checkInputShape(TensorDesc const& desc, ProfileShapes const& bounds, int profile, Shape const& shape) {
  TV_CHECK_ARG(desc.mode == TensorIOMode::kInput, "'", desc.name, "' is an output: only inputs take shapes");
  TV_CHECK_ARG(shape.rank() == desc.shape.rank(), "input '", desc.name, "' has rank ", desc.shape.rank(), " but shape ", shape.str(),
               " was given");
  TV_CHECK_ARG(bounds.min.rank() == shape.rank() && bounds.max.rank() == shape.rank(), "input '", desc.name,
               "' has profile shapes of another rank (", bounds.min.str(), ")");
  for (int i = 0; i < shape.rank(); ++i) {
    TV_CHECK_ARG(desc.shape[i] < 0 || desc.shape[i] == shape[i], "input '", desc.name, "' dimension ", i, " must be ", desc.shape[i],
                 " but shape ", shape.str(), " was given");
    TV_CHECK_ARG(shape[i] >= bounds.min[i] && shape[i] <= bounds.max[i], "input '", desc.name, "' shape ", shape.str(),
                 " is outside profile ", profile, " [", bounds.min.str(), " .. ", bounds.max.str(), "]");
  }
}

Shape const* BindingTable::shape(std::string_view name) const {
  auto it = shapes_.find(std::string(name));
  return it == shapes_.end() ? nullptr : &it->second;
}

void* BindingTable::address(std::string_view name) const {
  auto it = addresses_.find(std::string(name));
  return it == addresses_.end() ? nullptr : it->second;
}

void BindingTable::requireRunnable(std::vector<TensorDesc> const& tensors, int profile, ProfileLookup const& profiles) const {
  for (TensorDesc const& t : tensors) {
    if (t.mode == TensorIOMode::kInput) {
      Shape const* s = shape(t.name);
      TV_CHECK_ARG(s != nullptr, "input '", t.name, "' has no shape in profile ", profile, ": call setInputShape before enqueue");
      checkInputShape(t, profiles(t.name, profile), profile, *s);
    }
    TV_CHECK_ARG(address(t.name) != nullptr, "tensor '", t.name, "' has no address: call setTensorAddress before enqueue",
                 " (a non-null dummy for zero-size tensors)");
  }
}

}  // namespace tv::engine
