// Engine interfaces written from the documented TensorRT Edge-LLM 0.6 contract
// (shared/docs/tensorrt-edge-llm.md §A.5, §A.6, §A.9; Edge-LLM cpp/builder/llmBuilder.cpp and
// cpp/common/bindingNames.h), independent of the CPU engines, for the engine compatibility checks.

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

/** An LLM engine as llm_build makes it: profile 0 prefill, profile 1 decode. */
export function llmContract(d: LlmContractDims, b: { maxBatch: number; maxInputLength: number; kvCapacity: number }): EngineDescription {
  const { maxBatch: B, maxInputLength: L, kvCapacity: Cap } = b;
  const H = d.hiddenSize;
  const R = d.headDim;
  const same = (min: number[], opt: number[], max: number[]) => [
    { min, opt, max },
    { min, opt, max },
  ];
  const tensors: DescribedTensor[] = [
    {
      name: 'inputs_embeds',
      dtype: 'float16',
      shape: [-1, -1, H],
      mode: 'input',
      profiles: [
        { min: [1, 1, H], opt: [B, Math.max(1, L / 2), H], max: [B, L, H] },
        { min: [1, 1, H], opt: [B, 1, H], max: [B, 1, H] },
      ],
    },
    { name: 'context_lengths', dtype: 'int32', shape: [-1], mode: 'input', profiles: same([1], [B], [B]) },
    { name: 'last_token_ids', dtype: 'int64', shape: [-1, 1], mode: 'input', profiles: same([1, 1], [B, 1], [B, 1]) },
    {
      name: 'kvcache_start_index',
      dtype: 'int32',
      shape: [-1],
      mode: 'input',
      profiles: [
        { min: [0], opt: [B], max: [B] },
        { min: [1], opt: [B], max: [B] },
      ],
    },
    { name: 'rope_rotary_cos_sin', dtype: 'float32', shape: [-1, Cap, R], mode: 'input', profiles: same([1, Cap, R], [B, Cap, R], [B, Cap, R]) },
    { name: 'logits', dtype: 'float32', shape: [-1, d.vocabSize], mode: 'output' },
  ];
  for (let l = 0; l < d.layers; l++) {
    const kv = [-1, 2, d.kvHeads, -1, d.headDim];
    tensors.push({
      name: `past_key_values_${l}`,
      dtype: 'float16',
      shape: kv,
      mode: 'input',
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
