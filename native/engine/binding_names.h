// Engine I/O tensor names of the TensorRT Edge-LLM 0.6 contract (cpp/common/bindingNames.h there),
// shared by the CPU engines, the TensorRT adapter and the host pipeline. Location, dtype and shape are
// the contract; CPU engines take host memory, TensorRT engines device memory.
#pragma once

#include <string>

namespace tv::engine::names {

// ---- LLM engine. Profile 0 = prefill (and chunked prefill), profile 1 = decode. ----
// [f16] [B, S, hidden]: token embeddings with image features spliced in.
inline constexpr char kInputsEmbeds[] = "inputs_embeds";
// [i32] [B]: prefill: new tokens per sequence; decode: committed KV length + 1.
inline constexpr char kContextLengths[] = "context_lengths";
// [i64] [B, 1]: index within S of the token whose logits are wanted. EAGLE-base engines: [B, n], n
// indexes per sequence (dim 1 dynamic, Edge-LLM 0.6.1 tensorrt_edgellm/onnx_export/llm_export.py:778-783).
inline constexpr char kLastTokenIds[] = "last_token_ids";
// [i32] [0] = fresh prefill from an empty cache; [B] = committed KV length per sequence
// (chunked prefill when S > 1, decode when S == 1).
inline constexpr char kKvCacheStartIndex[] = "kvcache_start_index";
// [f32] [B or 1, Cap, R]: per sequence position, R/2 cosines then R/2 sines (M-RoPE resolved by the host).
// Dim 1 is dynamic in the engine (llm_export.py:771-774); both profiles pin it to Cap (llmBuilder.cpp:303-310).
inline constexpr char kRopeCosSin[] = "rope_rotary_cos_sin";
// [f32] [B, n, vocab] (rank 3; n = 1, or the last_token_ids count of an EAGLE-base engine): lm_head on
// the rows last_token_ids selects (Edge-LLM 0.6.1 tensorrt_edgellm/llm_models/models/llm_model.py:464-470,
// dynamic axes 0 = batch, 1 = num_tokens in llm_export.py:787-793; its runtime reads the vocabulary from
// dim 2, cpp/runtime/llmEngineRunner.cpp:800-803). At B = n = 1 the bytes are those of a [vocab] row.
inline constexpr char kLogits[] = "logits";
// [f16] [B, 2, Hkv, Cap, D] per layer; past and present are bound to the same memory (updated in place).
inline std::string pastKeyValues(int layer) { return "past_key_values_" + std::to_string(layer); }
inline std::string presentKeyValues(int layer) { return "present_key_values_" + std::to_string(layer); }

// ---- EAGLE-base LLM engines (llm_build --eagleBase --maxVerifyTreeSize N: eagle_base.engine with
// base_config.json, Edge-LLM 0.6.1 cpp/builder/llmBuilder.cpp:114-127,714-731). Extra tensors; profile 1
// then takes up to N tokens for tree verification (llmBuilder.cpp:357-421). ----
// [i32] [B, S, ceil(S/32)]: the packed tree mask (profile 0: [B, 1, 1], a dummy in prefill).
inline constexpr char kAttentionMask[] = "attention_mask";
// [i32] [B, S]: the position of each tree token (profile 0: [B, 1], a dummy in prefill).
inline constexpr char kAttentionPosId[] = "attention_pos_id";
// [f16] [B, S, 3 * hidden]: three layers' hidden states concatenated, the draft model's input
// (llm_model.py:472-485). An output the runtime must bind even when it does not read it.
inline constexpr char kHiddenStates[] = "hidden_states";

inline constexpr int kPrefillProfile = 0;
inline constexpr int kDecodeProfile = 1;

// ---- Visual engine (Qwen2.5-VL, Edge-LLM 0.6 ViTAttentionPlugin variant). One profile. ----
// [f16] [HW, 3*2*14*14]: patches in Hugging Face Qwen2VLImageProcessor order.
inline constexpr char kVisualInput[] = "input";
// [f32] [HW, head_dim/2]: 2-D rotary angles (h then w frequencies), in patch order (before windowing).
inline constexpr char kVisualRotaryPosEmb[] = "rotary_pos_emb";
// [i32] [images + 1]: cumulative patch counts per image (full-attention blocks), in window order.
inline constexpr char kVisualCuSeqlens[] = "cu_seqlens";
// [i32] [max_seqlen]: shape-only input carrying the longest image's patch count.
inline constexpr char kVisualMaxSeqlenCarrier[] = "max_seqlen_carrier";
// [i32] [windows + 1]: cumulative patch counts per attention window.
inline constexpr char kVisualCuWindowSeqlens[] = "cu_window_seqlens";
// [i64] [HW/4]: merge-unit order used inside the tower (window grouping).
inline constexpr char kVisualWindowIndex[] = "window_index";
// [i64] [HW/4]: its inverse, applied to the output.
inline constexpr char kVisualReverseWindowIndex[] = "reverse_window_index";
// [f16] [HW/4, out_hidden]: one embedding per image token.
inline constexpr char kVisualOutput[] = "output";

}  // namespace tv::engine::names
