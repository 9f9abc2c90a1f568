// The host pipeline of one plan, backend-agnostic: frames -> preprocess -> vision engine -> embeddings
// with the image spliced in -> M-RoPE table -> prefill (profile 0, chunked where needed, reusing the
// cached prompt prefix) -> decode loop (profile 1) with sampling, a per-step token constraint and
// jump-forward of forced tokens -> stop. Talks to engines only through engine/engine.h; all engine
// memory goes through EngineMemory, so the same code drives CPU and TensorRT engines. The steps that
// compute next to the engines' memory (preprocessing, embeddings, rope table, sampling) go through
// the model's PipelineOps (pipeline_ops.h): on the CPU for host memory, CUDA kernels for device memory.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "engine/engine.h"
#include "engine/vocab_map.h"
#include "vla/embedding.h"
#include "vla/engine_memory.h"
#include "vla/frame.h"
#include "vla/preprocess.h"
#include "vla/sampler.h"

namespace tv::engine {
class BindingLog;
}

namespace tv::vla {

class PipelineOps;
class PipelineOpsFactory;

// What the pipeline needs to know about the language model (from its config).
struct TextModelInfo {
  int hiddenSize = 0;
  int layers = 0;
  int kvHeads = 0;
  int headDim = 0;
  int vocabSize = 0;
  std::array<int, 3> mropeSection{16, 24, 24};
  double ropeTheta = 1e6;
};

struct SpecialTokens {
  std::int32_t imagePad = 151655;
  std::int32_t visionStart = 151652;
};

// A model: engines (shared by every session; each session has its own execution contexts), the token
// embedding table and the configs. Immutable once loaded.
struct VlaModel {
  std::unique_ptr<engine::Engine> llm;
  std::unique_ptr<engine::Engine> vision;
  std::unique_ptr<EngineMemory> memory;
  EmbeddingTable embedding;
  TextModelInfo text;
  PreprocessConfig preprocess;
  SpecialTokens tokens;
  int kvCapacity = 0;      // the LLM engine's maximum KV capacity
  int maxInputLength = 0;  // the most tokens one prefill call takes
  // An EAGLE-base LLM engine (eagle_base.engine): the most tokens it verifies in one call (its
  // --maxVerifyTreeSize); 0 for a vanilla engine. Prefill and decode bind its extra tensors.
  int maxVerifyTokens = 0;
  // Forced runs shorter than this go through decode steps (session.cc, kDecodeStepsBelow); tests
  // change it to run both paths on one model.
  int decodeStepsBelow = 0;
  std::string backend;     // "cpu" | "tensorrt"
  double weightBytes = 0;  // LLM weights as stored (the bytes a decode step streams)
  std::string lmHead;      // CPU: the LM head's storage ("q8", "fp16", ...); empty for TensorRT
  std::shared_ptr<ThreadPool> pool;  // CPU engines' and host work's threads (null: none)
  // Reduced-vocabulary engines: their logits are indexed by reduced id. The session maps them back
  // into full-vocabulary logits (ids outside the map at -inf), so sampling, stop tokens and grammars
  // all work with the tokenizer's ids.
  std::shared_ptr<engine::VocabMap const> vocabMap;
  std::shared_ptr<engine::BindingLog> bindingLog;  // tests: the engines' calls (engine/recording_engine.h)
  // The steps next to the engines' memory (pipeline_ops.h), chosen by its location. Declared after
  // `memory`: its device buffers are released before the memory that made them.
  std::shared_ptr<PipelineOpsFactory const> pipeline;
  // Set by dispose() (and by the finalizer of a model never disposed): running requests stop at their
  // next check with ERR_DISPOSED instead of keeping the model, its threads and memory busy.
  mutable std::atomic<bool> disposed{false};
  int logitsWidth() const { return vocabMap ? vocabMap->reducedSize() : text.vocabSize; }
};

// A token-level grammar (lib/action/grammarAutomaton.ts, mirrored natively in grammar.h): which
// tokens a state allows, where each leads, and the run of tokens the grammar forces from a state.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual int startState() const = 0;
  virtual bool accepting(int state) const = 0;
  // Restricts the next token. Returns true with the complete allowed list in `allowed` (the engine may
  // then compute only those logits), or false after setting the logits of disallowed ids to -inf
  // (states that allow most of the vocabulary, such as free text).
  virtual bool restrict(int state, std::vector<std::int32_t>& allowed, float* logits, int vocab) const = 0;
  // The allowed list of a state when it has one (without touching logits); false otherwise.
  virtual bool allowedList(int state, std::vector<std::int32_t>& allowed) const = 0;
  // The state after token, or -1 when the token is not allowed.
  virtual int next(int state, std::int32_t token) const = 0;
  // Tokens forced from this state (may be empty) and the state after them.
  virtual void forcedRun(int state, std::vector<std::int32_t>& out, int& endState) const = 0;
};

