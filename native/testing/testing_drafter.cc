// Test hooks of the native waypoint drafter (test/native/waypointDrafter.test.ts): a drafter built
// from a JavaScript spec and a compiled grammar exactly as a request builds it (parseDrafterSpec), so
// the tests compare its drafts with the TypeScript reference at every grammar state of real answers.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "napi/drafter_spec.h"
#include "napi/js_error.h"
#include "napi/model_wrap.h"
#include "testing/testing.h"
#include "vla/waypoint_drafter.h"

namespace tv::napi {

namespace {

std::vector<std::int32_t> answerIds(Napi::Value value) {
  TV_CHECK_ARG(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array,
               "Expected an Int32Array of answer token ids");
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  return std::vector<std::int32_t>(a.Data(), a.Data() + a.ElementLength());
}

int intArgument(Napi::Value value, char const* what) {
  TV_CHECK_ARG(value.IsNumber(), "Expected a number for ", what);
  return value.As<Napi::Number>().Int32Value();
}

vla::NumberStyle parseStyle(Napi::Value value) {
  std::string const style = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  TV_CHECK_ARG(style == "round2" || style == "fixed2", "Expected 'round2' or 'fixed2'");
  return style == "round2" ? vla::NumberStyle::kRound2 : vla::NumberStyle::kFixed2;
}

// waypointDrafter(spec, grammarHandle) -> { draft(answer, state, maxDraft), predictContinuation(text),
// timeDraft(answer, state, maxDraft, reps) }
Napi::Value waypointDrafter(Napi::CallbackInfo const& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto const drafter = std::dynamic_pointer_cast<vla::WaypointDrafter const>(parseDrafterSpec(info[0], GrammarHandle::unwrap(info[1])->constraint()));
    TV_CHECK_INTERNAL(drafter != nullptr, "parseDrafterSpec did not build a WaypointDrafter");
    Napi::Object out = Napi::Object::New(env);
    out.Set("draft", Napi::Function::New(
                         env,
                         [drafter](Napi::CallbackInfo const& call) -> Napi::Value {
                           return guard(call.Env(), [&]() -> Napi::Value {
                             std::vector<std::int32_t> const answer = answerIds(call[0]);
                             std::vector<std::int32_t> draft;
                             drafter->draft(answer.data(), static_cast<int>(answer.size()), intArgument(call[1], "state"),
                                            intArgument(call[2], "maxDraft"), draft);
                             Napi::Int32Array result = Napi::Int32Array::New(call.Env(), draft.size());
                             std::copy(draft.begin(), draft.end(), result.Data());
                             return result;
                           });
                         },
                         "draft"));
    out.Set("predictContinuation", Napi::Function::New(
                                       env,
                                       [drafter](Napi::CallbackInfo const& call) -> Napi::Value {
                                         return guard(call.Env(), [&]() -> Napi::Value {
                                           TV_CHECK_ARG(call[0].IsString(), "Expected the written text");
                                           auto const text = drafter->predictContinuation(call[0].As<Napi::String>().Utf8Value());
                                           return text ? Napi::String::New(call.Env(), *text) : call.Env().Undefined();
                                         });
                                       },
                                       "predictContinuation"));
    // Seconds per draft() call, averaged over `reps` calls on the same input (the decode loop's cost per
    // verify call; the answer's copy into a vector is outside the timed loop).
    out.Set("timeDraft", Napi::Function::New(
                             env,
                             [drafter](Napi::CallbackInfo const& call) -> Napi::Value {
                               return guard(call.Env(), [&]() -> Napi::Value {
                                 std::vector<std::int32_t> const answer = answerIds(call[0]);
                                 int const state = intArgument(call[1], "state");
                                 int const maxDraft = intArgument(call[2], "maxDraft");
                                 int const reps = intArgument(call[3], "reps");
                                 TV_CHECK_ARG(reps >= 1 && reps <= 10'000'000, "Expected 1 to 10000000 reps");
                                 std::vector<std::int32_t> draft;
                                 std::size_t drafted = 0;
                                 auto const t0 = std::chrono::steady_clock::now();
                                 for (int r = 0; r < reps; ++r) {
                                   draft.clear();
                                   drafter->draft(answer.data(), static_cast<int>(answer.size()), state, maxDraft, draft);
                                   drafted += draft.size();
                                 }
                                 std::chrono::duration<double> const elapsed = std::chrono::steady_clock::now() - t0;
                                 TV_CHECK_INTERNAL(drafted == draft.size() * static_cast<std::size_t>(reps), "drafts differ between calls");
                                 return Napi::Number::New(call.Env(), elapsed.count() / reps);
                               });
                             },
                             "timeDraft"));
    return out;
  });
}

// formatNumberNear(value, prefix, style) -> string | undefined; formatCoordinate(value, style) -> string
Napi::Value formatNumberNear(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsNumber() && info[1].IsString(), "formatNumberNear(value, prefix, style)");
    auto const text = vla::formatNumberNear(info[0].As<Napi::Number>().DoubleValue(), info[1].As<Napi::String>().Utf8Value(), parseStyle(info[2]));
    return text ? Napi::String::New(info.Env(), *text) : info.Env().Undefined();
  });
}

Napi::Value formatCoordinate(Napi::CallbackInfo const& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    TV_CHECK_ARG(info[0].IsNumber(), "formatCoordinate(value, style)");
    return Napi::String::New(info.Env(), vla::formatDrafterCoordinate(info[0].As<Napi::Number>().DoubleValue(), parseStyle(info[1])));
  });
}

}  // namespace

void addDrafterHooks(Napi::Env env, Napi::Object testing) {
  // The production addon's grammar class, so a test hands the drafter the same constraint a request has.
  testing.Set("GrammarHandle", GrammarHandle::defineClass(env));
  testing.Set("waypointDrafter", Napi::Function::New(env, waypointDrafter, "waypointDrafter"));
  Napi::Object drafterNumbers = Napi::Object::New(env);
  drafterNumbers.Set("formatNumberNear", Napi::Function::New(env, formatNumberNear, "formatNumberNear"));
  drafterNumbers.Set("formatCoordinate", Napi::Function::New(env, formatCoordinate, "formatCoordinate"));
  testing.Set("drafterNumbers", drafterNumbers);
}

}  // namespace tv::napi
