#include "napi/model_wrap.h"

#include <atomic>
#include <utility>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "napi/addon_data.h"
#include "napi/frame_wrap.h"
#include "napi/js_error.h"
#include "napi/js_values.h"
#include "engine/recording_engine.h"
#include "vla/grammar.h"
#include "napi/drafter_spec.h"
#include "vla/scripted_drafter.h"
#include "vla/model_loader.h"
#include "vla/pipeline_ops.h"
#include "vla/positions.h"

namespace tv::napi {

namespace {

// ---- model loading --------------------------------------------------------------------------------

std::array<float, 3> floatTriple(Napi::Object const& o, char const* key, std::array<float, 3> fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  TV_CHECK_ARG(v.IsArray() && v.As<Napi::Array>().Length() == 3, "Expected three numbers for ", key);
  Napi::Array a = v.As<Napi::Array>();
  std::array<float, 3> out{};
  for (std::uint32_t i = 0; i < 3; ++i) {
    TV_CHECK_ARG(a.Get(i).IsNumber(), "Expected three numbers for ", key);
    out[i] = a.Get(i).As<Napi::Number>().FloatValue();
  }
  return out;
}

vla::ModelLoadSpec parseLoadSpec(Napi::Object spec) {
  vla::ModelLoadSpec s;
  std::string const backend = optionalString(spec, "backend", "cpu");
  TV_CHECK_ARG(backend == "cpu" || backend == "tensorrt", "backend must be 'cpu' or 'tensorrt', got '", backend, "'");
  s.backend = backend == "cpu" ? vla::Backend::kCpu : vla::Backend::kTensorrt;
  s.threads = static_cast<int>(optionalInteger(spec, "threads", availableCpuCount(), 1, 256));
  Napi::Object llm = requireObject(spec.Get("llm"), "llm");
  s.llmConfig = requireString(llm, "config");
  s.llmConfigName = optionalString(llm, "configName", "llm/config.json");
  s.llmWeights = optionalStringArray(llm, "weightFiles");
  s.llmEmbeddingFile = optionalString(llm, "embeddingFile", "");
  s.vocabMapFile = optionalString(llm, "vocabMapFile", "");
  s.lmHead = engine::cpu::parseLmHeadPrecision(optionalString(llm, "lmHead", "auto"));
  s.tensorrt.llmEngineFile = optionalString(llm, "engineFile", "");
  Napi::Value visual = spec.Get("visual");
  if (visual.IsObject()) {
    Napi::Object v = visual.As<Napi::Object>();
    s.visualConfig = requireString(v, "config");
    s.visualConfigName = optionalString(v, "configName", "visual/config.json");
    s.visualWeights = optionalStringArray(v, "weightFiles");
    s.tensorrt.visualEngineFile = optionalString(v, "engineFile", "");
  }
  Napi::Value trt = spec.Get("tensorrt");
  if (trt.IsObject()) {
    Napi::Object t = trt.As<Napi::Object>();
    s.tensorrt.pluginLibrary = optionalString(t, "pluginLibrary", "");
    s.tensorrt.cudaGraphs = optionalBoolean(t, "cudaGraphs", true);
  }
  // The CPU LLM engine with an EAGLE-base interface (engine/cpu/llm_engine.h LlmLimits::maxVerifyTreeSize):
  // what speculative decoding verifies with (loadModel's speculation option).
  s.llmLimits.maxVerifyTreeSize = static_cast<int>(optionalInteger(spec, "cpuVerifyTokens", 0, 0, 128));
  Napi::Value testing = spec.Get("testing");
  if (testing.IsObject()) {
    Napi::Object t = testing.As<Napi::Object>();
    s.recordBindings = optionalBoolean(t, "recordBindings", false);
    s.decodeStepsBelow = static_cast<int>(optionalInteger(t, "decodeStepsBelow", 0, 0, 1 << 20));
    // Tests: the same, without the speculation option.
    if (t.Has("eagleBaseVerifyTokens")) s.llmLimits.maxVerifyTreeSize = static_cast<int>(optionalInteger(t, "eagleBaseVerifyTokens", 0, 0, 128));
    s.devicePipeline = optionalBoolean(t, "devicePipeline", false);
    s.mappedFrames = optionalBoolean(t, "mappedFrames", true);
  }
  Napi::Object embedding = requireObject(spec.Get("embedding"), "embedding");
  s.embeddingFiles = requireStringArray(embedding, "files");
  s.embeddingNames = requireStringArray(embedding, "names");
  Napi::Value pre = spec.Get("preprocess");
  if (pre.IsObject()) {
    Napi::Object p = pre.As<Napi::Object>();
    vla::PreprocessConfig& c = s.preprocess;
    c.patchSize = static_cast<int>(optionalInteger(p, "patchSize", c.patchSize, 1, 1024));
    c.temporalPatchSize = static_cast<int>(optionalInteger(p, "temporalPatchSize", c.temporalPatchSize, 1, 16));
    c.mergeSize = static_cast<int>(optionalInteger(p, "mergeSize", c.mergeSize, 1, 16));
    c.minPixels = static_cast<int>(optionalInteger(p, "minPixels", c.minPixels, 1, 1 << 30));
    c.maxPixels = static_cast<int>(optionalInteger(p, "maxPixels", c.maxPixels, 1, 1 << 30));
    c.preResizeMaxPixels = static_cast<int>(optionalInteger(p, "preResizeMaxPixels", 0, 0, 1 << 30));
    c.preResizeMinPixels = static_cast<int>(optionalInteger(p, "preResizeMinPixels", 0, 0, 1 << 30));
    c.mean = floatTriple(p, "mean", c.mean);
    c.std = floatTriple(p, "std", c.std);
    c.rescaleFactor = optionalNumber(p, "rescaleFactor", c.rescaleFactor);
    TV_CHECK_ARG(c.minPixels <= c.maxPixels, "minPixels must not exceed maxPixels");
  }
  Napi::Value tokens = spec.Get("tokens");
  if (tokens.IsObject()) {
    Napi::Object t = tokens.As<Napi::Object>();
    s.tokens.imagePad = static_cast<std::int32_t>(optionalInteger(t, "imagePad", s.tokens.imagePad, 0, 1 << 30));
    s.tokens.visionStart = static_cast<std::int32_t>(optionalInteger(t, "visionStart", s.tokens.visionStart, 0, 1 << 30));
  }
  Napi::Value limits = spec.Get("limits");
  if (limits.IsObject()) {
    Napi::Object l = limits.As<Napi::Object>();
    s.requestedKvCapacity = static_cast<int>(optionalInteger(l, "maxKvCapacity", 0, 16, 1 << 20));
    s.requestedInputLength = static_cast<int>(optionalInteger(l, "maxInputLength", 0, 1, 1 << 20));
    s.requestedImageTokens = static_cast<int>(optionalInteger(l, "maxImageTokens", 0, 1, 1 << 20));
    s.requestedImageTokensPerImage = static_cast<int>(optionalInteger(l, "maxImageTokensPerImage", 0, 1, 1 << 20));
  }
  return s;
}

class LoadModelWorker : public PromiseWorker {
 public:
  LoadModelWorker(Napi::Env env, vla::ModelLoadSpec spec) : PromiseWorker(env), spec_(std::move(spec)) {}