// Proposes tokens for the engine to verify after the answer so far (speculative decoding, session.cc):
// a guess, never trusted - every drafted token is checked against the model's own choice. Immutable and
// shared; draft() may run on any session's thread.
class Drafter {
 public:
  virtual ~Drafter() = default;
  // answer: every generated token so far (sampled, forced and accepted drafts, in order); state: the
  // grammar state after them (-1 without a grammar). Appends at most maxDraft tokens to `out`, a path the
  // grammar admits from `state` (forced tokens included); nothing when it has no guess.
  virtual void draft(std::int32_t const* answer, int count, int state, int maxDraft, std::vector<std::int32_t>& out) const = 0;
};

struct GenerateRequest {
  std::vector<std::int32_t> inputIds;  // the whole prompt, image pads expanded to each image's grid
  std::vector<FrameView> frames;       // 0..N images, in prompt order
  std::vector<std::shared_ptr<FrameMemory>> frameMemory;  // keeps the frames alive while running
  SamplingConfig sampling;
  int maxNewTokens = 256;
  std::vector<std::int32_t> stopTokens;
  bool usePrefixCache = true;
  std::shared_ptr<TokenConstraint const> constraint;
  // Speculative decoding (on an engine that verifies, VlaModel::maxVerifyTokens > 0): drafts of at most
  // maxDraft tokens are verified after each sampled token and its forced run, in one engine call. The output
  // has the distribution of plain decoding (identical tokens when greedy). Null or maxDraft 0: off.
  std::shared_ptr<Drafter const> drafter;
  int maxDraft = 0;
  // The tokenizer's vocabulary size: ids from here on (padded LM-head rows) are never sampled. 0: no limit.
  int vocabLimit = 0;
  // Tests only: generated token i gets biasValue added to the logit of biasTokens[i] before the
  // constraint and the sampler see the logits (a random-weight model "preferring" a known answer).
  std::vector<std::int32_t> biasTokens;
  float biasValue = 0;
};

enum class StopReason { kStopToken, kMaxTokens, kGrammarComplete };

struct StageTimings {
  double preprocessMs = 0;
  double visionMs = 0;
  double embedMs = 0;
  double prefillMs = 0;
  double decodeMs = 0;
  double firstTokenMs = 0;  // request start -> first generated token known
  double totalMs = 0;
};

struct GenerateResult {
  std::vector<std::int32_t> tokens;  // generated (sampled and forced), including a stop token
  StopReason stopReason = StopReason::kMaxTokens;
  StageTimings timings;
  int promptTokens = 0;
  int cachedPromptTokens = 0;  // prompt tokens whose KV came from the prefix cache
  int imageTokens = 0;
  int forwardPasses = 0;       // LLM engine calls after the prompt prefill
  int forcedTokens = 0;
  int verifyCalls = 0;          // of forwardPasses: speculative verify calls
  int draftedTokens = 0;        // tokens the drafter proposed and the engine checked
  int acceptedDraftTokens = 0;  // of those, the ones the model agreed with (kept without an engine call of their own)
};

// What the model computes, for parity checks (session.evaluate): the logits of chosen prompt
// positions and of a greedy continuation, in the full vocabulary. Engine calls only as generate makes
// them (the same runLlm), so it runs on every backend with the same engine contract: an LLM engine
// returns the logits of one token per call, so the prefill is split into chunks that end at each
// chosen position.
struct EvaluateRequest {
  std::vector<std::int32_t> inputIds;  // as GenerateRequest
  std::vector<FrameView> frames;
  std::vector<std::shared_ptr<FrameMemory>> frameMemory;
  std::vector<int> positions;  // prompt positions, strictly increasing: the logits predicting the token after each
  int steps = 0;               // greedy steps after the prompt
  // Teacher forcing: step i takes forcedTokens[i] instead of its argmax (at most `steps` of them), so
  // two models can be compared on the same context.
  std::vector<std::int32_t> forcedTokens;
  std::vector<std::int32_t> stopTokens;  // the steps end after one of these
  bool imageEmbeddings = false;          // also return the vision engine's output
};

struct EvaluateResult {
  std::vector<std::vector<float>> positionLogits;  // per requested position, [vocab]
  std::vector<std::int32_t> tokens;                // one per step taken
  // The logits each step's token was chosen from: step 0's are those of the last prompt position,
  // step i's those after feeding tokens[i - 1].
  std::vector<std::vector<float>> stepLogits;
  std::vector<float> imageEmbeddings;  // [imageTokens, hidden], when asked
  std::vector<ImageGrid> grids;
  int promptTokens = 0;
  int imageTokens = 0;
  int llmCalls = 0;
};

// The vision engine's output for some frames, every image's rows in order: [imageTokens, hidden].
struct ImageEmbeddings {
  std::vector<ImageGrid> grids;
  std::vector<float> values;
  int hidden = 0;
};

// Receives tokens as they are decided (on the generating thread).
class TokenObserver {
 public:
  virtual ~TokenObserver() = default;
  virtual void onTokens(std::int32_t const* tokens, int count, bool forced) = 0;
};

class VlaSession {
 public:
  explicit VlaSession(std::shared_ptr<VlaModel const> model);
  ~VlaSession();

