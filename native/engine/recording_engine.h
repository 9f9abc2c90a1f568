// An engine decorator that records every call made on its execution contexts — profile switches,
// input shapes, tensor addresses, output-row selections, enqueues — and passes each call on. It makes
// the binding plan of the host pipeline visible, so tests check on the CPU engines exactly what a
// TensorRT engine would be given (profile per phase, zero-size tensors bound to a non-null dummy,
// past and present KV at one address). Loaded only when a test asks for it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace tv::engine {

struct BindingEvent {
  enum class Kind { kProfile, kShape, kAddress, kOutputRows, kEnqueue };
  std::string engine;  // the label given to RecordingEngine ("llm", "visual")
  Kind kind = Kind::kEnqueue;
  std::string name;                 // tensor name (shape, address, output rows)
  std::vector<std::int64_t> dims;   // shape; for output rows, the row count
  std::uintptr_t address = 0;       // address
  int profile = -1;                 // profile switched to
};

class BindingLog {
 public:
  void add(BindingEvent event) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<BindingEvent> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(events_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<BindingEvent> events_;
};

class RecordingEngine final : public Engine {
 public:
  RecordingEngine(std::unique_ptr<Engine> inner, std::string label, std::shared_ptr<BindingLog> log)
      : inner_(std::move(inner)), label_(std::move(label)), log_(std::move(log)) {}

  std::vector<TensorDesc> const& ioTensors() const override { return inner_->ioTensors(); }
  int optimizationProfiles() const override { return inner_->optimizationProfiles(); }
  ProfileShapes profileShapes(std::string_view name, int profile) const override { return inner_->profileShapes(name, profile); }
  MemoryLocation memoryLocation() const override { return inner_->memoryLocation(); }
  std::unique_ptr<ExecutionContext> createExecutionContext() override {
    return std::make_unique<Context>(inner_->createExecutionContext(), label_, log_);
  }

 private:
  class Context final : public ExecutionContext {
   public:
    Context(std::unique_ptr<ExecutionContext> inner, std::string label, std::shared_ptr<BindingLog> log)
        : inner_(std::move(inner)), label_(std::move(label)), log_(std::move(log)) {}

    void setOptimizationProfile(int profile, Stream& stream) override {
      record(BindingEvent::Kind::kProfile, "", {}, 0, profile);
      inner_->setOptimizationProfile(profile, stream);
    }
    int optimizationProfile() const override { return inner_->optimizationProfile(); }
    void setInputShape(std::string_view name, Shape const& shape) override {
      record(BindingEvent::Kind::kShape, std::string(name), shape.dims, 0, -1);
      inner_->setInputShape(name, shape);
    }
    void setTensorAddress(std::string_view name, void* address) override {
      record(BindingEvent::Kind::kAddress, std::string(name), {}, reinterpret_cast<std::uintptr_t>(address), -1);
      inner_->setTensorAddress(name, address);
    }
    Shape tensorShape(std::string_view name) const override { return inner_->tensorShape(name); }
    void enqueue(Stream& stream) override {
      record(BindingEvent::Kind::kEnqueue, "", {}, 0, -1);
      inner_->enqueue(stream);
    }
    bool setOutputRows(std::string_view name, std::int32_t const* rows, int count) override {
      record(BindingEvent::Kind::kOutputRows, std::string(name), {count}, 0, -1);
      return inner_->setOutputRows(name, rows, count);
    }
    void setInterruptCheck(std::function<void()> check) override { inner_->setInterruptCheck(std::move(check)); }

   private:
    void record(BindingEvent::Kind kind, std::string name, std::vector<std::int64_t> dims, std::uintptr_t address, int profile) {
      log_->add(BindingEvent{label_, kind, std::move(name), std::move(dims), address, profile});
    }

    std::unique_ptr<ExecutionContext> inner_;
    std::string label_;
    std::shared_ptr<BindingLog> log_;
  };

  std::unique_ptr<Engine> inner_;
  std::string label_;
  std::shared_ptr<BindingLog> log_;
};

}  // namespace tv::engine