 protected:
  void run() override { model_ = vla::loadVlaModel(std::move(spec_)); }

  Napi::Value result(Napi::Env env) override {
    Napi::Object handle = addonData(env)->modelConstructor.New({});
    ModelHandle::Unwrap(handle)->adopt(std::move(model_));
    return handle;
  }

 private:
  vla::ModelLoadSpec spec_;
  std::shared_ptr<vla::VlaModel> model_;
};

Napi::Array gridsToJs(Napi::Env env, std::vector<vla::ImageGrid> const& grids) {
  Napi::Array out = Napi::Array::New(env, grids.size());
  for (std::size_t i = 0; i < grids.size(); ++i) {
    Napi::Array g = Napi::Array::New(env, 3);
    g.Set(0u, grids[i].t);
    g.Set(1u, grids[i].h);
    g.Set(2u, grids[i].w);
    out.Set(static_cast<std::uint32_t>(i), g);
  }
  return out;
}

std::vector<vla::ImageGrid> gridsFromJs(Napi::Value value) {
  TV_CHECK_ARG(value.IsArray(), "Expected an array of [t, h, w] grids");
  Napi::Array a = value.As<Napi::Array>();
  std::vector<vla::ImageGrid> grids;
  for (std::uint32_t i = 0; i < a.Length(); ++i) {
    std::vector<std::int64_t> const g = requireIntegerArray(a.Get(i), "grid");
    TV_CHECK_ARG(g.size() == 3 && g[0] >= 1 && g[1] >= 2 && g[2] >= 2 && g[1] <= 4096 && g[2] <= 4096, "Expected a [t, h, w] grid");
    grids.push_back(vla::ImageGrid{static_cast<int>(g[0]), static_cast<int>(g[1]), static_cast<int>(g[2])});
  }
  return grids;
}

std::vector<std::int32_t> int32sFromJs(Napi::Value value, char const* what) {
  TV_CHECK_ARG(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array, "Expected an Int32Array for ",
               what);
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  return std::vector<std::int32_t>(a.Data(), a.Data() + a.ElementLength());
}

// Frames (NativeFrame objects) as the pipeline reads them; syncs copy-mode frames now, on the JS thread.
void framesFromJs(Napi::Value value, std::vector<vla::FrameView>& views, std::vector<std::shared_ptr<FrameMemory>>& memory) {
  TV_CHECK_ARG(value.IsArray(), "Expected an array of frames");
  Napi::Array a = value.As<Napi::Array>();
  for (std::uint32_t i = 0; i < a.Length(); ++i) {
    NativeFrame* frame = NativeFrame::unwrap(a.Get(i), "images");
    std::shared_ptr<FrameMemory> m = frame->syncToNative();
    views.push_back(vla::FrameView{frame->layout(), m->data(), m->devicePointer()});
    memory.push_back(std::move(m));
  }
}

// ---- generation -----------------------------------------------------------------------------------

struct TokenMessage {
  bool done = false;
  bool forced = false;
  std::vector<std::int32_t> tokens;
};

struct GenerateJob;
void deliver(Napi::Env env, Napi::Function callback, GenerateJob* job, TokenMessage* message);
using TokenChannel = Napi::TypedThreadSafeFunction<GenerateJob, TokenMessage, deliver>;

struct GenerateJob {
  explicit GenerateJob(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  TokenChannel channel;
  Napi::ObjectReference sessionObject;  // keeps the session handle alive until the promise settles
  SessionHandle* handle = nullptr;
  std::shared_ptr<vla::VlaSession> session;
  vla::GenerateRequest request;
  std::uint64_t requestId = 0;
  vla::GenerateResult result;
  bool failed = false;
  CapturedError error;
};

char const* stopReasonName(vla::StopReason r) {
  switch (r) {
    case vla::StopReason::kStopToken: return "stop";
    case vla::StopReason::kMaxTokens: return "length";
    case vla::StopReason::kGrammarComplete: return "grammar";
  }
  return "stop";
}

Napi::Object resultToJs(Napi::Env env, vla::GenerateResult const& r) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Int32Array tokens = Napi::Int32Array::New(env, r.tokens.size());
  std::copy(r.tokens.begin(), r.tokens.end(), tokens.Data());
  out.Set("tokens", tokens);
  out.Set("stopReason", stopReasonName(r.stopReason));
  out.Set("promptTokens", r.promptTokens);
  out.Set("cachedPromptTokens", r.cachedPromptTokens);
  out.Set("imageTokens", r.imageTokens);
  out.Set("forwardPasses", r.forwardPasses);
  out.Set("forcedTokens", r.forcedTokens);
  out.Set("verifyCalls", r.verifyCalls);
  out.Set("draftedTokens", r.draftedTokens);
  out.Set("acceptedDraftTokens", r.acceptedDraftTokens);
  Napi::Object t = Napi::Object::New(env);
  t.Set("preprocessMs", r.timings.preprocessMs);
  t.Set("visionMs", r.timings.visionMs);
  t.Set("embedMs", r.timings.embedMs);
  t.Set("prefillMs", r.timings.prefillMs);
  t.Set("decodeMs", r.timings.decodeMs);
  t.Set("firstTokenMs", r.timings.firstTokenMs);
  t.Set("totalMs", r.timings.totalMs);
  out.Set("timings", t);
  return out;
}

// Runs on the JS thread, in order: token batches, then the final message that settles the promise
// (so no token can arrive after the promise resolved).
void deliver(Napi::Env env, Napi::Function callback, GenerateJob* job, TokenMessage* message) {
  std::unique_ptr<TokenMessage> owned(message);
  if (env == nullptr) return;  // environment shutting down
  if (!owned->done) {
    Napi::Int32Array ids = Napi::Int32Array::New(env, owned->tokens.size());
    std::copy(owned->tokens.begin(), owned->tokens.end(), ids.Data());
    try {
      callback.Call({ids, Napi::Boolean::New(env, owned->forced)});
    } catch (Napi::Error const&) {
      // A throwing JS callback must not take the generation down; the error surfaces as unhandled.
    }
    return;
  }
  job->handle->busy().store(false);
  if (job->failed) {
    job->deferred.Reject(makeJsError(env, job->error).Value());
  } else {
    job->deferred.Resolve(resultToJs(env, job->result));
  }
  job->sessionObject.Reset();
  job->channel.Release();
}

class ChannelObserver final : public vla::TokenObserver {
 public:
  explicit ChannelObserver(TokenChannel& channel) : channel_(channel) {}
  void onTokens(std::int32_t const* tokens, int count, bool forced) override {
    auto* message = new TokenMessage{false, forced, std::vector<std::int32_t>(tokens, tokens + count)};
    if (channel_.NonBlockingCall(message) != napi_ok) delete message;
  }