  // Runs one request to completion. Throws ABORT_ERR when requestAbort(requestId) was called for this
  // request (checked between engine calls); the session stays usable afterwards.
  GenerateResult generate(GenerateRequest const& request, std::uint64_t requestId, TokenObserver* observer);

  // Logits of chosen prompt positions and of greedy steps (EvaluateRequest); rewrites the KV cache (the
  // prefix cache then holds what was fed). Throws ABORT_ERR as generate does. (session_evaluate.cc)
  EvaluateResult evaluate(EvaluateRequest const& request, std::uint64_t requestId);
  // The vision engine on frames, as a request runs it (session_evaluate.cc).
  ImageEmbeddings encodeImages(std::vector<FrameView> const& frames);

  // The preprocessing alone (what the model would see), for model.prepare().
  VisionInputs preprocess(std::vector<FrameView> const& frames, bool keepPixelValues) const;

  // Aborts the request with this id, if it is running or about to run (ids come from the caller).
  void requestAbort(std::uint64_t requestId) { abortRequest_.store(requestId, std::memory_order_relaxed); }
  void clearPrefixCache() { cachedIds_.clear(); }
  VlaModel const& model() const { return *model_; }
  int cachedTokens() const { return static_cast<int>(cachedIds_.size()); }

 private:
  // Makes the engine contexts, stream and buffers on first use (see session.cc).
  void ensureResources();
  // The vision engine on inputs (patches already in visionInput_); the embeddings go to visionOutput_.
  void runVision(VisionInputs const& inputs);
  // Refuses frames the vision engine cannot take (checkImageTokens), from their sizes alone.
  void checkFrameTokens(std::vector<FrameView> const& frames) const;
  // One LLM call over `count` new tokens whose embeddings are at `embeds`, starting at KV position
  // `start` (start < 0: fresh prefill); the logits of the last one go to logits_. A decode step
  // (start >= 0, one token) must read decodeEmbeds_.
  void runLlm(void const* embeds, int count, int start);
  // The same for embeds_ rows [row, row + count): a one-token call after a cached prefix is a decode
  // step, so its row is first copied into decodeEmbeds_.
  void runRows(int row, int count, int start);
  // Speculative verification: the `count` tokens in embeds_ after `start` committed positions as one linear
  // chain (an EAGLE-base engine's tree step); logits_ gets the rows [firstSelected, count).
  void runVerify(int count, int start, int firstSelected);
  // The bindings every LLM call of `tokens` new tokens shares: rope table, KV cache (past = present), logits,
  // hidden_states.
  void bindCacheAndOutputs(int tokens);
  void checkAbort() const;
  // The last LLM call's logits in the full vocabulary (ids a reduced vocabulary lacks at -inf).
  void readLogits(std::vector<float>& full);
  // The vision engine's last output, [imageTokens, hidden] as floats.
  std::vector<float> readImageEmbeddings(int imageTokens);

  // Asks the LLM engine for only the logits the grammar allows in `state` (all when not a list state).
  void selectLogitRows(TokenConstraint const* constraint, int state);
  // The same for a call whose rows are sampled in these grammar states (a verify call): their union.
  void selectLogitRows(TokenConstraint const* constraint, std::vector<std::int32_t> const& states);

  std::shared_ptr<VlaModel const> model_;
  std::unique_ptr<engine::Stream> stream_;
  std::unique_ptr<engine::ExecutionContext> llm_;
  std::unique_ptr<engine::ExecutionContext> vision_;
  std::vector<EngineBuffer> kv_;  // per layer [1, 2, Hkv, Cap, D] fp16, bound as past and present
  EngineBuffer rope_;             // [1, Cap, headDim] fp32
  EngineBuffer embeds_;           // [Cap, hidden] fp16: the whole prompt, or the tokens of one feed
  // [1, hidden] fp16: every decode step reads its token here, so the step's bindings never change and one
  // CUDA graph serves them all (Edge-LLM 0.6.1 cpp/runtime/llmEngineRunner.cpp:72-81,1385-1391).
  EngineBuffer decodeEmbeds_;
  EngineBuffer contextLengths_, lastTokenIds_, startIndex_, dummy_, logits_;
  EngineBuffer positionId_, treeMask_;  // EAGLE-base decode: attention_pos_id [1, 1], attention_mask [1, 1, 1]
  EngineBuffer hiddenStates_;           // EAGLE-base: hidden_states [1, S, 3 * hidden] fp16 (unread), grown to the largest S
  std::unique_ptr<ScalarUploads> scalars_;  // the per-call scalars, staged (pinned on the device)
  // Vision engine buffers, grown to the largest images seen: input patches, the small inputs (one
  // buffer, 256-byte aligned slices), the output embeddings.
  EngineBuffer visionInput_, visionSmall_, visionOutput_;
  std::unique_ptr<PipelineOps> ops_;  // after stream_: released first
  std::vector<std::int32_t> rows_;
  std::vector<std::int32_t> cachedIds_;  // tokens whose KV is in the cache, in order
  std::atomic<std::uint64_t> abortRequest_{0};
  std::uint64_t runningRequest_ = 0;
};

}  // namespace tv::vla
