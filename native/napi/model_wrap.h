// JS handles of a loaded model and its sessions (the native half of lib/model.ts).
//
//   loadModel(spec) -> Promise<ModelHandle>        engines + embedding table + configs
//   model.createSession() -> SessionHandle          own execution contexts, KV cache, prefix cache
//   model.imageGrids([{width, height}]) -> [t,h,w][] patch grids (no pixel work)
//   session.generate(request, onTokens) -> Promise   runs off the JS thread; tokens stream to onTokens
//   session.prepare(frames, pixelValues) -> Promise  preprocessing only (model.prepare)
//   session.evaluate(request) -> Promise             logits of chosen positions and greedy steps (parity)
//   session.encodeImages(frames) -> Promise          the vision engine's output per image
//   session.abort(requestId)                        stops that request within one engine call
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "core/thread_pool.h"
#include "vla/session.h"

namespace tv::napi {

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  explicit ModelHandle(Napi::CallbackInfo const& info);
  ~ModelHandle() override;
  void adopt(std::shared_ptr<vla::VlaModel> model);
  std::shared_ptr<vla::VlaModel const> model() const;

 private:
  Napi::Value createSession(Napi::CallbackInfo const& info);
  Napi::Value imageGrids(Napi::CallbackInfo const& info);
  Napi::Value positions(Napi::CallbackInfo const& info);
  Napi::Value ropeTable(Napi::CallbackInfo const& info);
  Napi::Value describe(Napi::CallbackInfo const& info);
  Napi::Value takeBindingLog(Napi::CallbackInfo const& info);
  Napi::Value dispose(Napi::CallbackInfo const& info);

  std::shared_ptr<vla::VlaModel> model_;
};

class SessionHandle : public Napi::ObjectWrap<SessionHandle> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  explicit SessionHandle(Napi::CallbackInfo const& info);
  void attach(Napi::Object model, std::shared_ptr<vla::VlaModel const> vlaModel);

  std::shared_ptr<vla::VlaSession> session() const;
  std::atomic<bool>& busy() { return busy_; }

 private:
  Napi::Value generate(Napi::CallbackInfo const& info);
  Napi::Value prepare(Napi::CallbackInfo const& info);
  Napi::Value evaluate(Napi::CallbackInfo const& info);
  Napi::Value encodeImages(Napi::CallbackInfo const& info);
  Napi::Value abort(Napi::CallbackInfo const& info);
  Napi::Value clearPrefixCache(Napi::CallbackInfo const& info);
  Napi::Value cachedTokens(Napi::CallbackInfo const& info);
  Napi::Value dispose(Napi::CallbackInfo const& info);

  Napi::ObjectReference model_;  // the model outlives its sessions
  std::shared_ptr<vla::VlaSession> session_;
  std::atomic<bool> busy_{false};
};

// A compiled answer grammar (lib/action/grammarAutomaton.ts arrays) held natively; passed to
// session.generate as request.grammar. createGrammar(automaton) -> GrammarHandle.
class GrammarHandle : public Napi::ObjectWrap<GrammarHandle> {
 public:
  static Napi::Function defineClass(Napi::Env env);
  explicit GrammarHandle(Napi::CallbackInfo const& info);
  std::shared_ptr<vla::TokenConstraint const> constraint() const { return constraint_; }
  static GrammarHandle* unwrap(Napi::Value value);

 private:
  std::shared_ptr<vla::TokenConstraint const> constraint_;
};

Napi::Value loadModel(Napi::CallbackInfo const& info);

}  // namespace tv::napi
