// Engine interfaces derived from TensorRT Edge-LLM 0.6.1's own source (release/0.6.1 @ 2620a97 of
// github:whitesscott/TensorRT-Edge-LLM, on disk at $EDGELLM_SRC), not from our design summary: each tensor,
// dtype, shape and profile bound below cites the export or builder line it comes from. The engine checks
// (native/vla/engine_check.cc) must accept these and reject each single deviation (engineCheck.test.ts).
//
// Abbreviations: E = TensorRT-Edge-LLM 0.6.1; llm_export.py = E tensorrt_edgellm/onnx_export/llm_export.py;
// llmBuilder.cpp = E cpp/builder/llmBuilder.cpp; llm_model.py = E tensorrt_edgellm/llm_models/models/llm_model.py.
// An engine dimension is -1 exactly where the export declares a dynamic axis (llm_export.py:752-828); TensorRT
// keeps the ONNX graph's static dims.

export interface DescribedTensor {
  name: string;
  dtype: 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int8' | 'uint8';
  shape: number[];
  mode: 'input' | 'output';
  profiles?: { min: number[]; opt: number[]; max: number[] }[];
}

export interface EngineDescription {
  profiles: number;
  tensors: DescribedTensor[];
}

export interface LlmContractDims {
  hiddenSize: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
}

export interface LlmBuildFlags {
  /** llm_build --maxBatchSize */
  maxBatch: number;
  /** llm_build --maxInputLen */
  maxInputLength: number;
  /** llm_build --maxKVCacheCapacity */
  kvCapacity: number;
  /**
   * llm_build --eagleBase --maxVerifyTreeSize N (export with --is_eagle_base): eagle_base.engine
   * (llmBuilder.cpp:114-127) with base_config.json (llmBuilder.cpp:714-731).
   */
  eagleBase?: { maxVerifyTreeSize: number };
}

const divUp = (a: number, b: number) => Math.floor((a + b - 1) / b);

/**
 * An LLM engine as Edge-LLM 0.6.1's export + llm_build make it (FP16 KV cache, AttentionPlugin path, no
 * LoRA / deepstack / --trt_native_ops): profile 0 = context (prefill), profile 1 = generation
 * (llmBuilder.cpp:244-289, created in that order at :247-248 and added at :285-286).
 */
