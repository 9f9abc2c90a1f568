#include "napi/frame_wrap.h"

#include <cstring>

#include "core/error.h"
#include "napi/addon_data.h"
#include "napi/js_error.h"

namespace tv::napi {

namespace {
// Distinguishes our frames from arbitrary JS objects passed where a frame is expected.
napi_type_tag const kFrameTypeTag = {0x7f3a1c5e9b2d4f60ULL, 0x8e1d2c3b4a596877ULL};

int requireInt(Napi::Value value, char const* name) {
  TV_CHECK_ARG(value.IsNumber(), "Expected an integer for ", name);
  double const number = value.As<Napi::Number>().DoubleValue();
  TV_CHECK_ARG(number == static_cast<double>(static_cast<int>(number)), "Expected an integer for ", name,
               " but received ", number);
  return static_cast<int>(number);
}
}  // namespace

Napi::Function NativeFrame::defineClass(Napi::Env env) {
  return DefineClass(env, "NativeFrame",
                     {
                         InstanceAccessor<&NativeFrame::data>("data"),
                         InstanceAccessor<&NativeFrame::zeroCopy>("zeroCopy"),
                         InstanceAccessor<&NativeFrame::pinned>("pinned"),
                         InstanceAccessor<&NativeFrame::disposed>("disposed"),
                         InstanceAccessor<&NativeFrame::byteLength>("byteLength"),
                         InstanceAccessor<&NativeFrame::stride>("stride"),
                         InstanceMethod<&NativeFrame::dispose>("dispose"),
                         InstanceMethod<&NativeFrame::digest>("digest"),
                         InstanceMethod<&NativeFrame::address>("address"),
                         InstanceMethod<&NativeFrame::writeTestPattern>("writeTestPattern"),
                     });
}

NativeFrame* NativeFrame::unwrap(Napi::Value value, char const* what) {
  bool tagged = false;
  if (value.IsObject()) {
    napi_check_object_type_tag(value.Env(), value, &kFrameTypeTag, &tagged);
  }
  TV_CHECK_ARG(tagged, "Expected a FrameBuffer for ", what);
  NativeFrame* frame = Napi::ObjectWrap<NativeFrame>::Unwrap(value.As<Napi::Object>());
  frame->ensureLive();
  return frame;
}

// new NativeFrame(width, height, format, stride)
NativeFrame::NativeFrame(Napi::CallbackInfo const& info) : Napi::ObjectWrap<NativeFrame>(info) {
  Napi::Env env = info.Env();
  guard(env, [&] {
    TV_CHECK_ARG(info.Length() >= 3, "NativeFrame(width, height, format, stride?)");
    TV_CHECK_ARG(info[2].IsString(), "Expected a string for format");
    int const stride = info.Length() > 3 && !info[3].IsUndefined() ? requireInt(info[3], "stride") : 0;
    layout_ = makeFrameLayout(requireInt(info[0], "width"), requireInt(info[1], "height"),
                              parsePixelFormat(info[2].As<Napi::String>().Utf8Value()), stride);
    memory_ = FrameMemory::allocate(layout_.byteLength);
  });
  napi_type_tag_object(env, info.This(), &kFrameTypeTag);

  AddonData* addon = addonData(env);
  Napi::ArrayBuffer buffer;
  if (addon == nullptr || addon->externalBuffersAllowed) {
    auto* holder = new std::shared_ptr<FrameMemory>(memory_);
    napi_value raw = nullptr;
    napi_status const status = napi_create_external_arraybuffer(
        env, memory_->data(), memory_->size(),
        [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<FrameMemory>*>(hint); }, holder, &raw);
    if (status == napi_ok) {
      buffer = Napi::ArrayBuffer(env, raw);
      bufferHolder_ = holder;
      zeroCopy_ = true;
    } else {
      delete holder;  // napi_no_external_buffers_allowed (Electron): fall back to one copy per use
      if (status != napi_no_external_buffers_allowed) NAPI_THROW_IF_FAILED_VOID(env, status);
      if (addon != nullptr) addon->externalBuffersAllowed = false;
    }
  }
  if (!zeroCopy_) buffer = Napi::ArrayBuffer::New(env, memory_->size());
  buffer_ = Napi::Persistent(buffer);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(memory_->size()));
}

NativeFrame::~NativeFrame() {
  if (memory_ != nullptr) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), -static_cast<int64_t>(memory_->size()));
  }
}

void NativeFrame::ensureLive() const {
  TV_CHECK(!disposed_, ErrorCode::kDisposed, "this FrameBuffer was disposed");
}

void NativeFrame::release() {
  if (disposed_) return;
  disposed_ = true;
  Napi::Env env = Env();
  if (!buffer_.IsEmpty()) {
    Napi::ArrayBuffer buffer = buffer_.Value();
    // Detaching empties every JS view of the buffer, so JS can no longer reach memory we free now.
    if (!buffer.IsDetached()) buffer.Detach();
    buffer_.Reset();
  }
  if (bufferHolder_ != nullptr) {
    bufferHolder_->reset();  // the holder object itself is deleted by the buffer's finalizer
    bufferHolder_ = nullptr;
  }
  if (memory_ != nullptr) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(memory_->size()));
    memory_.reset();  // freed now, unless a plan in flight still holds it
  }
}

std::shared_ptr<FrameMemory> NativeFrame::syncToNative() {
  ensureLive();
  if (!zeroCopy_) {
    Napi::ArrayBuffer buffer = buffer_.Value();
    std::memcpy(memory_->data(), buffer.Data(), memory_->size());
  }
  return memory_;
}

Napi::Value NativeFrame::data(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureLive();
    Napi::ArrayBuffer buffer = buffer_.Value();
    return Napi::Uint8Array::New(info.Env(), buffer.ByteLength(), buffer, 0);
  });
}

Napi::Value NativeFrame::zeroCopy(Napi::CallbackInfo const& info) { return Napi::Boolean::New(info.Env(), zeroCopy_); }
Napi::Value NativeFrame::pinned(Napi::CallbackInfo const& info) {
  return Napi::Boolean::New(info.Env(), memory_ != nullptr && memory_->pinned());
}
Napi::Value NativeFrame::disposed(Napi::CallbackInfo const& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value NativeFrame::byteLength(Napi::CallbackInfo const& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(layout_.byteLength));
}
Napi::Value NativeFrame::stride(Napi::CallbackInfo const& info) { return Napi::Number::New(info.Env(), layout_.stride); }

Napi::Value NativeFrame::dispose(Napi::CallbackInfo const& info) {
  release();
  return info.Env().Undefined();
}

// FNV-1a 64 of the pixels as native code reads them (after the one copy in copy mode).
Napi::Value NativeFrame::digest(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<FrameMemory> memory = syncToNative();
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(fnv1a64(memory->data(), memory->size())));
  });
}

// The native address of the pixels: stable for the life of the frame (tests compare it across uses).
Napi::Value NativeFrame::address(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureLive();
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(memory_->data())));
  });
}

// Test hook: native code writes byte i = (i * 31 + seed) & 0xff; in zero-copy mode JS sees it at once.
Napi::Value NativeFrame::writeTestPattern(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureLive();
    int const seed = requireInt(info[0], "seed");
    std::uint8_t* bytes = memory_->data();
    for (std::size_t i = 0; i < memory_->size(); ++i) bytes[i] = static_cast<std::uint8_t>((i * 31 + seed) & 0xff);
    return info.Env().Undefined();
  });
}

}  // namespace tv::napi
