#include "engine/engine.h"

#include "core/error.h"

namespace tv::engine {

std::int64_t Shape::elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

TensorDesc const* Engine::findTensor(std::string_view name) const {
  for (TensorDesc const& t : ioTensors()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TensorDesc const& Engine::requireTensor(std::string_view name) const {
  TensorDesc const* t = findTensor(name);
  TV_CHECK(t != nullptr, ErrorCode::kEngineIncompatible, "the engine has no tensor '", name, "'");
  return *t;
}

}  // namespace tv::engine
