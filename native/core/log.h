// The addon's log: TensorRT's own messages and the runtime's notes (what was loaded, fallbacks taken),
// at one process-wide level, delivered to one sink. The JS side installs a sink (setLogHandler in
// lib/log.ts); without one, warnings and errors go to stderr. Callable from any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tv {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

char const* logLevelName(LogLevel level);  // "error", "warning", "info", "verbose"

void setLogLevel(LogLevel level);
LogLevel logLevel();
inline bool logEnabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(logLevel()); }

// source: who speaks ("tensorrt", "model", "engine"). The sink must not throw; it may be called
// from any thread. An empty function restores the stderr default.
using LogSink = std::function<void(LogLevel level, std::string const& source, std::string const& message)>;
void setLogSink(LogSink sink);

void log(LogLevel level, std::string_view source, std::string const& message);

}  // namespace tv
