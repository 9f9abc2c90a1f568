#include "engine/cpu/llm_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "engine/binding_names.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/ops.h"

namespace tv::engine::cpu {

namespace {

// Tokens pushed through the whole layer stack at once. Bounds the activation scratch (a chunk needs
// about chunk * (hidden * 6 + intermediate * 3) floats) while keeping prefill matmuls large enough to
// reuse each weight tile across many tokens. Results do not depend on it: every token only reads the
// KV cache of earlier positions, which earlier chunks have written.
constexpr int kTokenChunk = 128;

// "model." (classic Qwen2.5-VL checkpoints) or "model.language_model." (transformers >= 4.52 layout).
std::string decoderPrefix(SafetensorsSet const& set) {
  for (char const* prefix : {"model.", "model.language_model."}) {
    std::string const p = prefix;
    if (set.find(p + "layers.0.input_layernorm.weight") != nullptr || set.find(p + "norm.weight") != nullptr) return p;
  }
  TV_THROW(ErrorCode::kModelLoad, "no Qwen2 decoder weights found (expected 'model.layers.0.input_layernorm.weight' in ",
           set.describeFiles(), ")");
}

// Whether the head is quantized to int8: kAuto resolved (see LmHeadPrecision); for kInt8,
// Linear::toInt8 says why a head cannot be.
bool int8LmHead(LmHeadPrecision requested, QwenDecoderWeights const& w) {
  if (requested != LmHeadPrecision::kAuto) return requested == LmHeadPrecision::kInt8;
  bool const int8Possible = w.lmHead.format() == WeightFormat::kDense && w.lmHead.inFeatures() % tv::cpu::kQ4GroupSize == 0;
  bool int4Body = !w.layers.empty();
  for (QwenDecoderWeights::Layer const& l : w.layers) {
    for (Linear const* m : {&l.qkv, &l.output, &l.gateUp, &l.down}) int4Body = int4Body && m->format() == WeightFormat::kInt4;
  }
  return int4Body && int8Possible;
}

QwenDecoderWeights loadDecoder(QwenTextConfig const& c, SafetensorsSet const& set, SafetensorsSet const& embedding,
                               ThreadPool& pool, LmHeadPrecision lmHead) {
  std::string const p = decoderPrefix(set);
  QwenDecoderWeights w;
  int const qOut = c.heads * c.headDim;
  int const kvOut = c.kvHeads * c.headDim;
  for (int i = 0; i < c.layers; ++i) {
    std::string const l = p + "layers." + std::to_string(i) + ".";
    QwenDecoderWeights::Layer layer;
    layer.inputNorm = readFloatVector(set.require(l + "input_layernorm.weight"), c.hiddenSize);
    layer.postAttentionNorm = readFloatVector(set.require(l + "post_attention_layernorm.weight"), c.hiddenSize);
    layer.qkv = loadLinear(set, {l + "self_attn.q_proj", l + "self_attn.k_proj", l + "self_attn.v_proj"},
                           {qOut, kvOut, kvOut}, c.hiddenSize, true, &pool);
    layer.output = loadLinear(set, {l + "self_attn.o_proj"}, {c.hiddenSize}, qOut, false, &pool);
    layer.gateUp = loadGatedLinear(set, l + "mlp.gate_proj", l + "mlp.up_proj", c.intermediateSize, c.hiddenSize, false, &pool);
    layer.down = loadLinear(set, {l + "mlp.down_proj"}, {c.hiddenSize}, c.intermediateSize, false, &pool);
    w.weightBytes += layer.qkv.weightBytes() + layer.output.weightBytes() + layer.gateUp.weightBytes() + layer.down.weightBytes();
    w.layers.push_back(std::move(layer));
  }
  // A checkpoint with more layers than the config is inconsistent, not something to silently ignore.
  TV_CHECK(set.find(p + "layers." + std::to_string(c.layers) + ".input_layernorm.weight") == nullptr, ErrorCode::kModelLoad,
           "the checkpoint has more decoder layers than num_hidden_layers = ", c.layers);
  w.finalNorm = readFloatVector(set.require(p + "norm.weight"), c.hiddenSize);

  if (TensorView const* head = set.find("lm_head.weight"); head != nullptr && !c.tieWordEmbeddings) {
    w.lmHead = loadDenseMatrix(*head, nullptr, c.vocabSize, c.hiddenSize);
  } else if (set.find("lm_head.qweight") != nullptr && !c.tieWordEmbeddings) {
    w.lmHead = loadLinear(set, {"lm_head"}, {c.vocabSize}, c.hiddenSize, false, &pool);
  } else {
    TV_CHECK(c.tieWordEmbeddings, ErrorCode::kModelLoad, "no 'lm_head.weight' and tie_word_embeddings is false");
    // The token embedding: in the checkpoint, or as Edge-LLM's "embedding" tensor (embedding.safetensors,
    // given separately in the bundle layout or among the weight files of a Hugging Face-style folder).
    TensorView const* tied = set.find(p + "embed_tokens.weight");
    if (tied == nullptr) tied = embedding.find("embedding");
    if (tied == nullptr) tied = set.find("embedding");
    TV_CHECK(tied != nullptr, ErrorCode::kModelLoad, "the LM head is tied to the token embedding, but neither '", p,
             "embed_tokens.weight' nor embedding.safetensors ('embedding') was found");
    w.lmHead = loadDenseMatrix(*tied, nullptr, c.vocabSize, c.hiddenSize);
  }
  if (int8LmHead(lmHead, w)) w.lmHead = w.lmHead.toInt8(&pool);
  w.weightBytes += w.lmHead.weightBytes();
  return w;
}

class CpuLlmContext final : public HostExecutionContext {
 public:
  explicit CpuLlmContext(CpuLlmEngine const& engine) : HostExecutionContext(engine), engine_(engine) {}

