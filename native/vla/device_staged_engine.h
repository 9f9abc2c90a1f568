// Tests only (loadModel spec testing.devicePipeline): a host engine — the CPU reference engines —
// presented as a device engine, so that the device pipeline (device_pipeline_ops.h, DeviceEngineMemory)
// runs end to end without TensorRT. The context takes device addresses like a TensorRT context; each
// enqueue waits for the stream, copies every bound tensor from the device into a host shadow (outputs
// too, so rows the engine leaves alone keep their device contents), runs the host engine on the
// shadows, and copies the outputs back. Tensors bound at one device address share one shadow (the KV
// cache, bound as past and present). Slow by design: the whole KV cache crosses twice per call.
//
// On a GPU this makes the device pipeline's kernels and buffers testable against the CPU pipeline with
// the same engines; under the CUDA emulator (scripts/cuda-emulator.mjs) the copies are plain memmoves.
#pragma once

#include <memory>

#include "engine/engine.h"

namespace tv::vla {

std::unique_ptr<engine::Engine> stageOnDevice(std::unique_ptr<engine::Engine> hostEngine);

}  // namespace tv::vla
