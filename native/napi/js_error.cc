#include "napi/js_error.h"

#include <new>
#include <string>

#include "napi/addon_data.h"

namespace tv::napi {

CapturedError captureCurrentException() {
  CapturedError captured;
  try {
    throw;
  } catch (tv::Error const& e) {
    captured.code = e.code();
    captured.message = e.what();
    if (e.file() != nullptr) captured.where = std::string(e.file()) + ":" + std::to_string(e.line());
  } catch (std::bad_alloc const&) {
    captured.code = ErrorCode::kOutOfMemory;
    captured.message = "out of memory";
  } catch (Napi::Error const& e) {
    captured.code = ErrorCode::kInternal;
    captured.message = e.Message();
  } catch (std::exception const& e) {
    captured.code = ErrorCode::kInternal;
    captured.message = std::string("internal error: ") + e.what();
  } catch (...) {
    captured.code = ErrorCode::kInternal;
    captured.message = "internal error: unknown native exception";
  }
  return captured;
}

Napi::Error makeJsError(Napi::Env env, CapturedError const& error) {
  Napi::HandleScope scope(env);
  Napi::String code = Napi::String::New(env, errorCodeName(error.code));
  Napi::String message = Napi::String::New(env, error.message);
  Napi::Object object;
  AddonData* data = addonData(env);
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    object = data->errorClass.New({code, message});
  } else {
    object = Napi::Error::New(env, error.message).Value();
    object.Set("code", code);
  }
  if (!error.where.empty()) object.Set("nativeLocation", Napi::String::New(env, error.where));
  return Napi::Error(env, object);
}

void PromiseWorker::Execute() {
  try {
    run();
  } catch (...) {
    error_ = captureCurrentException();
    SetError(error_.message);
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(result(env));
  } catch (Napi::Error const& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(makeJsError(env, captureCurrentException()).Value());
  }
}

void PromiseWorker::OnError(Napi::Error const&) { deferred_.Reject(makeJsError(Env(), error_).Value()); }

Napi::Value setErrorClass(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "setErrorClass expects a constructor");
  }
  addonData(env)->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace tv::napi