  // Only these logit rows are computed (the grammar's allowed tokens): the LM head is the largest
  // per-token cost of small models (151,936 rows).
  bool setOutputRows(std::string_view name, std::int32_t const* rows, int count) override {
    TV_CHECK_ARG(name == names::kLogits, "only the logits can be computed for selected rows");
    outputRows_.assign(rows, rows + count);
    for (std::size_t i = 0; i < outputRows_.size(); ++i) {
      TV_CHECK_ARG(outputRows_[i] >= 0 && outputRows_[i] < engine_.logitsWidth() && (i == 0 || outputRows_[i] > outputRows_[i - 1]),
                   "output rows must be ascending indexes inside the logits (", engine_.logitsWidth(), ")");
    }
    return true;
  }

 protected:
  Shape inferOutputShape(std::string_view name) const override;
  void execute() override;

 private:
  struct Token {
    int batch;     // sequence index b
    int slot;      // index within S
    int position;  // KV cache position the token's K/V go to
    int ropeRow;   // its row of rope_rotary_cos_sin (= position, but for tree tokens: attention_pos_id)
    // Tree decoding: the token's packed attention_mask row over the S new tokens, which start at KV
    // position `position - slot`; it attends to the positions before them and the new tokens its row
    // selects. Null: causal, [0, position].
    std::int32_t const* mask = nullptr;
  };
  void runChunk(Token const* tokens, int count, std::uint16_t const* embeds, int seqLen);
  // EAGLE-base engines: the hidden state entering layer `layer` (layers = the final-normed output) goes to
  // every hidden_states slice that takes it.
  void captureHidden(int layer, Token const* tokens, int count, float const* x, int seqLen);
  void attention(int layer, Token const* tokens, int count);
  // The LM head over the final-normed selected_ rows: all logits, or outputRows_ only.
  void lmHead(int selectedRows, float* logits);

