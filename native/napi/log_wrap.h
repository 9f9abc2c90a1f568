// setLogLevel(level) and setLogHandler(fn | null): the addon's log (core/log.h) delivered to JS. The
// handler runs on the JS thread of the environment that installed it, through a thread-safe function
// that does not keep the event loop alive; messages logged while that environment shuts down are dropped.
#pragma once

#include <napi.h>

namespace tv::napi {

Napi::Value setLogLevel(Napi::CallbackInfo const& info);
Napi::Value setLogHandler(Napi::CallbackInfo const& info);
// Writes one message to the log (tests: the handler path without TensorRT).
Napi::Value logMessage(Napi::CallbackInfo const& info);

}  // namespace tv::napi