 private:
  TokenChannel& channel_;
};

class GenerateWorker : public Napi::AsyncWorker {
 public:
  GenerateWorker(Napi::Env env, GenerateJob* job) : Napi::AsyncWorker(env), job_(job) {}

 protected:
  void Execute() override {
    try {
      ChannelObserver observer(job_->channel);
      job_->result = job_->session->generate(job_->request, job_->requestId, &observer);
    } catch (...) {
      job_->failed = true;
      job_->error = captureCurrentException();
    }
    job_->request.frameMemory.clear();  // frames may be freed as soon as the plan is done
    auto* done = new TokenMessage{true, false, {}};
    if (job_->channel.BlockingCall(done) != napi_ok) delete done;
  }
  void OnOK() override {}
  void OnError(Napi::Error const&) override {}

 private:
  GenerateJob* job_;
};

vla::SamplingConfig samplingFromJs(Napi::Value value) {
  vla::SamplingConfig s;
  if (!value.IsObject()) return s;
  Napi::Object o = value.As<Napi::Object>();
  s.temperature = optionalNumber(o, "temperature", 0.0);
  s.topK = static_cast<int>(optionalInteger(o, "topK", 0, 0, 1 << 24));
  s.topP = optionalNumber(o, "topP", 1.0);
  s.repetitionPenalty = optionalNumber(o, "repetitionPenalty", 1.0);
  s.seed = static_cast<std::uint64_t>(optionalInteger(o, "seed", 0, 0, 9007199254740991LL));
  return s;
}

class PrepareWorker : public PromiseWorker {
 public:
  PrepareWorker(Napi::Env env, std::shared_ptr<vla::VlaSession> session, std::vector<vla::FrameView> views,
                std::vector<std::shared_ptr<FrameMemory>> memory, bool pixels)
      : PromiseWorker(env), session_(std::move(session)), views_(std::move(views)), memory_(std::move(memory)), pixels_(pixels) {}