  CpuLlmEngine const& engine_;
  // Bound per enqueue.
  std::vector<std::uint16_t*> kv_;  // per layer, [B, 2, Hkv, Cap, D]
  int capacity_ = 0;
  float const* rope_ = nullptr;
  int ropeBatches_ = 1;
  int ropeRows_ = 0;
  // Scratch, reused across enqueues.
  std::vector<float> x_, norm_, qkv_, attn_, gateUp_, act_, tmp_, selected_;
  std::vector<std::vector<float>> scores_;
  std::vector<std::int32_t> outputRows_;
  std::vector<std::int32_t> headRows_;  // full-vocabulary LM-head rows to compute (reduced vocabularies)
  std::vector<float> fullLogits_;       // [B, vocab_size] staging for reduced vocabularies
  std::uint16_t* hiddenOut_ = nullptr;  // EAGLE-base: hidden_states [B, S, 3H] of this enqueue
  Q8Scratch quantScratch_;
};

Shape CpuLlmContext::inferOutputShape(std::string_view name) const {
  // [B, n, V] with n = the selected tokens per sequence, as Edge-LLM's GatherND + lm_head (binding_names.h).
  if (name == names::kLogits) return Shape{inputShape(names::kInputsEmbeds)[0], inputShape(names::kLastTokenIds)[1], engine_.logitsWidth()};
  if (name == names::kHiddenStates) {
    Shape const& embeds = inputShape(names::kInputsEmbeds);
    return Shape{embeds[0], embeds[1], 3 * static_cast<std::int64_t>(engine_.config().hiddenSize)};
  }
  // present_key_values_i: the same shape as its past_key_values_i.
  std::string const present(name);
  std::string const past = "past_key_values_" + present.substr(std::strlen("present_key_values_"));
  return inputShape(past);
}

void CpuLlmContext::execute() {
  QwenTextConfig const& c = engine_.config();
  BoundTensor const& embeds = bound(names::kInputsEmbeds);
  int const batch = static_cast<int>(embeds.shape[0]);
  int const seqLen = static_cast<int>(embeds.shape[1]);
  BoundTensor const& contextLengths = bound(names::kContextLengths);
  BoundTensor const& lastTokenIds = bound(names::kLastTokenIds);
  BoundTensor const& startIndex = bound(names::kKvCacheStartIndex);
  BoundTensor const& rope = bound(names::kRopeCosSin);
  BoundTensor const& logits = bound(names::kLogits);
  TV_CHECK_ARG(contextLengths.shape[0] == batch, "context_lengths has ", contextLengths.shape[0], " entries for batch ", batch);
  TV_CHECK_ARG(lastTokenIds.shape[0] == batch, "last_token_ids has ", lastTokenIds.shape[0], " rows for batch ", batch);
  bool const fresh = startIndex.shape[0] == 0;
  TV_CHECK_ARG(fresh || startIndex.shape[0] == batch, "kvcache_start_index must have 0 or ", batch, " entries");
  bool const decode = !fresh && seqLen == 1;
  // Tokens whose logits are wanted, per sequence (1; an EAGLE-base engine's profile 1: up to its tree size).
  int const selectedPerSequence = static_cast<int>(lastTokenIds.shape[1]);
  hiddenOut_ = nullptr;
  bool tree = false;
  std::int32_t const* positionIds = nullptr;
  std::int32_t const* masks = nullptr;
  int maskWords = 0;
  if (engine_.limits().maxVerifyTreeSize > 0) {
    // The plugin's mode rule with tree attention (Edge-LLM 0.6.1 attentionPlugin.cpp:112-146): after a
    // committed prefix, one position id per token and S > 1 is tree decoding (RoPE row = the position id,
    // K/V of token j at kvcache_start_index + j, attention by the packed mask); one position id is chunked
    // prefill; S = 1 is vanilla decoding.
    BoundTensor const& posIds = bound(names::kAttentionPosId);
    std::int64_t const positionsPerSequence = posIds.shape[1];
    TV_CHECK_ARG(fresh || seqLen == 1 || positionsPerSequence == 1 || positionsPerSequence == seqLen, "attention_pos_id has ",
                 positionsPerSequence, " entries per sequence for ", seqLen,
                 " tokens: neither chunked prefill (1) nor tree decoding (", seqLen, ")");
    tree = !fresh && seqLen > 1 && positionsPerSequence == seqLen;
    if (tree) {
      BoundTensor const& mask = bound(names::kAttentionMask);
      maskWords = (seqLen + 31) / 32;
      TV_CHECK_ARG(posIds.shape[0] == batch && mask.shape[0] == batch && mask.shape[1] == seqLen && mask.shape[2] >= maskWords,
                   "tree decoding: attention_mask ", mask.shape.str(), " must be [", batch, ", ", seqLen, ", >= ", maskWords,
                   "] and attention_pos_id ", posIds.shape.str(), " [", batch, ", ", seqLen, "]");
      maskWords = static_cast<int>(mask.shape[2]);
      positionIds = posIds.as<std::int32_t const>();
      masks = mask.as<std::int32_t const>();
    }
    BoundTensor const& hidden = bound(names::kHiddenStates);
    hiddenOut_ = hidden.as<std::uint16_t>();
    std::memset(hiddenOut_, 0, static_cast<std::size_t>(hidden.shape.elements()) * sizeof(std::uint16_t));
  }
  TV_CHECK_ARG(selectedPerSequence == 1 || tree, "last_token_ids selects ", selectedPerSequence,
               " tokens per sequence; several are computed only in tree decoding (EAGLE-base engines, profile 1)");

  ropeBatches_ = static_cast<int>(rope.shape[0]);
  ropeRows_ = static_cast<int>(rope.shape[1]);
  TV_CHECK_ARG(ropeBatches_ == 1 || ropeBatches_ == batch, "rope_rotary_cos_sin batch ", ropeBatches_, " must be 1 or ", batch);
  rope_ = rope.as<float const>();

  kv_.assign(static_cast<std::size_t>(c.layers), nullptr);
  for (int l = 0; l < c.layers; ++l) {
    BoundTensor const& past = bound(names::pastKeyValues(l));
    BoundTensor const& present = bound(names::presentKeyValues(l));
    TV_CHECK_ARG(past.shape[0] == batch, "past_key_values_", l, " batch ", past.shape[0], " does not match ", batch);
    if (l == 0) capacity_ = static_cast<int>(past.shape[3]);
    TV_CHECK_ARG(past.shape[3] == capacity_, "past_key_values_", l, " capacity differs from layer 0");
    if (present.data != past.data) {
      // TensorRT engines update the cache in place; a distinct output buffer gets the past copied in.
      std::memcpy(present.data, past.data, static_cast<std::size_t>(past.shape.elements()) * sizeof(std::uint16_t));
    }
    kv_[static_cast<std::size_t>(l)] = present.as<std::uint16_t>();
  }

  std::int32_t const* lengths = contextLengths.as<std::int32_t const>();
  std::int32_t const* starts = fresh ? nullptr : startIndex.as<std::int32_t const>();
  std::int64_t const* lastIds = lastTokenIds.as<std::int64_t const>();
  std::vector<Token> tokens;
  // selectedIndex[b * n + k]: the index in `tokens` of sequence b's k-th selected token (logits row b * n + k).
  std::vector<int> selectedIndex(static_cast<std::size_t>(batch) * selectedPerSequence);
  for (int b = 0; b < batch; ++b) {
    int const start = fresh ? 0 : starts[b];
    int count = lengths[b];
    if (decode || tree) {
      // Decoding and tree decoding take context_lengths = committed KV + new tokens (Edge-LLM 0.6.1
      // llmEngineRunner.cpp:1500-1664: kvLen + S for a tree).
      int const newTokens = decode ? 1 : seqLen;
      TV_CHECK_ARG(lengths[b] == start + newTokens, decode ? "decode" : "tree decoding", ": context_lengths[", b, "] = ", lengths[b],
                   " must be kvcache_start_index + ", newTokens, " = ", start + newTokens);
      count = newTokens;
    }
    TV_CHECK_ARG(start >= 0, "kvcache_start_index[", b, "] = ", start, " is negative");
    TV_CHECK_ARG(count >= 1 && count <= seqLen, "context_lengths[", b, "] = ", lengths[b], " must be in [1, ", seqLen, "]");
    TV_CHECK_ARG(start + count <= capacity_, "sequence ", b, " needs KV positions up to ", start + count,
                 " but the cache holds ", capacity_);
    TV_CHECK_ARG(start + count <= ropeRows_, "sequence ", b, " needs rope rows up to ", start + count,
                 " but rope_rotary_cos_sin has ", ropeRows_);
    std::size_t const first = tokens.size();
    for (int s = 0; s < count; ++s) {
      Token token{b, s, start + s, start + s};
      if (tree) {
        token.ropeRow = positionIds[static_cast<std::size_t>(b) * seqLen + s];
        TV_CHECK_ARG(token.ropeRow >= 0 && token.ropeRow < ropeRows_, "attention_pos_id[", b, ", ", s, "] = ", token.ropeRow,
                     " is outside rope_rotary_cos_sin's ", ropeRows_, " rows");
        token.mask = masks + (static_cast<std::size_t>(b) * seqLen + s) * maskWords;
      }
      tokens.push_back(token);
    }
    for (int k = 0; k < selectedPerSequence; ++k) {
      std::int64_t const last = lastIds[static_cast<std::size_t>(b) * selectedPerSequence + k];
      TV_CHECK_ARG(last >= 0 && last < count, "last_token_ids[", b, ", ", k, "] = ", last, " must index one of the ", count, " new tokens");
      selectedIndex[static_cast<std::size_t>(b) * selectedPerSequence + k] = static_cast<int>(first + last);
    }
  }
  // Tree tokens attend to each other: all of them must be in one chunk (the tree limit is 128, the chunk 128).
  TV_CHECK_INTERNAL(!tree || tokens.size() <= static_cast<std::size_t>(kTokenChunk), "a tree of ", tokens.size(),
                    " tokens exceeds one chunk");

  int const hidden = c.hiddenSize;
  int const selectedRows = batch * selectedPerSequence;
  selected_.assign(static_cast<std::size_t>(selectedRows) * hidden, 0.0f);
  auto const* embedData = embeds.as<std::uint16_t const>();
  for (std::size_t begin = 0; begin < tokens.size(); begin += kTokenChunk) {
    int const count = static_cast<int>(std::min<std::size_t>(kTokenChunk, tokens.size() - begin));
    runChunk(tokens.data() + begin, count, embedData, seqLen);
    for (int r = 0; r < selectedRows; ++r) {
      int const index = selectedIndex[static_cast<std::size_t>(r)];
      if (index >= static_cast<int>(begin) && index < static_cast<int>(begin) + count) {
        std::memcpy(&selected_[static_cast<std::size_t>(r) * hidden], &x_[static_cast<std::size_t>(index - begin) * hidden],
                    sizeof(float) * hidden);
      }
    }
  }

  ThreadPool& pool = engine_.pool();
  QwenDecoderWeights const& w = engine_.weights();
  rmsNorm(pool, selected_.data(), w.finalNorm.data(), selectedRows, hidden, c.rmsNormEps, selected_.data());
  lmHead(selectedRows, logits.as<float>());
}

void CpuLlmContext::lmHead(int selectedRows, float* logits) {
  QwenTextConfig const& c = engine_.config();
  Linear const& head = engine_.weights().lmHead;
  ThreadPool& pool = engine_.pool();
  std::size_t const vocab = static_cast<std::size_t>(c.vocabSize);
  VocabMap const* map = engine_.vocabMap();
  if (map == nullptr && outputRows_.empty()) {
    head.forward(pool, selected_.data(), c.hiddenSize, selectedRows, logits, vocab, quantScratch_);
    return;
  }
  // The full-vocabulary rows wanted, ascending (a vocabulary map is ascending, so the order holds).
  std::vector<std::int32_t> const* rows = &outputRows_;
  if (map != nullptr) {
    headRows_.clear();
    if (outputRows_.empty()) {
      headRows_ = map->reducedToFull();
    } else {
      for (std::int32_t r : outputRows_) headRows_.push_back(map->toFull(r));
    }
    rows = &headRows_;
    fullLogits_.resize(static_cast<std::size_t>(selectedRows) * vocab);
  }
  float* out = map != nullptr ? fullLogits_.data() : logits;
  head.forwardRowList(pool, selected_.data(), selectedRows, out, vocab, *rows, quantScratch_);
  if (map == nullptr) return;
  std::size_t const width = static_cast<std::size_t>(map->reducedSize());
  for (int b = 0; b < selectedRows; ++b) {
    float const* full = &fullLogits_[static_cast<std::size_t>(b) * vocab];
    float* reduced = logits + static_cast<std::size_t>(b) * width;
    if (outputRows_.empty()) {
      for (std::size_t r = 0; r < width; ++r) reduced[r] = full[map->toFull(static_cast<int>(r))];
    } else {
      for (std::int32_t r : outputRows_) reduced[r] = full[map->toFull(r)];
    }
  }
}

void CpuLlmContext::runChunk(Token const* tokens, int count, std::uint16_t const* embeds, int seqLen) {
  QwenTextConfig const& c = engine_.config();
  QwenDecoderWeights const& w = engine_.weights();
  ThreadPool& pool = engine_.pool();
  int const hidden = c.hiddenSize;
  int const qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim;
  std::size_t const n = static_cast<std::size_t>(count);
  x_.resize(n * hidden);
  norm_.resize(n * hidden);
  qkv_.resize(n * qkvWidth);
  attn_.resize(n * c.heads * c.headDim);
  gateUp_.resize(n * 2 * c.intermediateSize);
  act_.resize(n * c.intermediateSize);
  tmp_.resize(n * hidden);

  for (int t = 0; t < count; ++t) {
    std::size_t const row = (static_cast<std::size_t>(tokens[t].batch) * seqLen + tokens[t].slot) * hidden;
    tv::cpu::kernels().halfToFloat(embeds + row, &x_[static_cast<std::size_t>(t) * hidden], static_cast<std::size_t>(hidden));
  }
  for (int l = 0; l < c.layers; ++l) {
    checkInterrupt();
    QwenDecoderWeights::Layer const& layer = w.layers[static_cast<std::size_t>(l)];
    if (hiddenOut_ != nullptr) captureHidden(l, tokens, count, x_.data(), seqLen);
    rmsNorm(pool, x_.data(), layer.inputNorm.data(), count, hidden, c.rmsNormEps, norm_.data());
    layer.qkv.forward(pool, norm_.data(), hidden, count, qkv_.data(), qkvWidth, quantScratch_);
    attention(l, tokens, count);
    layer.output.forward(pool, attn_.data(), static_cast<std::size_t>(c.heads) * c.headDim, count, tmp_.data(), hidden,
                         quantScratch_);
    addInPlace(x_.data(), tmp_.data(), n * hidden);
    rmsNorm(pool, x_.data(), layer.postAttentionNorm.data(), count, hidden, c.rmsNormEps, norm_.data());
    tv::cpu::Q8Buffer const* act = layer.gateUp.forwardSwiGlu(pool, norm_.data(), hidden, count, gateUp_.data(),
                                                              2 * static_cast<std::size_t>(c.intermediateSize), act_.data(),
                                                              static_cast<std::size_t>(c.intermediateSize), quantScratch_, &layer.down);
    layer.down.forward(pool, act_.data(), c.intermediateSize, count, tmp_.data(), hidden, quantScratch_, act);
    addInPlace(x_.data(), tmp_.data(), n * hidden);
  }
  if (hiddenOut_ != nullptr) {
    rmsNorm(pool, x_.data(), w.finalNorm.data(), count, hidden, c.rmsNormEps, norm_.data());
    captureHidden(c.layers, tokens, count, norm_.data(), seqLen);
  }
}

// Edge-LLM's export concatenates all_hidden_states[2], [(len - 1) // 2] and [len - 4], where entry i < layers
// is the input of layer i and entry `layers` the final-normed output, len = layers + 1, Python indexing
// (Edge-LLM 0.6.1 tensorrt_edgellm/llm_models/models/llm_model.py:133-170,473-485).
void CpuLlmContext::captureHidden(int layer, Token const* tokens, int count, float const* x, int seqLen) {
  int const entries = engine_.config().layers + 1;
  int const hidden = engine_.config().hiddenSize;
  int const picks[3] = {2, (entries - 1) / 2, entries - 4};
  auto toHalf = tv::cpu::kernels().floatToHalf;
  for (int k = 0; k < 3; ++k) {
    int const pick = picks[k] < 0 ? picks[k] + entries : picks[k];
    if (pick != layer) continue;
    for (int t = 0; t < count; ++t) {
      std::size_t const row = static_cast<std::size_t>(tokens[t].batch) * seqLen + tokens[t].slot;
      toHalf(x + static_cast<std::size_t>(t) * hidden, hiddenOut_ + (row * 3 + k) * hidden, static_cast<std::size_t>(hidden));
    }
  }
}

// RoPE on q and k, the new k/v written into the cache, then causal attention of every new token over
// positions [0, position] of its own sequence.
void CpuLlmContext::attention(int layer, Token const* tokens, int count) {
  QwenTextConfig const& c = engine_.config();
  ThreadPool& pool = engine_.pool();
  int const d = c.headDim;
  int const half = d / 2;
  int const qkvWidth = (c.heads + 2 * c.kvHeads) * d;
  std::size_t const cap = static_cast<std::size_t>(capacity_);
  std::uint16_t* cache = kv_[static_cast<std::size_t>(layer)];
  auto toHalf = tv::cpu::kernels().floatToHalf;

  pool.parallelFor(count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      Token const& tok = tokens[t];
      float* row = &qkv_[static_cast<std::size_t>(t) * qkvWidth];
      int const ropeBatch = ropeBatches_ == 1 ? 0 : tok.batch;
      float const* table = rope_ + (static_cast<std::size_t>(ropeBatch) * ropeRows_ + tok.ropeRow) * d;
      applyRotary(row, c.heads + c.kvHeads, d, table, table + half);  // q heads then k heads
      for (int g = 0; g < c.kvHeads; ++g) {
        std::size_t const keyAt = ((static_cast<std::size_t>(tok.batch) * 2 + 0) * c.kvHeads + g) * cap * d + tok.position * static_cast<std::size_t>(d);
        std::size_t const valueAt = ((static_cast<std::size_t>(tok.batch) * 2 + 1) * c.kvHeads + g) * cap * d + tok.position * static_cast<std::size_t>(d);
        toHalf(row + static_cast<std::size_t>(c.heads + g) * d, cache + keyAt, static_cast<std::size_t>(d));
        toHalf(row + static_cast<std::size_t>(c.heads + c.kvHeads + g) * d, cache + valueAt, static_cast<std::size_t>(d));
      }
    }
  });

