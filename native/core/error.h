// Errors with stable codes. Native code throws tv::Error; native/napi maps the code to the JS
// TrtVlaError `code` string. Nothing below napi/ knows about JavaScript.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tv {

enum class ErrorCode {
  kInvalidArgument,     // ERR_INVALID_ARGUMENT: a caller passed something malformed
  kDisposed,            // ERR_DISPOSED: the object was disposed
  kModelLoad,           // ERR_MODEL_LOAD: a model file is missing, truncated or inconsistent
  kEngineIncompatible,  // ERR_ENGINE_INCOMPATIBLE: an engine does not match this runtime / config
  kBackendUnavailable,  // ERR_BACKEND_UNAVAILABLE: the requested backend cannot run here
  kAborted,             // ABORT_ERR: the caller aborted the operation
  kOutOfMemory,         // ERR_OUT_OF_MEMORY: an allocation failed
  kInternal,            // ERR_INTERNAL: a bug in trt-vla
};

// The JS-visible code string, e.g. "ERR_INVALID_ARGUMENT".
char const* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string const& message, char const* file = nullptr, int line = 0)
      : std::runtime_error(message), code_(code), file_(file), line_(line) {}
  ErrorCode code() const noexcept { return code_; }
  // Where the error was raised in native code (for bug reports); may be null.
  char const* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }

 private:
  ErrorCode code_;
  char const* file_;
  int line_;
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
[[noreturn]] void throwError(ErrorCode code, char const* file, int line, std::string const& message);
}  // namespace detail

}  // namespace tv

// TV_CHECK(cond, code, parts...): throws tv::Error(code, concat(parts...)) when cond is false.
// The message is only built on failure.
#define TV_CHECK(cond, code, ...)                                                              \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      ::tv::detail::throwError((code), __FILE__, __LINE__, ::tv::detail::concat(__VA_ARGS__)); \
    }                                                                                          \
  } while (0)

#define TV_THROW(code, ...) ::tv::detail::throwError((code), __FILE__, __LINE__, ::tv::detail::concat(__VA_ARGS__))

// Shorthands for the most common codes.
#define TV_CHECK_ARG(cond, ...) TV_CHECK(cond, ::tv::ErrorCode::kInvalidArgument, __VA_ARGS__)
#define TV_CHECK_INTERNAL(cond, ...) TV_CHECK(cond, ::tv::ErrorCode::kInternal, "internal error: ", __VA_ARGS__)