export function llmContract(d: LlmContractDims, b: LlmBuildFlags): EngineDescription {
  const { maxBatch: B, maxInputLength: L, kvCapacity: Cap } = b;
  const H = d.hiddenSize;
  // rotary_dim = head_dim * partial_rotary_factor (1.0 for Qwen2.5-VL) (llm_export.py:300-303).
  const R = d.headDim;
  const eagle = b.eagleBase !== undefined;
  // setupEagleProfiles' maxTokens for a base engine (llmBuilder.cpp:362-363).
  const N = b.eagleBase?.maxVerifyTreeSize ?? 0;
  // C++ integer division, as the builder's maxInputLen / 2 and maxTokens / 2.
  const half = (x: number) => Math.floor(x / 2);
  const same = (min: number[], opt: number[], max: number[]) => [
    { min, opt, max },
    { min, opt, max },
  ];
  const tensors: DescribedTensor[] = [
    {
      // FP16 [B, S, H] (llm_export.py:359-363); dynamic axes 0, 1 (:767-770).
      name: 'inputs_embeds',
      dtype: 'float16',
      shape: [-1, -1, H],
      mode: 'input',
      profiles: [
        // Context: llmBuilder.cpp:341-343 (vanilla) / :366-368 (EAGLE), identical.
        { min: [1, 1, H], opt: [B, half(L), H], max: [B, L, H] },
        // Generation: one token (vanilla, :344-346) or up to maxVerifyTreeSize (EAGLE base, :369-371).
        eagle ? { min: [1, 1, H], opt: [B, half(N), H], max: [B, N, H] } : { min: [1, 1, H], opt: [B, 1, H], max: [B, 1, H] },
      ],
    },
    // INT32 [B] (llm_export.py:345-348); dynamic axis 0 (:775-777); profiles llmBuilder.cpp:297-300.
    { name: 'context_lengths', dtype: 'int32', shape: [-1], mode: 'input', profiles: same([1], [B], [B]) },
    {
      // INT64 [B, 1] (llm_export.py:325-328); only axis 0 dynamic for vanilla engines; EAGLE: [B, n] with dim 1
      // dynamic (:329-335, :778-783).
      name: 'last_token_ids',
      dtype: 'int64',
      shape: eagle ? [-1, -1] : [-1, 1],
      mode: 'input',
      profiles: eagle
        ? [
            // llmBuilder.cpp:374-377: context selects one token, generation up to maxVerifyTreeSize.
            { min: [1, 1], opt: [B, 1], max: [B, 1] },
            { min: [1, 1], opt: [B, half(N)], max: [B, N] },
          ]
        : // llmBuilder.cpp:349-352.
          same([1, 1], [B, 1], [B, 1]),
    },
    {
      // INT32 [B] (llm_export.py:390-392); dynamic axis 0 (:784-786). Context min [0] = empty cache (normal
      // prefill), generation min [1] (llmBuilder.cpp:312-317).
      name: 'kvcache_start_index',
      dtype: 'int32',
      shape: [-1],
      mode: 'input',
      profiles: [
        { min: [0], opt: [B], max: [B] },
        { min: [1], opt: [B], max: [B] },
      ],
    },
    // FP32 [B, max_position_embeddings, R] (llm_export.py:338-342); dims 0 AND 1 dynamic (:771-774: audit item 11,
    // not Cap in the engine); both profiles pin dim 1 to Cap (llmBuilder.cpp:303-310).
    { name: 'rope_rotary_cos_sin', dtype: 'float32', shape: [-1, -1, R], mode: 'input', profiles: same([1, Cap, R], [B, Cap, R], [B, Cap, R]) },
    // FP32 (llm_model.py:468-470: lm_head on custom_gather_nd(hidden, last_token_ids), cast to float32): rank 3
    // [B, num_tokens, V], axes 0, 1 dynamic (llm_export.py:787-793); V = vocab_size or the reduced size.
    { name: 'logits', dtype: 'float32', shape: [-1, -1, d.vocabSize], mode: 'output' },
  ];
  if (eagle) {
    // Extra EAGLE-base inputs, after kvcache_start_index (llm_export.py:735-736): INT32 like the dummies
    // position_ids [B, S] (:378-380) and attention_mask [B, S, S+past] (:381-385); all axes dynamic (:818-828).
    const maskWidth = (n: number) => divUp(n, 32) * 32; // attnMaskAlignSize = 32 (llmBuilder.cpp:404)
    tensors.push(
      {
        name: 'attention_mask',
        dtype: 'int32',
        shape: [-1, -1, -1],
        mode: 'input',
        // llmBuilder.cpp:405-412: a [B, 1, 1] dummy in context; up to [B, N, roundup32(N)] in generation.
        profiles: [
          { min: [1, 1, 1], opt: [B, 1, 1], max: [B, 1, 1] },
          { min: [1, 1, 1], opt: [B, half(N), maskWidth(half(N))], max: [B, N, maskWidth(N)] },
        ],
      },
      {
        name: 'attention_pos_id',
        dtype: 'int32',
        shape: [-1, -1],
        mode: 'input',
        // llmBuilder.cpp:413-418.
        profiles: [
          { min: [1, 1], opt: [B, 1], max: [B, 1] },
          { min: [1, 1], opt: [B, half(N)], max: [B, N] },
        ],
      },
      // FP16 concat of three layers' hidden states (llm_model.py:473-485), output after logits (llm_export.py:744-746);
      // axes 0, 1 dynamic (:810-816).
      { name: 'hidden_states', dtype: 'float16', shape: [-1, -1, 3 * H], mode: 'output' },
    );
  }
  for (let l = 0; l < d.layers; l++) {
    // FP16 [B, 2, Hkv, past_len, D] (llm_export.py:312-318); axes 0, 3 dynamic (:753-759; present :760-766).
    const kv = [-1, 2, d.kvHeads, -1, d.headDim];
    tensors.push({
      name: `past_key_values_${l}`,
      dtype: 'float16',
      shape: kv,
      mode: 'input',
      // The plugin path's combined cache, the same in both profiles (llmBuilder.cpp:637-652).
      profiles: same([1, 2, d.kvHeads, 0, d.headDim], [B, 2, d.kvHeads, Cap, d.headDim], [B, 2, d.kvHeads, Cap, d.headDim]),
    });
    tensors.push({ name: `present_key_values_${l}`, dtype: 'float16', shape: kv, mode: 'output' });
  }
  return { profiles: 2, tensors };
}

/** visual_build's flags (Edge-LLM 0.6.1 examples/multimodal/visual_build.cpp:67-80; defaults 4 / 1024 / 512). */
export interface VisualBuildFlags {
  minImageTokens: number;
  maxImageTokens: number;
  maxImageTokensPerImage: number;
}

/** The model dimensions a Qwen2.5-VL visual engine takes from the checkpoint. */
export interface VisualContractDims {
  /** in_chans * temporal_patch_size * patch_size^2 = 3 * 2 * 14 * 14 = 1176 for Qwen2.5-VL. */
  patchDim: number;
  /** vision hidden_size / num_heads / 2 (40 for Qwen2.5-VL). */
  rotaryAngles: number;
  /** vision out_hidden_size (2048 for the 3B model). */
  outHidden: number;
}