  float const scale = 1.0f / std::sqrt(static_cast<float>(d));
  // A work item is one token and the query heads of one KV head (or a part of them when there are more
  // threads than token x KV-head pairs): its keys and values are read and converted once for all.
  int const group = c.heads / c.kvHeads;
  int const pairs = count * c.kvHeads;
  int const parts = std::min(group, (pool.size() + pairs - 1) / pairs);
  int const headsPerItem = (group + parts - 1) / parts;
  int const itemsPerPair = (group + headsPerItem - 1) / headsPerItem;
  std::int64_t const items = static_cast<std::int64_t>(pairs) * itemsPerPair;
  if (static_cast<int>(scores_.size()) < pool.size()) scores_.resize(static_cast<std::size_t>(pool.size()));
  pool.run([&](int thread, int threads) {
    std::vector<float>& scores = scores_[static_cast<std::size_t>(thread)];
    if (scores.size() < cap * headsPerItem) scores.resize(cap * headsPerItem);
    // Interleaved assignment balances work: later tokens attend over more positions.
    for (std::int64_t item = thread; item < items; item += threads) {
      int const t = static_cast<int>(item / (static_cast<std::int64_t>(c.kvHeads) * itemsPerPair));
      int const g = static_cast<int>(item / itemsPerPair % c.kvHeads);
      int const h = g * group + static_cast<int>(item % itemsPerPair) * headsPerItem;  // the item's first head
      int const heads = std::min(headsPerItem, (g + 1) * group - h);
      Token const& tok = tokens[t];
      std::uint16_t const* keys = cache + ((static_cast<std::size_t>(tok.batch) * 2 + 0) * c.kvHeads + g) * cap * d;
      std::uint16_t const* values = cache + ((static_cast<std::size_t>(tok.batch) * 2 + 1) * c.kvHeads + g) * cap * d;
      // A tree token sees the committed prefix and those new tokens up to itself that its mask row selects
      // (Edge-LLM packs only columns j <= the token's own index, eagleUtilKernels.cu:100-113).
      attendHalf(&qkv_[static_cast<std::size_t>(t) * qkvWidth + static_cast<std::size_t>(h) * d], static_cast<std::size_t>(d), heads,
                 keys, values, static_cast<std::size_t>(d), tok.position + 1, d, scale,
                 &attn_[(static_cast<std::size_t>(t) * c.heads + h) * d], static_cast<std::size_t>(d), scores.data(),
                 tok.mask != nullptr ? tok.position - tok.slot : -1, tok.mask);
    }
  });
}

}  // namespace