 protected:
  void run() override { inputs_ = session_->preprocess(views_, pixels_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("grids", gridsToJs(env, inputs_.grids));
    if (pixels_) {
      Napi::Array images = Napi::Array::New(env, inputs_.grids.size());
      std::size_t offset = 0;
      std::size_t const patchDim = inputs_.pixelValues.size() / static_cast<std::size_t>(std::max(inputs_.totalPatches(), 1));
      for (std::size_t i = 0; i < inputs_.grids.size(); ++i) {
        std::size_t const n = static_cast<std::size_t>(inputs_.grids[i].patches()) * patchDim;
        Napi::Float32Array values = Napi::Float32Array::New(env, n);
        std::copy(inputs_.pixelValues.begin() + static_cast<std::ptrdiff_t>(offset),
                  inputs_.pixelValues.begin() + static_cast<std::ptrdiff_t>(offset + n), values.Data());
        images.Set(static_cast<std::uint32_t>(i), values);
        offset += n;
      }
      out.Set("pixelValues", images);
    }
    auto int32s = [&](std::vector<std::int32_t> const& v) {
      Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    auto int64s = [&](std::vector<std::int64_t> const& v) {
      Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
      for (std::size_t i = 0; i < v.size(); ++i) a[i] = static_cast<std::int32_t>(v[i]);
      return a;
    };
    out.Set("cuSeqlens", int32s(inputs_.cuSeqlens));
    out.Set("cuWindowSeqlens", int32s(inputs_.cuWindowSeqlens));
    out.Set("windowIndex", int64s(inputs_.windowIndex));
    out.Set("reverseWindowIndex", int64s(inputs_.reverseWindowIndex));
    Napi::Float32Array rotary = Napi::Float32Array::New(env, inputs_.rotaryPosEmb.size());
    std::copy(inputs_.rotaryPosEmb.begin(), inputs_.rotaryPosEmb.end(), rotary.Data());
    out.Set("rotaryPosEmb", rotary);
    return out;
  }

 private:
  std::shared_ptr<vla::VlaSession> session_;
  std::vector<vla::FrameView> views_;
  std::vector<std::shared_ptr<FrameMemory>> memory_;
  bool pixels_;
  vla::VisionInputs inputs_;
};

// ---- evaluate / encodeImages ------------------------------------------------------------------------

// Holds a session's one-request-at-a-time claim for a promise worker, and the session's JS object
// (so the handle outlives the work). Released on the JS thread, when the worker is deleted after its
// promise settled.
class SessionClaim {
 public:
  SessionClaim(SessionHandle* handle, Napi::Object object) : handle_(handle) {
    bool expected = false;
    TV_CHECK_ARG(handle->busy().compare_exchange_strong(expected, true), "this session is already running a request (one at a time)");
    object_ = Napi::Persistent(object);
  }
  SessionClaim(SessionClaim const&) = delete;
  SessionClaim& operator=(SessionClaim const&) = delete;
  ~SessionClaim() { handle_->busy().store(false); }

 private:
  SessionHandle* handle_;
  Napi::ObjectReference object_;
};

Napi::Float32Array floatsToJs(Napi::Env env, float const* values, std::size_t count) {
  Napi::Float32Array out = Napi::Float32Array::New(env, count);
  std::copy(values, values + count, out.Data());
  return out;
}

Napi::Array logitsToJs(Napi::Env env, std::vector<std::vector<float>> const& rows) {
  Napi::Array out = Napi::Array::New(env, rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) out.Set(static_cast<std::uint32_t>(i), floatsToJs(env, rows[i].data(), rows[i].size()));
  return out;
}

// Per image, its rows of [imageTokens, hidden] embeddings (grids give each image's tokens).
Napi::Array imageRowsToJs(Napi::Env env, std::vector<vla::ImageGrid> const& grids, std::vector<float> const& values, int hidden, int merge) {
  Napi::Array out = Napi::Array::New(env, grids.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < grids.size(); ++i) {
    std::size_t const n = static_cast<std::size_t>(grids[i].patches() / (merge * merge)) * static_cast<std::size_t>(hidden);
    TV_CHECK_INTERNAL(offset + n <= values.size(), "image embeddings shorter than their grids");
    out.Set(static_cast<std::uint32_t>(i), floatsToJs(env, values.data() + offset, n));
    offset += n;
  }
  return out;
}

class EvaluateWorker : public PromiseWorker {
 public:
  EvaluateWorker(Napi::Env env, std::unique_ptr<SessionClaim> claim, std::shared_ptr<vla::VlaSession> session, vla::EvaluateRequest request,
                 std::uint64_t requestId, int merge)
      : PromiseWorker(env), claim_(std::move(claim)), session_(std::move(session)), request_(std::move(request)), requestId_(requestId), merge_(merge) {}

 protected:
  void run() override {
    result_ = session_->evaluate(request_, requestId_);
    request_.frameMemory.clear();  // frames may be freed as soon as the request is done
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("positionLogits", logitsToJs(env, result_.positionLogits));
    out.Set("stepLogits", logitsToJs(env, result_.stepLogits));
    Napi::Int32Array tokens = Napi::Int32Array::New(env, result_.tokens.size());
    std::copy(result_.tokens.begin(), result_.tokens.end(), tokens.Data());
    out.Set("tokens", tokens);
    out.Set("grids", gridsToJs(env, result_.grids));
    if (request_.imageEmbeddings && !result_.grids.empty()) {
      int const hidden = result_.imageTokens > 0 ? static_cast<int>(result_.imageEmbeddings.size() / static_cast<std::size_t>(result_.imageTokens)) : 0;
      out.Set("imageEmbeddings", imageRowsToJs(env, result_.grids, result_.imageEmbeddings, hidden, merge_));
    }
    out.Set("promptTokens", result_.promptTokens);
    out.Set("imageTokens", result_.imageTokens);
    out.Set("llmCalls", result_.llmCalls);
    return out;
  }

 private:
  std::unique_ptr<SessionClaim> claim_;
  std::shared_ptr<vla::VlaSession> session_;
  vla::EvaluateRequest request_;
  std::uint64_t requestId_;
  int merge_;
  vla::EvaluateResult result_;
};

class EncodeImagesWorker : public PromiseWorker {
 public:
  EncodeImagesWorker(Napi::Env env, std::unique_ptr<SessionClaim> claim, std::shared_ptr<vla::VlaSession> session,
                     std::vector<vla::FrameView> views, std::vector<std::shared_ptr<FrameMemory>> memory, int merge)
      : PromiseWorker(env), claim_(std::move(claim)), session_(std::move(session)), views_(std::move(views)), memory_(std::move(memory)), merge_(merge) {}

 protected:
  void run() override {
    embeddings_ = session_->encodeImages(views_);
    memory_.clear();
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("grids", gridsToJs(env, embeddings_.grids));
    out.Set("hidden", embeddings_.hidden);
    out.Set("embeddings", imageRowsToJs(env, embeddings_.grids, embeddings_.values, embeddings_.hidden, merge_));
    return out;
  }

 private:
  std::unique_ptr<SessionClaim> claim_;
  std::shared_ptr<vla::VlaSession> session_;
  std::vector<vla::FrameView> views_;
  std::vector<std::shared_ptr<FrameMemory>> memory_;
  int merge_;
  vla::ImageEmbeddings embeddings_;
};

}  // namespace

// ---- ModelHandle ------------------------------------------------------------------------------------

Napi::Function ModelHandle::defineClass(Napi::Env env) {
  return DefineClass(env, "ModelHandle",
                     {
                         InstanceMethod<&ModelHandle::createSession>("createSession"),
                         InstanceMethod<&ModelHandle::imageGrids>("imageGrids"),
                         InstanceMethod<&ModelHandle::positions>("positions"),
                         InstanceMethod<&ModelHandle::ropeTable>("ropeTable"),
                         InstanceMethod<&ModelHandle::describe>("describe"),
                         InstanceMethod<&ModelHandle::takeBindingLog>("takeBindingLog"),
                         InstanceMethod<&ModelHandle::dispose>("dispose"),
                     });
}

ModelHandle::ModelHandle(Napi::CallbackInfo const& info) : Napi::ObjectWrap<ModelHandle>(info) {}

void ModelHandle::adopt(std::shared_ptr<vla::VlaModel> model) { model_ = std::move(model); }

std::shared_ptr<vla::VlaModel const> ModelHandle::model() const {
  TV_CHECK(model_ != nullptr, ErrorCode::kDisposed, "this model was disposed");
  return model_;
}

Napi::Value ModelHandle::createSession(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    Napi::Object session = addonData(info.Env())->sessionConstructor.New({});
    SessionHandle::Unwrap(session)->attach(Value(), m);
    return session;
  });
}

// imageGrids(sizes: {width, height}[]) -> [t, h, w][]
Napi::Value ModelHandle::imageGrids(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    TV_CHECK_ARG(info[0].IsArray(), "imageGrids(sizes)");
    Napi::Array sizes = info[0].As<Napi::Array>();
    std::vector<vla::ImageGrid> grids;
    for (std::uint32_t i = 0; i < sizes.Length(); ++i) {
      Napi::Object s = requireObject(sizes.Get(i), "image size");
      int const w = static_cast<int>(optionalInteger(s, "width", 0, 1, 1 << 20));
      int const h = static_cast<int>(optionalInteger(s, "height", 0, 1, 1 << 20));
      grids.push_back(vla::modelGrid(w, h, m->preprocess));
    }
    // The first step of every request with images: refuse here what the vision engine cannot take.
    vla::checkImageTokens(grids, m->preprocess);
    return gridsToJs(info.Env(), grids);
  });
}

