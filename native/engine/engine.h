// The named-tensor engine interface: what the host pipeline (native/vla) sees of an engine, shaped
// like TensorRT's ICudaEngine / IExecutionContext so the TensorRT adapter maps onto it 1:1 and the CPU
// engines honour the same contract. Nothing model-specific lives here.
//
// Usage per step (as with TensorRT): setOptimizationProfile -> setInputShape for every input ->
// setTensorAddress for every input and output (non-null, also for zero-size tensors) -> enqueue.
// Addresses point to memory of the engine's memoryLocation() (host for CPU engines, device for
// TensorRT). An execution context is used by one thread at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_types.h"

namespace tv::engine {

// A tensor shape; -1 marks a dynamic dimension in engine descriptors.
struct Shape {
  std::vector<std::int64_t> dims;
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> d) : dims(d) {}
  explicit Shape(std::vector<std::int64_t> d) : dims(std::move(d)) {}
  int rank() const { return static_cast<int>(dims.size()); }
  std::int64_t operator[](int i) const { return dims[static_cast<std::size_t>(i)]; }
  std::int64_t elements() const;  // product; 0 if any dim is 0; -1 if any dim is dynamic
  std::string str() const { return formatShape(dims); }
  bool operator==(Shape const& o) const { return dims == o.dims; }
  bool operator!=(Shape const& o) const { return dims != o.dims; }
};

enum class TensorIOMode { kInput, kOutput };
enum class MemoryLocation { kHost, kDevice };

struct TensorDesc {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;  // -1 for dynamic dims
  TensorIOMode mode = TensorIOMode::kInput;
};

struct ProfileShapes {
  Shape min;
  Shape opt;
  Shape max;
};

// Where the engine runs its work. CPU engines run synchronously on the calling thread (and their
// thread pool); the CUDA stream implementation wraps a cudaStream_t.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void synchronize() = 0;
  // The native handle (cudaStream_t) or null for host streams.
  virtual void* handle() const = 0;
};

// A stream for host engines: work is done when enqueue returns.
class HostStream final : public Stream {
 public:
  void synchronize() override {}
  void* handle() const override { return nullptr; }
};

class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
  virtual void setOptimizationProfile(int profile, Stream& stream) = 0;
  virtual int optimizationProfile() const = 0;
  // Throws ERR_INVALID_ARGUMENT when the shape is outside the current profile's [min, max].
  virtual void setInputShape(std::string_view name, Shape const& shape) = 0;
  virtual void setTensorAddress(std::string_view name, void* address) = 0;
  // The shape of a tensor under the current input shapes (outputs are inferred).
  virtual Shape tensorShape(std::string_view name) const = 0;
  // Runs one inference. Throws ERR_INVALID_ARGUMENT for missing shapes/addresses or invalid values.
  virtual void enqueue(Stream& stream) = 0;

  // Optional: compute only these rows (ascending token ids) of an output whose last dimension is the
  // vocabulary (the LLM's logits); other entries are left unspecified. For the next enqueue calls,
  // until cleared with count 0. Returns false when the engine does not support it (TensorRT engines
  // always compute every logit).
  virtual bool setOutputRows(std::string_view name, std::int32_t const* rows, int count) { return false; }

  // Optional: called between the steps of one long inference (the CPU engines: between layers and
  // vision blocks); it throws to stop the inference (an aborted request, a disposed model). Engines
  // that run a call as one unit (TensorRT) never call it.
  virtual void setInterruptCheck(std::function<void()> check) {}
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::vector<TensorDesc> const& ioTensors() const = 0;
  virtual int optimizationProfiles() const = 0;
  // Throws ERR_INVALID_ARGUMENT for an unknown name or profile.
  virtual ProfileShapes profileShapes(std::string_view name, int profile) const = 0;
  virtual MemoryLocation memoryLocation() const = 0;
  virtual std::unique_ptr<ExecutionContext> createExecutionContext() = 0;

  // The descriptor of a tensor, or null.
  TensorDesc const* findTensor(std::string_view name) const;
  // The descriptor of a tensor; throws ERR_ENGINE_INCOMPATIBLE naming the engine when absent.
  TensorDesc const& requireTensor(std::string_view name) const;
};

}  // namespace tv::engine
