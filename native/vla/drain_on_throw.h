// Waits for a session's stream when a request leaves by an exception (abort, bad input found midway,
// an engine error): the device work it queued may still read mapped frame memory and the buffers of
// the request, which the caller may free or refill as soon as the error reaches it. An error while
// waiting is dropped; the caller gets the first one. Shared by every VlaSession request
// (session.cc, session_evaluate.cc).
#pragma once

#include <exception>

#include "engine/engine.h"

namespace tv::vla {

class DrainOnThrow {
 public:
  explicit DrainOnThrow(engine::Stream& stream) : stream_(stream), exceptions_(std::uncaught_exceptions()) {}
  DrainOnThrow(DrainOnThrow const&) = delete;
  DrainOnThrow& operator=(DrainOnThrow const&) = delete;
  ~DrainOnThrow() {
    if (std::uncaught_exceptions() <= exceptions_) return;
    try {
      stream_.synchronize();
    } catch (...) {
    }
  }

 private:
  engine::Stream& stream_;
  int const exceptions_;
};

}  // namespace tv::vla
