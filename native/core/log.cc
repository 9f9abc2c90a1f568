#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

namespace tv {

namespace {

std::atomic<int> gLevel{static_cast<int>(LogLevel::kWarning)};

// Leaked on purpose: TensorRT may log from static destructors after main returns.
struct SinkSlot {
  std::mutex mutex;
  LogSink sink;
};
SinkSlot& slot() {
  static SinkSlot* instance = new SinkSlot();
  return *instance;
}

}  // namespace

char const* logLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    default: return "verbose";
  }
}

void setLogLevel(LogLevel level) { gLevel.store(static_cast<int>(level)); }
LogLevel logLevel() { return static_cast<LogLevel>(gLevel.load()); }

void setLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(slot().mutex);
  slot().sink = std::move(sink);
}

void log(LogLevel level, std::string_view source, std::string const& message) {
  if (!logEnabled(level)) return;
  std::string const from(source);
  {
    std::lock_guard<std::mutex> lock(slot().mutex);
    if (slot().sink) {
      try {
        slot().sink(level, from, message);
        return;
      } catch (...) {
        // A failing sink must not take the caller (possibly TensorRT) down: fall back to stderr.
      }
    }
  }
  if (level <= LogLevel::kWarning) std::fprintf(stderr, "trt-vla [%s] %s: %s\n", from.c_str(), logLevelName(level), message.c_str());
}

}  // namespace tv
