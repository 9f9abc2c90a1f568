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

/** A Qwen2.5-VL visual engine of Edge-LLM 0.6 (ViTAttentionPlugin variant): one profile over HW patches. */
export function visualContract(d: { patchDim: number; rotaryAngles: number; outHidden: number }, hw: { min: number; opt: number; max: number }): EngineDescription {
  const one = (f: (n: number) => number[]) => [{ min: f(hw.min), opt: f(hw.opt), max: f(hw.max) }];
  return {
    profiles: 1,
    tensors: [
      { name: 'input', dtype: 'float16', shape: [-1, d.patchDim], mode: 'input', profiles: one((n) => [n, d.patchDim]) },
      { name: 'rotary_pos_emb', dtype: 'float32', shape: [-1, d.rotaryAngles], mode: 'input', profiles: one((n) => [n, d.rotaryAngles]) },
      { name: 'cu_seqlens', dtype: 'int32', shape: [-1], mode: 'input', profiles: [{ min: [2], opt: [2], max: [5] }] },
      { name: 'max_seqlen_carrier', dtype: 'int32', shape: [-1], mode: 'input', profiles: one((n) => [n]) },
      { name: 'cu_window_seqlens', dtype: 'int32', shape: [-1], mode: 'input', profiles: one((n) => [n / 16 + 1]) },
      { name: 'window_index', dtype: 'int64', shape: [-1], mode: 'input', profiles: one((n) => [n / 4]) },
      { name: 'reverse_window_index', dtype: 'int64', shape: [-1], mode: 'input', profiles: one((n) => [n / 4]) },
      { name: 'output', dtype: 'float16', shape: [-1, d.outHidden], mode: 'output' },
    ],
  };
}