// positions(inputIds: Int32Array, grids) -> [t, h, w] Int32Arrays over the prompt (M-RoPE ids).
Napi::Value ModelHandle::positions(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    std::vector<std::int32_t> const ids = int32sFromJs(info[0], "inputIds");
    std::vector<vla::ImageGrid> const grids = gridsFromJs(info[1]);
    int const n = static_cast<int>(ids.size());
    vla::MropePositions const p = vla::mropePositions(ids.data(), n, std::max(n, 1), m->tokens.imagePad, grids, m->preprocess.mergeSize);
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, 3);
    std::vector<std::int32_t> const* axes[3] = {&p.t, &p.h, &p.w};
    for (std::uint32_t a = 0; a < 3; ++a) {
      Napi::Int32Array values = Napi::Int32Array::New(env, static_cast<std::size_t>(n));
      std::copy(axes[a]->begin(), axes[a]->begin() + n, values.Data());
      out.Set(a, values);
    }
    return out;
  });
}

// ropeTable(inputIds: Int32Array, grids) -> Float32Array [kvCapacity, headDim]: the M-RoPE cos/sin table
// a request binds as rope_rotary_cos_sin (rows past the prompt: the positions of generated tokens).
Napi::Value ModelHandle::ropeTable(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    std::vector<std::int32_t> const ids = int32sFromJs(info[0], "inputIds");
    std::vector<vla::ImageGrid> const grids = gridsFromJs(info[1]);
    int const n = static_cast<int>(ids.size());
    TV_CHECK_ARG(n >= 1 && n < m->kvCapacity, "the prompt has ", n, " tokens; the KV cache holds ", m->kvCapacity);
    vla::TextModelInfo const& t = m->text;
    vla::MropePositions const p = vla::mropePositions(ids.data(), n, m->kvCapacity, m->tokens.imagePad, grids, m->preprocess.mergeSize);
    Napi::Float32Array table = Napi::Float32Array::New(info.Env(), static_cast<std::size_t>(m->kvCapacity) * static_cast<std::size_t>(t.headDim));
    vla::mropeCosSin(p, 0, m->kvCapacity, t.headDim, t.mropeSection, t.ropeTheta, table.Data());
    return table;
  });
}

