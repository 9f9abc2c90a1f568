#include "core/error.h"

namespace tv {

char const* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::kDisposed: return "ERR_DISPOSED";
    case ErrorCode::kModelLoad: return "ERR_MODEL_LOAD";
    case ErrorCode::kEngineIncompatible: return "ERR_ENGINE_INCOMPATIBLE";
    case ErrorCode::kBackendUnavailable: return "ERR_BACKEND_UNAVAILABLE";
    case ErrorCode::kAborted: return "ABORT_ERR";
    case ErrorCode::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

namespace detail {
void throwError(ErrorCode code, char const* file, int line, std::string const& message) {
  throw Error(code, message, file, line);
}
}  // namespace detail

}  // namespace tv
