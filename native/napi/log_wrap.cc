#include "napi/log_wrap.h"

#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "napi/addon_data.h"
#include "napi/js_error.h"

namespace tv::napi {

namespace {

struct LogMessage {
  LogLevel level;
  std::string source;
  std::string message;
};

void deliverLog(Napi::Env env, Napi::Function handler, std::nullptr_t*, LogMessage* m) {
  std::unique_ptr<LogMessage> message(m);
  if (env == nullptr || handler.IsEmpty()) return;
  Napi::Object entry = Napi::Object::New(env);
  entry.Set("level", logLevelName(message->level));
  entry.Set("source", message->source);
  entry.Set("message", message->message);
  // An exception thrown by the user's handler surfaces as an uncaught exception, like any callback's.
  handler.Call({entry});
}

using LogChannel = Napi::TypedThreadSafeFunction<std::nullptr_t, LogMessage, deliverLog>;

// The installed channel; shared with the sink closure so a message racing a replacement is safe.
struct Installed {
  std::mutex mutex;
  LogChannel channel;
  bool active = false;
  napi_env env = nullptr;
};

Installed& installed() {
  static Installed* instance = new Installed();  // leaked: the log may be used during process teardown
  return *instance;
}

// Releases the channel if `env` owns it (or any when env is null). Caller holds the mutex.
void releaseLocked(Installed& i, napi_env env) {
  if (!i.active || (env != nullptr && i.env != env)) return;
  i.active = false;
  i.env = nullptr;
  i.channel.Release();
}

void uninstall(napi_env env) {
  setLogSink({});
  Installed& i = installed();
  std::lock_guard<std::mutex> lock(i.mutex);
  releaseLocked(i, env);
}

LogLevel parseLevel(std::string const& name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "info") return LogLevel::kInfo;
  if (name == "verbose") return LogLevel::kVerbose;
  TV_THROW(ErrorCode::kInvalidArgument, "log level must be 'error', 'warning', 'info' or 'verbose', got '", name, "'");
}

}  // namespace

Napi::Value setLogLevel(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString(), "setLogLevel(level)");
    tv::setLogLevel(parseLevel(info[0].As<Napi::String>().Utf8Value()));
    return info.Env().Undefined();
  });
}

Napi::Value setLogHandler(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsFunction() || info[0].IsNull() || info[0].IsUndefined(), "setLogHandler(handler | null)");
    uninstall(nullptr);
    if (!info[0].IsFunction()) return env.Undefined();
    Installed& i = installed();
    {
      std::lock_guard<std::mutex> lock(i.mutex);
      i.channel = LogChannel::New(env, info[0].As<Napi::Function>(), "trt-vla log", 0, 1);
      i.channel.Unref(env);  // logging never keeps the process alive
      i.active = true;
      i.env = env;
    }
    // The environment going away takes its handler with it (one hook per environment: Node refuses
    // the same hook twice).
    AddonData* data = addonData(env);
    if (!data->logCleanupHooked) {
      napi_add_env_cleanup_hook(env, [](void* e) { uninstall(static_cast<napi_env>(e)); }, static_cast<napi_env>(env));
      data->logCleanupHooked = true;
    }
    setLogSink([](LogLevel level, std::string const& source, std::string const& message) {
      Installed& in = installed();
      std::lock_guard<std::mutex> lock(in.mutex);
      if (!in.active) return;
      auto* m = new LogMessage{level, source, message};
      if (in.channel.NonBlockingCall(m) != napi_ok) delete m;
    });
    return env.Undefined();
  });
}

Napi::Value logMessage(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsString() && info[1].IsString() && info[2].IsString(), "logMessage(level, source, message)");
    tv::log(parseLevel(info[0].As<Napi::String>().Utf8Value()), info[1].As<Napi::String>().Utf8Value(),
            info[2].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  });
}

}  // namespace tv::napi