LmHeadPrecision parseLmHeadPrecision(std::string_view name) {
  if (name == "auto") return LmHeadPrecision::kAuto;
  if (name == "fp16") return LmHeadPrecision::kStored;
  TV_CHECK_ARG(name == "q8", "lmHead must be 'auto', 'fp16' or 'q8', got '", name, "'");
  return LmHeadPrecision::kInt8;
}

std::unique_ptr<CpuLlmEngine> CpuLlmEngine::load(LlmLoadSpec spec) {
  TV_CHECK_INTERNAL(spec.pool != nullptr, "LlmLoadSpec needs a thread pool");
  std::unique_ptr<CpuLlmEngine> engine(new CpuLlmEngine());
  engine->config_ = parseQwenTextConfig(spec.config, spec.configName);
  engine->limits_ = spec.limits;
  engine->pool_ = spec.pool;
  engine->vocabMap_ = std::move(spec.vocabMap);
  TV_CHECK(engine->vocabMap_ == nullptr || engine->vocabMap_->fullSize() == engine->config_.vocabSize, ErrorCode::kModelLoad,
           "the vocabulary map is for a vocabulary of ", engine->vocabMap_ ? engine->vocabMap_->fullSize() : 0, " tokens, the model has ",
           engine->config_.vocabSize);
  LlmLimits const& lim = spec.limits;
  TV_CHECK_ARG(lim.maxBatch >= 1 && lim.maxInputLength >= 1 && lim.maxKvCapacity >= lim.maxInputLength,
               "invalid LLM limits: batch ", lim.maxBatch, ", input ", lim.maxInputLength, ", KV capacity ", lim.maxKvCapacity,
               " (the KV capacity must hold the longest input)");
  TV_CHECK_ARG(lim.maxVerifyTreeSize >= 0 && lim.maxVerifyTreeSize <= 128 && (lim.maxVerifyTreeSize == 0 || engine->config_.layers >= 2),
               "maxVerifyTreeSize ", lim.maxVerifyTreeSize, " must be in [0, 128] (Edge-LLM's tree attention limit) on a model of >= 2 layers");
  TV_CHECK(!spec.weightFiles.empty(), ErrorCode::kModelLoad, "no LLM weight files (model*.safetensors) were found");
  for (std::string const& path : spec.weightFiles) engine->files_.add(std::make_shared<SafetensorsFile>(path));
  SafetensorsSet embedding;
  if (!spec.embeddingFile.empty()) embedding.add(std::make_shared<SafetensorsFile>(spec.embeddingFile));
  engine->weights_ = loadDecoder(engine->config_, engine->files_, embedding, *engine->pool_, spec.lmHead);
  if (!spec.embeddingFile.empty()) {
    // The tied head may be read in place from embedding.safetensors: keep that map alive too.
    for (auto const& file : embedding.files()) engine->files_.add(file);
  }
  engine->describeTensors();
  return engine;
}

