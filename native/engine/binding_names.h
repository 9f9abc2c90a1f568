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
// [i64] [B, 1]: index within S of the token whose logits are wanted.
inline constexpr char kLastTokenIds[] = "last_token_ids";
// [i32] [0] = fresh prefill from an empty cache; [B] = committed KV length per sequence
// (chunked prefill when S > 1, decode when S == 1).
inline constexpr char kKvCacheStartIndex[] = "kvcache_start_index";
// [f32] [B or 1, Cap, R]: per sequence position, R/2 cosines then R/2 sines (M-RoPE resolved by the host).
inline constexpr char kRopeCosSin[] = "rope_rotary_cos_sin";
// [f32] [B, vocab]: logits of the selected tokens.
inline constexpr char kLogits[] = "logits";
// [f16] [B, 2, Hkv, Cap, D] per layer; past and present are bound to the same memory (updated in place).
inline std::string pastKeyValues(int layer) { return "past_key_values_" + std::to_string(layer); }
inline std::string presentKeyValues(int layer) { return "present_key_values_" + std::to_string(layer); }

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
