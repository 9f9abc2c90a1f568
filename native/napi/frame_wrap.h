// NativeFrame: the JS handle of one camera frame. Its `data` is a Uint8Array over addon-owned memory
// (zero-copy); where external buffers are not allowed it is a JS-owned buffer that syncToNative()
// copies from once per use (`zeroCopy` says which).
#pragma once

#include <napi.h>

#include <memory>

#include "vla/frame.h"

namespace tv::napi {

class NativeFrame : public Napi::ObjectWrap<NativeFrame> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  // Returns the NativeFrame behind a JS value, or throws ERR_INVALID_ARGUMENT (wrong type) /
  // ERR_DISPOSED (disposed frame).
  static NativeFrame* unwrap(Napi::Value value, char const* what);

  explicit NativeFrame(Napi::CallbackInfo const& info);
  ~NativeFrame() override;

  FrameLayout const& layout() const { return layout_; }
  // The pixels as native code sees them. In copy mode this first copies the JS bytes (JS thread only).
  std::shared_ptr<FrameMemory> syncToNative();

 private:
  Napi::Value data(Napi::CallbackInfo const& info);
  Napi::Value zeroCopy(Napi::CallbackInfo const& info);
  Napi::Value pinned(Napi::CallbackInfo const& info);
  Napi::Value disposed(Napi::CallbackInfo const& info);
  Napi::Value byteLength(Napi::CallbackInfo const& info);
  Napi::Value stride(Napi::CallbackInfo const& info);
  Napi::Value dispose(Napi::CallbackInfo const& info);
  Napi::Value digest(Napi::CallbackInfo const& info);
  Napi::Value address(Napi::CallbackInfo const& info);
  Napi::Value writeTestPattern(Napi::CallbackInfo const& info);
  void release();
  void ensureLive() const;

  FrameLayout layout_;
  std::shared_ptr<FrameMemory> memory_;
  // For zero-copy buffers: the reference the ArrayBuffer's finalizer holds, so the memory outlives a
  // collected wrap while JS still holds `data`; emptied by dispose() after the buffer is detached.
  std::shared_ptr<FrameMemory>* bufferHolder_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  bool zeroCopy_ = false;
  bool disposed_ = false;
};

}  // namespace tv::napi
