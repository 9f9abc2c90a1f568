// The steps of a plan that depend on where the engines' memory is: preprocessing, embeddings, the
// M-RoPE table, sampling and stage timing. VlaSession (session.h) is the one pipeline: it makes every
// engine call, in the same order, for every model, and leaves these steps to a PipelineOps next to
// the engines' memory:
//
//   host    (this file's hostPipelineOps): the CPU code (vla/preprocess, embedding, positions,
//           sampler); results move through EngineMemory. Used by models whose engines take host
//           memory (the CPU engines).
//   device  (device_pipeline_ops.h, CUDA builds): the kernels of native/cuda/kernels on the session's
//           CUDA stream, reading and writing engine buffers in place: frame -> the vision engine's
//           input, its output -> inputs_embeds, positions -> rope_rotary_cos_sin, logits -> a token.
//           Only small data crosses (ids, positions, a grammar list, the chosen token or the top-k
//           candidates). Used by models whose engines take device memory (TensorRT).
//
// The kernels reproduce the CPU steps bit for bit (the rope table up to the device's cosf / sinf, see
// cuda/kernels/rope.h), and the host keeps the seeded draw, so both give the same tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/vocab_map.h"
#include "vla/engine_memory.h"
#include "vla/positions.h"
#include "vla/preprocess.h"
#include "vla/sampler.h"
#include "vla/session.h"

namespace tv::vla {

// Points on one request's timeline; StageTimings are the spans between them.
enum class Mark { kStart, kPreprocessed, kVisionDone, kEmbedded, kPrefilled, kDecoded, kCount };

// What a decode step chooses its token under.
struct SampleStep {
  TokenConstraint const* constraint = nullptr;  // null: no grammar
  int state = -1;                               // the grammar state the token is chosen in
  std::int32_t biasToken = -1;                  // tests: add biasValue to this (full) id's logit first
  float biasValue = 0;
  // Speculative verification: the drafted token this step checks (Sampler::sample's draft rule); the draft
  // is accepted when the returned token equals it. -1: a plain step.
  std::int32_t draft = -1;
  // Ids from here on are never picked (the LM head's rows past the tokenizer's vocabulary: Qwen pads 151,665
  // tokens to 151,936 rows, which random or badly trained weights may otherwise choose). 0: no limit.
  int vocabLimit = 0;
};

class PipelineOps {
 public:
  virtual ~PipelineOps() = default;

  // Frames -> the vision engine's inputs. Returns the small inputs (grids, cu_seqlens, window index,
  // rotary angles; `patches` left empty) and writes the fp16 patches [engine, f16]
  // [totalPatches, patchDim] into `patches`, which is grown to fit.
  virtual VisionInputs preprocess(std::vector<FrameView> const& frames, EngineBuffer& patches) = 0;

  // inputs_embeds of `count` tokens: out [engine, f16] [count, hidden]. Image-pad tokens take the rows
  // of image [engine, f16] [imageRows, hidden] (the vision engine's output) in order. Throws what
  // EmbeddingTable::embed throws for bad ids, before anything is written.
  virtual void embed(std::int32_t const* ids, int count, void const* image, int imageRows, void* out) = 0;

  // table [engine, f32] [capacity, headDim] from the positions (vla::mropeCosSin).
  virtual void ropeTable(MropePositions const& positions, void* table) = 0;

  // The next token from the last LLM call's logits [engine, f32] [model.logitsWidth()] (reduced ids
  // with a vocabulary map), after the repetition penalty and the grammar, with the sampler's
  // settings and generator; returns a full-vocabulary id. May modify the logits.
  virtual std::int32_t sample(void* logits, SampleStep const& step, Sampler& sampler) = 0;

  // Records a timeline point; elapsedMs reads the span between two recorded points (waiting for the
  // later one where work is asynchronous).
  virtual void mark(Mark point) = 0;
  virtual double elapsedMs(Mark from, Mark to) = 0;
};

// Model-wide state of one implementation (the device one keeps the embedding table in device memory),
// and the factory of each session's ops.
class PipelineOpsFactory {
 public:
  virtual ~PipelineOpsFactory() = default;
  virtual char const* name() const = 0;  // "host" | "device"
  // stream: the session's stream, which outlives the ops.
  virtual std::unique_ptr<PipelineOps> create(VlaModel const& model, engine::Stream& stream) const = 0;
};

std::shared_ptr<PipelineOpsFactory const> hostPipelineOps();

// Shared by both implementations ---------------------------------------------------------------

// Drops from a grammar's allowed list the ids a reduced vocabulary cannot produce (no-op without a
// map); throws ERR_INVALID_ARGUMENT when none is left.
void keepProducible(engine::VocabMap const* vocabMap, std::vector<std::int32_t>& allowed);

// One token from full-vocabulary logits in host memory, which it modifies (the step's bias, the
// grammar's restriction); `allowed` is scratch. The host pipeline's every step and the device
// pipeline's free-text steps.
std::int32_t sampleHostLogits(float* logits, int vocab, engine::VocabMap const* vocabMap, SampleStep const& step,
                              Sampler& sampler, std::vector<std::int32_t>& allowed);

// The buffer, reallocated when smaller than `bytes` (contents are not kept); returns its data.
void* reserve(EngineBuffer& buffer, EngineMemory& memory, std::size_t bytes);

}  // namespace tv::vla