Napi::Value ModelHandle::describe(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("backend", m->backend);
    out.Set("pipeline", m->pipeline->name());
    out.Set("hiddenSize", m->text.hiddenSize);
    out.Set("layers", m->text.layers);
    out.Set("vocabSize", m->text.vocabSize);
    out.Set("kvCapacity", m->kvCapacity);
    out.Set("maxInputLength", m->maxInputLength);
    out.Set("hasVision", m->vision != nullptr);
    out.Set("threads", m->pool ? m->pool->size() : 0);
    out.Set("weightBytes", m->weightBytes);
    if (!m->lmHead.empty()) out.Set("lmHead", m->lmHead);
    out.Set("logitsWidth", m->logitsWidth());
    out.Set("maxVerifyTokens", m->maxVerifyTokens);
    out.Set("imagePad", m->tokens.imagePad);
    if (m->vision) {
      // What one request's images may be (the visual engine's profile, lowered by loadModel's options).
      vla::ImageTokenLimits const& l = m->preprocess.imageTokens;
      Napi::Object tokens = Napi::Object::New(env);
      tokens.Set("minPerImage", l.minPerImage);
      tokens.Set("maxPerImage", l.maxPerImage);
      tokens.Set("maxTotal", l.maxTotal);
      tokens.Set("maxImages", l.maxImages);
      out.Set("imageTokens", tokens);
    }
    out.Set("headDim", m->text.headDim);
    return out;
  });
}

// takeBindingLog() -> the engine calls recorded since the last take (models loaded with
// testing.recordBindings), as { engine, kind, name?, dims?, address?, profile? } objects.
Napi::Value ModelHandle::takeBindingLog(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaModel const> m = model();
    TV_CHECK_ARG(m->bindingLog != nullptr, "this model was not loaded with testing.recordBindings");
    Napi::Env env = info.Env();
    std::vector<engine::BindingEvent> const events = m->bindingLog->take();
    Napi::Array out = Napi::Array::New(env, events.size());
    char const* kinds[] = {"profile", "shape", "address", "outputRows", "enqueue"};
    for (std::size_t i = 0; i < events.size(); ++i) {
      engine::BindingEvent const& e = events[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("engine", e.engine);
      o.Set("kind", kinds[static_cast<int>(e.kind)]);
      if (!e.name.empty()) o.Set("name", e.name);
      if (e.kind == engine::BindingEvent::Kind::kShape || e.kind == engine::BindingEvent::Kind::kOutputRows) {
        Napi::Array dims = Napi::Array::New(env, e.dims.size());
        for (std::size_t d = 0; d < e.dims.size(); ++d) dims.Set(static_cast<std::uint32_t>(d), static_cast<double>(e.dims[d]));
        o.Set("dims", dims);
      }
      if (e.kind == engine::BindingEvent::Kind::kAddress) o.Set("address", Napi::BigInt::New(env, static_cast<std::uint64_t>(e.address)));
      if (e.kind == engine::BindingEvent::Kind::kProfile) o.Set("profile", e.profile);
      out.Set(static_cast<std::uint32_t>(i), o);
    }
    return out;
  });
}

Napi::Value ModelHandle::dispose(Napi::CallbackInfo const& info) {
  // Running requests stop at their next check with ERR_DISPOSED; sessions and running plans hold their
  // own references, so the memory goes when the last of them ends.
  if (model_) model_->disposed.store(true);
  model_.reset();
  return info.Env().Undefined();
}

ModelHandle::~ModelHandle() {
  if (!model_) return;
  // Collected without dispose(): the memory and threads are released here (once no session holds the
  // model), but later than the user meant to; said once per process so the leak is found and fixed.
  model_->disposed.store(true);
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    log(LogLevel::kWarning, "model",
        "a model was garbage-collected without dispose(): its memory and threads were held until now; call "
        "model.dispose() (or use `await using`) when done with it");
  }
}

// ---- SessionHandle ----------------------------------------------------------------------------------

Napi::Function SessionHandle::defineClass(Napi::Env env) {
  return DefineClass(env, "SessionHandle",
                     {
                         InstanceMethod<&SessionHandle::generate>("generate"),
                         InstanceMethod<&SessionHandle::prepare>("prepare"),
                         InstanceMethod<&SessionHandle::evaluate>("evaluate"),
                         InstanceMethod<&SessionHandle::encodeImages>("encodeImages"),
                         InstanceMethod<&SessionHandle::abort>("abort"),
                         InstanceMethod<&SessionHandle::clearPrefixCache>("clearPrefixCache"),
                         InstanceAccessor<&SessionHandle::cachedTokens>("cachedTokens"),
                         InstanceMethod<&SessionHandle::dispose>("dispose"),
                     });
}

SessionHandle::SessionHandle(Napi::CallbackInfo const& info) : Napi::ObjectWrap<SessionHandle>(info) {}

void SessionHandle::attach(Napi::Object model, std::shared_ptr<vla::VlaModel const> vlaModel) {
  model_ = Napi::Persistent(model);
  session_ = std::make_shared<vla::VlaSession>(std::move(vlaModel));
}

std::shared_ptr<vla::VlaSession> SessionHandle::session() const {
  TV_CHECK(session_ != nullptr, ErrorCode::kDisposed, "this session was disposed");
  return session_;
}

