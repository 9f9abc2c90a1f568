#include "vla/device_staged_engine.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "cuda/cuda_check.h"

namespace tv::vla {

namespace {

class StagedEngine final : public engine::Engine {
 public:
  explicit StagedEngine(std::unique_ptr<engine::Engine> inner) : inner_(std::move(inner)) {
    TV_CHECK_INTERNAL(inner_->memoryLocation() == engine::MemoryLocation::kHost, "only a host engine can be staged on the device");
  }

  std::vector<engine::TensorDesc> const& ioTensors() const override { return inner_->ioTensors(); }
  int optimizationProfiles() const override { return inner_->optimizationProfiles(); }
  engine::ProfileShapes profileShapes(std::string_view name, int profile) const override { return inner_->profileShapes(name, profile); }
  engine::MemoryLocation memoryLocation() const override { return engine::MemoryLocation::kDevice; }
  std::unique_ptr<engine::ExecutionContext> createExecutionContext() override;

 private:
  class Context;
  std::unique_ptr<engine::Engine> inner_;
};

class StagedEngine::Context final : public engine::ExecutionContext {
 public:
  Context(engine::Engine const& engine, std::unique_ptr<engine::ExecutionContext> inner) : engine_(engine), inner_(std::move(inner)) {}

  void setOptimizationProfile(int profile, engine::Stream&) override { inner_->setOptimizationProfile(profile, host_); }
  int optimizationProfile() const override { return inner_->optimizationProfile(); }
  void setInputShape(std::string_view name, engine::Shape const& shape) override { inner_->setInputShape(name, shape); }
  // The inner context validates the address now (as it would a host one); enqueue rebinds its shadow.
  void setTensorAddress(std::string_view name, void* address) override {
    inner_->setTensorAddress(name, address);
    device_[std::string(name)] = address;
  }
  engine::Shape tensorShape(std::string_view name) const override { return inner_->tensorShape(name); }
  bool setOutputRows(std::string_view name, std::int32_t const* rows, int count) override {
    return inner_->setOutputRows(name, rows, count);
  }
  void setInterruptCheck(std::function<void()> check) override { inner_->setInterruptCheck(std::move(check)); }

  void enqueue(engine::Stream& stream) override {
    auto const cuda = static_cast<cudaStream_t>(stream.handle());
    stream.synchronize();  // the inputs are written by work queued before this call
    // One shadow per device address, as large as the largest tensor bound there; kept across calls
    // while the address stays bound (contents are refreshed from the device on every call anyway).
    std::map<void*, std::size_t> sizes;
    std::vector<std::pair<std::string const*, std::size_t>> bytes;
    for (auto const& [name, address] : device_) {
      engine::TensorDesc const& desc = engine_.requireTensor(name);
      std::int64_t const elements = inner_->tensorShape(name).elements();
      std::size_t const n = elements > 0 ? static_cast<std::size_t>(elements) * dtypeSize(desc.dtype) : 0;
      bytes.emplace_back(&name, n);
      std::size_t& size = sizes[address];
      size = std::max(size, n);
    }
    std::map<void*, AlignedBuffer<std::uint8_t>> shadows;
    for (auto const& [address, size] : sizes) {
      auto old = shadows_.find(address);
      if (old != shadows_.end() && old->second.size() >= size) {
        shadows.emplace(address, std::move(old->second));
      } else {
        shadows.emplace(address, AlignedBuffer<std::uint8_t>(std::max<std::size_t>(size, 64)));
      }
      if (size > 0) TV_CUDA_CHECK(cudaMemcpyAsync(shadows.at(address).data(), address, size, cudaMemcpyDeviceToHost, cuda));
    }
    shadows_ = std::move(shadows);
    stream.synchronize();
    for (auto const& [name, address] : device_) inner_->setTensorAddress(name, shadows_.at(address).data());
    inner_->enqueue(host_);
    for (auto const& [name, n] : bytes) {
      engine::TensorDesc const& desc = engine_.requireTensor(*name);
      if (desc.mode != engine::TensorIOMode::kOutput || n == 0) continue;
      void* address = device_.at(*name);
      TV_CUDA_CHECK(cudaMemcpyAsync(address, shadows_.at(address).data(), n, cudaMemcpyHostToDevice, cuda));
    }
    stream.synchronize();
  }

 private:
  engine::Engine const& engine_;
  std::unique_ptr<engine::ExecutionContext> inner_;
  engine::HostStream host_;
  std::map<std::string, void*> device_;  // tensor name -> its device address
  std::map<void*, AlignedBuffer<std::uint8_t>> shadows_;
};

std::unique_ptr<engine::ExecutionContext> StagedEngine::createExecutionContext() {
  return std::make_unique<Context>(*this, inner_->createExecutionContext());
}

}  // namespace

std::unique_ptr<engine::Engine> stageOnDevice(std::unique_ptr<engine::Engine> hostEngine) {
  return std::make_unique<StagedEngine>(std::move(hostEngine));
}

}  // namespace tv::vla