void CpuLlmEngine::describeTensors() {
  QwenTextConfig const& c = config_;
  std::int64_t const B = limits_.maxBatch;
  std::int64_t const L = limits_.maxInputLength;
  std::int64_t const cap = limits_.maxKvCapacity;
  std::int64_t const H = c.hiddenSize;
  std::int64_t const R = c.headDim;
  std::int64_t const N = limits_.maxVerifyTreeSize;
  bool const eagle = N > 0;
  // Names, dtypes and dynamic axes of Edge-LLM 0.6.1's export (tensorrt_edgellm/onnx_export/llm_export.py:723-828).
  addInput(names::kInputsEmbeds, DType::kF16, {-1, -1, H});
  addInput(names::kContextLengths, DType::kI32, {-1});
  addInput(names::kLastTokenIds, DType::kI64, {-1, eagle ? -1 : 1});
  addInput(names::kKvCacheStartIndex, DType::kI32, {-1});
  addInput(names::kRopeCosSin, DType::kF32, {-1, -1, R});  // dim 1 dynamic, as the export declares it
  if (eagle) {
    addInput(names::kAttentionMask, DType::kI32, {-1, -1, -1});
    addInput(names::kAttentionPosId, DType::kI32, {-1, -1});
  }
  for (int l = 0; l < c.layers; ++l) addInput(names::pastKeyValues(l), DType::kF16, {-1, 2, c.kvHeads, -1, c.headDim});
  addOutput(names::kLogits, DType::kF32, {-1, -1, logitsWidth()});
  if (eagle) addOutput(names::kHiddenStates, DType::kF16, {-1, -1, 3 * H});
  for (int l = 0; l < c.layers; ++l) addOutput(names::presentKeyValues(l), DType::kF16, {-1, 2, c.kvHeads, -1, c.headDim});

  // The profiles of Edge-LLM's llm_build (cpp/builder/llmBuilder.cpp:289-421,637-652 in 0.6.1).
  for (int p : {names::kPrefillProfile, names::kDecodeProfile}) {
    bool const prefill = p == names::kPrefillProfile;
    std::int64_t const tokens = prefill ? L : eagle ? N : 1;  // the most tokens per call
    std::int64_t const selected = prefill || !eagle ? 1 : N;  // the most selected tokens per sequence
    setProfile(p, names::kInputsEmbeds, {1, 1, H}, {B, std::max<std::int64_t>(1, tokens == 1 ? 1 : tokens / 2), H}, {B, tokens, H});
    setProfile(p, names::kContextLengths, {1}, {B}, {B});
    setProfile(p, names::kLastTokenIds, {1, 1}, {B, std::max<std::int64_t>(1, selected == 1 ? 1 : selected / 2)}, {B, selected});
    setProfile(p, names::kKvCacheStartIndex, {prefill ? 0 : 1}, {B}, {B});
    setProfile(p, names::kRopeCosSin, {1, cap, R}, {B, cap, R}, {B, cap, R});
    if (eagle) {
      auto const maskWidth = [](std::int64_t n) { return (n + 31) / 32 * 32; };
      std::int64_t const optTokens = prefill ? 1 : std::max<std::int64_t>(1, N / 2);
      setProfile(p, names::kAttentionMask, {1, 1, 1}, {B, optTokens, prefill ? 1 : maskWidth(optTokens)},
                 {B, prefill ? 1 : N, prefill ? 1 : maskWidth(N)});
      setProfile(p, names::kAttentionPosId, {1, 1}, {B, optTokens}, {B, prefill ? 1 : N});
    }
    for (int l = 0; l < c.layers; ++l) {
      setProfile(p, names::pastKeyValues(l), {1, 2, c.kvHeads, 0, c.headDim}, {B, 2, c.kvHeads, cap, c.headDim},
                 {B, 2, c.kvHeads, cap, c.headDim});
    }
  }
}

std::unique_ptr<ExecutionContext> CpuLlmEngine::createExecutionContext() { return std::make_unique<CpuLlmContext>(*this); }

}  // namespace tv::engine::cpu