/**
 * A Qwen2.5-VL visual engine as Edge-LLM 0.6.1 exports and builds it (ViTAttentionPlugin variant, one
 * profile). Every tensor, dtype, shape and bound below cites the Edge-LLM source it comes from:
 * - E/qwen = tensorrt_edgellm/visual_models/qwen2_5_vl_model.py (the ONNX export)
 * - E/vb   = cpp/builder/visualBuilder.cpp (setupQwenViTProfile)
 * - E/ve   = tensorrt_edgellm/onnx_export/visual_export.py
 */
export function visualContract(d: VisualContractDims, flags: VisualBuildFlags): EngineDescription {
  // HW (patches) is 4 x image tokens: spatial_merge_size^2 (E/vb:229-232).
  const minHW = flags.minImageTokens * 4;
  const maxHW = flags.maxImageTokens * 4;
  const optHW = Math.trunc((flags.minImageTokens + flags.maxImageTokens) / 2) * 4; // int64 division (E/vb:232)
  // cu_seqlens admits max(1, maxImageTokens / minImageTokens) images (E/vb:268).
  const maxNumImages = Math.max(1, Math.trunc(flags.maxImageTokens / flags.minImageTokens));
  // The carrier's length is the longest image's patches: maxImageTokensPerImage * 4 (E/vb:271).
  const maxSeqLen = flags.maxImageTokensPerImage * 4;
  const rows = (width?: number) => [{ min: width === undefined ? [minHW] : [minHW, width], opt: width === undefined ? [optHW] : [optHW, width], max: width === undefined ? [maxHW] : [maxHW, width] }];
  return {
    profiles: 1, // one optimization profile (E/vb:196,220)
    tensors: [
      // fp16 patches [hw, 1176]: dummy input E/qwen:363-366 (dtype torch_dtype = fp16, E/ve:117-120),
      // dynamic axis 0 'hw' E/qwen:390-392; profile E/vb:264-265.
      { name: 'input', dtype: 'float16', shape: [-1, d.patchDim], mode: 'input', profiles: rows(d.patchDim) },
      // fp32 rotary angles [hw, head_dim/2]: E/qwen:360,367-370, axis E/qwen:393-395; profile E/vb:266-267.
      { name: 'rotary_pos_emb', dtype: 'float32', shape: [-1, d.rotaryAngles], mode: 'input', profiles: rows(d.rotaryAngles) },
      // int32 [images + 1]: E/qwen:371, axis 'batch_size + 1' E/qwen:396-398; profile [2]/[n+1]/[n+1] E/vb:269-270.
      {
        name: 'cu_seqlens',
        dtype: 'int32',
        shape: [-1],
        mode: 'input',
        profiles: [{ min: [2], opt: [maxNumImages + 1], max: [maxNumImages + 1] }],
      },
      // int32, only its length matters (the longest image's patches): E/qwen:372-374, axis E/qwen:399-401;
      // profile [1]/[maxSeqLen/2]/[maxSeqLen] E/vb:272-273.
      {
        name: 'max_seqlen_carrier',
        dtype: 'int32',
        shape: [-1],
        mode: 'input',
        profiles: [{ min: [1], opt: [Math.trunc(maxSeqLen / 2)], max: [maxSeqLen] }],
      },
      // int32 [windows + 1]: E/qwen:375-377, axis E/qwen:402-404; profile [2]/[maxImageTokens]/[maxImageTokens]
      // ("a safe upper bound", E/vb:278-280).
      {
        name: 'cu_window_seqlens',
        dtype: 'int32',
        shape: [-1],
        mode: 'input',
        profiles: [{ min: [2], opt: [flags.maxImageTokens], max: [flags.maxImageTokens] }],
      },
      // int64 [hw/4] each: E/qwen:380-386, axes E/qwen:405-410; profiles minHW/4 .. maxHW/4 E/vb:281-284.
      { name: 'window_index', dtype: 'int64', shape: [-1], mode: 'input', profiles: [{ min: [minHW / 4], opt: [optHW / 4], max: [maxHW / 4] }] },
      { name: 'reverse_window_index', dtype: 'int64', shape: [-1], mode: 'input', profiles: [{ min: [minHW / 4], opt: [optHW / 4], max: [maxHW / 4] }] },
      // fp16 [image tokens, out_hidden]: output name E/qwen:422, axis 'image_token_len' E/qwen:411-413; the
      // model is exported in fp16 (E/ve:117-120; the 3B fp8 recipe's merger workaround also ends in fp16, E/qwen:209-229).
      { name: 'output', dtype: 'float16', shape: [-1, d.outHidden], mode: 'output' },
    ],
  };
}
