// Mapping native failures to JS errors. Every exception leaving native code becomes a TrtVlaError
// (the class lib/errors.ts registers at load) with a stable `code`; nothing aborts the process.
#pragma once

#include <napi.h>

#include <string>

#include "core/error.h"

namespace tv::napi {

// A failure captured on a worker thread, turned into a JS error later on the JS thread.
struct CapturedError {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string where;  // "file:line" inside native code, when known
};

// Call inside a catch block: classifies the in-flight exception.
CapturedError captureCurrentException();

// Builds the JS error object (a TrtVlaError when the class was registered, else Error + code).
Napi::Error makeJsError(Napi::Env env, CapturedError const& error);

// setErrorClass(TrtVlaError): errors are constructed as new TrtVlaError(code, message) from then on.
// Exported by both addons (each holds its own AddonData).
Napi::Value setErrorClass(Napi::CallbackInfo const& info);

// Runs fn and converts any native exception into a thrown JS error.
template <typename Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (Napi::Error const&) {
    throw;
  } catch (...) {
    throw makeJsError(env, captureCurrentException());
  }
}

// An AsyncWorker that settles a Promise: run() on a libuv pool thread (no V8 access), result() on the
// JS thread. A failure in run() rejects with a coded TrtVlaError.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  virtual void run() = 0;
  virtual Napi::Value result(Napi::Env env) = 0;

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(Napi::Error const& error) final;

  Napi::Promise::Deferred deferred_;
  CapturedError error_;
};

}  // namespace tv::napi