// generate({ inputIds: Int32Array, images: NativeFrame[], sampling, maxNewTokens, stopTokens: Int32Array,
//            usePrefixCache, requestId }, onTokens(ids: Int32Array, forced: boolean)) -> Promise<result>
Napi::Value SessionHandle::generate(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaSession> session = this->session();
    Napi::Object request = requireObject(info[0], "request");
    TV_CHECK_ARG(info[1].IsFunction(), "generate(request, onTokens)");
    auto job = std::make_unique<GenerateJob>(env);
    job->request.inputIds = int32sFromJs(request.Get("inputIds"), "inputIds");
    Napi::Value images = request.Get("images");
    if (!images.IsUndefined()) framesFromJs(images, job->request.frames, job->request.frameMemory);
    job->request.sampling = samplingFromJs(request.Get("sampling"));
    job->request.maxNewTokens = static_cast<int>(optionalInteger(request, "maxNewTokens", 256, 1, 1 << 20));
    Napi::Value stops = request.Get("stopTokens");
    if (!stops.IsUndefined()) job->request.stopTokens = int32sFromJs(stops, "stopTokens");
    Napi::Value grammar = request.Get("grammar");
    if (!grammar.IsUndefined() && !grammar.IsNull()) job->request.constraint = GrammarHandle::unwrap(grammar)->constraint();
    job->request.usePrefixCache = request.Get("usePrefixCache").IsUndefined() || request.Get("usePrefixCache").ToBoolean().Value();
    Napi::Value bias = request.Get("testingBias");
    if (bias.IsObject()) {
      Napi::Object b = bias.As<Napi::Object>();
      job->request.biasTokens = int32sFromJs(b.Get("tokens"), "testingBias.tokens");
      job->request.biasValue = static_cast<float>(optionalNumber(b, "value", 0));
    }
    job->request.maxDraft = static_cast<int>(optionalInteger(request, "maxDraft", 0, 0, 128));
    job->request.vocabLimit = static_cast<int>(optionalInteger(request, "vocabLimit", 0, 0, 1 << 30));
    Napi::Value drafter = request.Get("drafter");
    if (!drafter.IsUndefined()) {
      TV_CHECK_ARG(job->request.constraint != nullptr, "drafter: speculative waypoint drafting needs the request's grammar");
      job->request.drafter = parseDrafterSpec(drafter, job->request.constraint);
    }
    Napi::Value script = request.Get("testingDraftScript");
    if (!script.IsUndefined()) job->request.drafter = std::make_shared<vla::ScriptedDrafter const>(int32sFromJs(script, "testingDraftScript"));
    job->requestId = static_cast<std::uint64_t>(optionalInteger(request, "requestId", 0, 1, 9007199254740991LL));
    TV_CHECK_ARG(job->requestId != 0, "generate needs a non-zero requestId");
    bool expected = false;
    TV_CHECK_ARG(busy_.compare_exchange_strong(expected, true), "this session is already running a plan (one at a time)");
    try {
      job->session = std::move(session);
      job->handle = this;
      job->sessionObject = Napi::Persistent(Value());
      Napi::Promise promise = job->deferred.Promise();
      job->channel = TokenChannel::New(env, info[1].As<Napi::Function>(), "trt-vla tokens", 0, 1, job.get(),
                                       [](Napi::Env, void*, GenerateJob* j) { delete j; });
      GenerateJob* raw = job.release();  // owned by the channel from here on (deleted by its finalizer)
      (new GenerateWorker(env, raw))->Queue();
      return promise;
    } catch (...) {
      busy_.store(false);
      throw;
    }
  });
}

Napi::Value SessionHandle::prepare(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::vector<vla::FrameView> views;
    std::vector<std::shared_ptr<FrameMemory>> memory;
    framesFromJs(info[0], views, memory);
    TV_CHECK_ARG(!views.empty(), "prepare needs at least one frame");
    auto* worker = new PrepareWorker(env, session(), std::move(views), std::move(memory), info[1].ToBoolean().Value());
    worker->Queue();
    return worker->promise();
  });
}

// evaluate({ inputIds, images, positions: Int32Array, steps, forcedTokens: Int32Array, stopTokens, imageEmbeddings,
//            requestId }) -> Promise<{ positionLogits, stepLogits: Float32Array[], tokens, grids, imageEmbeddings?, ... }>
Napi::Value SessionHandle::evaluate(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaSession> session = this->session();
    Napi::Object request = requireObject(info[0], "request");
    vla::EvaluateRequest r;
    r.inputIds = int32sFromJs(request.Get("inputIds"), "inputIds");
    Napi::Value images = request.Get("images");
    if (!images.IsUndefined()) framesFromJs(images, r.frames, r.frameMemory);
    std::vector<std::int32_t> const positions = int32sFromJs(request.Get("positions"), "positions");
    r.positions.assign(positions.begin(), positions.end());
    r.steps = static_cast<int>(optionalInteger(request, "steps", 0, 0, 1 << 20));
    Napi::Value forced = request.Get("forcedTokens");
    if (!forced.IsUndefined()) r.forcedTokens = int32sFromJs(forced, "forcedTokens");
    Napi::Value stops = request.Get("stopTokens");
    if (!stops.IsUndefined()) r.stopTokens = int32sFromJs(stops, "stopTokens");
    r.imageEmbeddings = optionalBoolean(request, "imageEmbeddings", false);
    auto const requestId = static_cast<std::uint64_t>(optionalInteger(request, "requestId", 0, 1, 9007199254740991LL));
    TV_CHECK_ARG(requestId != 0, "evaluate needs a non-zero requestId");
    auto claim = std::make_unique<SessionClaim>(this, Value());
    int const merge = session->model().preprocess.mergeSize;
    auto* worker = new EvaluateWorker(env, std::move(claim), std::move(session), std::move(r), requestId, merge);
    worker->Queue();
    return worker->promise();
  });
}

