// writeRandomCheckpoint / quantizeCheckpoint: the native half of `trt-vla make-model` and
// `trt-vla quantize` (lib/model/ plans the files; native code generates and writes the tensors).
#pragma once

#include <napi.h>

namespace tv::napi {

// writeRandomCheckpoint(path, plan, seed, { threads? }) -> Promise<void>
// plan: [{ name, dtype: 'F32'|'F16'|'BF16', shape, init?: 'normal'|'constant', std?, mean?, seedName?, awq? }]
Napi::Value writeRandomCheckpoint(Napi::CallbackInfo const& info);
// quantizeCheckpoint(inputs, output) -> Promise<{ quantizedLayers, copiedTensors, bytesIn, bytesOut }>
Napi::Value quantizeCheckpoint(Napi::CallbackInfo const& info);

}  // namespace tv::napi