// encodeImages(frames) -> Promise<{ grids, hidden, embeddings: Float32Array[] }>: the vision engine's output per image.
Napi::Value SessionHandle::encodeImages(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::shared_ptr<vla::VlaSession> session = this->session();
    std::vector<vla::FrameView> views;
    std::vector<std::shared_ptr<FrameMemory>> memory;
    framesFromJs(info[0], views, memory);
    TV_CHECK_ARG(!views.empty(), "encodeImages needs at least one frame");
    auto claim = std::make_unique<SessionClaim>(this, Value());
    int const merge = session->model().preprocess.mergeSize;
    auto* worker = new EncodeImagesWorker(env, std::move(claim), std::move(session), std::move(views), std::move(memory), merge);
    worker->Queue();
    return worker->promise();
  });
}

Napi::Value SessionHandle::abort(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsNumber(), "abort(requestId)");
    if (session_) session_->requestAbort(static_cast<std::uint64_t>(info[0].As<Napi::Number>().Int64Value()));
    return info.Env().Undefined();
  });
}

Napi::Value SessionHandle::clearPrefixCache(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(!busy_.load(), "cannot clear the prefix cache while a plan runs");
    session()->clearPrefixCache();
    return info.Env().Undefined();
  });
}

Napi::Value SessionHandle::cachedTokens(Napi::CallbackInfo const& info) {
  return Napi::Number::New(info.Env(), session_ && !busy_.load() ? session_->cachedTokens() : 0);
}

Napi::Value SessionHandle::dispose(Napi::CallbackInfo const& info) {
  session_.reset();  // a running plan keeps its own reference and finishes first
  return info.Env().Undefined();
}

// ---- GrammarHandle ----------------------------------------------------------------------------------

namespace {
napi_type_tag const kGrammarTypeTag = {0x2c8b1f4d7e6a5039ULL, 0x9d0e3f2a1b4c5d6eULL};

template <typename T, typename Array>
std::vector<T> typedVector(Napi::Object const& o, char const* key) {
  Napi::Value v = o.Get(key);
  TV_CHECK_ARG(v.IsTypedArray(), "grammar: expected a typed array for ", key);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  TV_CHECK_ARG(t.ElementSize() == sizeof(T), "grammar: wrong element type for ", key);
  auto const* data = reinterpret_cast<T const*>(static_cast<std::uint8_t const*>(t.ArrayBuffer().Data()) + t.ByteOffset());
  return std::vector<T>(data, data + t.ElementLength());
}
}  // namespace

Napi::Function GrammarHandle::defineClass(Napi::Env env) { return DefineClass(env, "GrammarHandle", {}); }

// new GrammarHandle(automaton)
GrammarHandle::GrammarHandle(Napi::CallbackInfo const& info) : Napi::ObjectWrap<GrammarHandle>(info) {
  guard(info.Env(), [&] {
    Napi::Object a = requireObject(info[0], "grammar automaton");
    TV_CHECK_ARG(optionalInteger(a, "version", 1, 1, 1) == 1, "grammar: unsupported format version");
    vla::GrammarArrays g;
    g.numStates = static_cast<int>(optionalInteger(a, "numStates", 0, 1, 1 << 24));
    g.start = static_cast<int>(optionalInteger(a, "start", 0, 0, 1 << 24));
    g.textVocabSize = static_cast<int>(optionalInteger(a, "textVocabSize", 0, 1, 1 << 24));
    g.vocabSize = static_cast<int>(optionalInteger(a, "vocabSize", 0, 1, 1 << 24));
    g.kind = typedVector<std::uint8_t, Napi::Uint8Array>(a, "kind");
    g.accepting = typedVector<std::uint8_t, Napi::Uint8Array>(a, "accepting");
    g.transOffsets = typedVector<std::int32_t, Napi::Int32Array>(a, "transOffsets");
    g.transTokens = typedVector<std::int32_t, Napi::Int32Array>(a, "transTokens");
    g.transNext = typedVector<std::int32_t, Napi::Int32Array>(a, "transNext");
    g.defaultNext = typedVector<std::int32_t, Napi::Int32Array>(a, "defaultNext");
    g.fallback = typedVector<std::int32_t, Napi::Int32Array>(a, "fallback");
    g.forcedOffsets = typedVector<std::int32_t, Napi::Int32Array>(a, "forcedOffsets");
    g.forcedTokens = typedVector<std::int32_t, Napi::Int32Array>(a, "forcedTokens");
    g.forcedEnd = typedVector<std::int32_t, Napi::Int32Array>(a, "forcedEnd");
    constraint_ = std::make_shared<vla::GrammarConstraint>(std::move(g));
  });
  napi_type_tag_object(info.Env(), info.This(), &kGrammarTypeTag);
}

GrammarHandle* GrammarHandle::unwrap(Napi::Value value) {
  bool tagged = false;
  if (value.IsObject()) napi_check_object_type_tag(value.Env(), value, &kGrammarTypeTag, &tagged);
  TV_CHECK_ARG(tagged, "Expected a compiled grammar for grammar");
  return Napi::ObjectWrap<GrammarHandle>::Unwrap(value.As<Napi::Object>());
}

Napi::Value loadModel(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto* worker = new LoadModelWorker(env, parseLoadSpec(requireObject(info[0], "model spec")));
    worker->Queue();
    return worker->promise();
  });
}

}  // namespace tv::napi
