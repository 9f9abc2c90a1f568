/**
 * Shapes of the Qwen2.5-VL-style checkpoints the model generator writes. `3b-shape` has the real
 * Qwen2.5-VL-3B-Instruct dimensions (shared docs, tensorrt-edge-llm.md appendix); `tiny` and `small`
 * keep every structural feature (GQA, M-RoPE sections, windowed + full attention, 2x2 merger) at a
 * size that runs in milliseconds. `0.5b-shape` has Qwen2.5-0.5B's decoder dimensions (no Qwen2.5-VL
 * of that size exists; its vision tower is the `small` one with an 896-wide merger): a second,
 * overhead-dominated decoder size for benchmarks against other engines.
 */

export type ModelPreset = 'tiny' | 'small' | '0.5b-shape' | '3b-shape';
export const MODEL_PRESETS: readonly ModelPreset[] = ['tiny', 'small', '0.5b-shape', '3b-shape'];

export interface TextDims {
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  mropeSection: [number, number, number];
  vocabSize: number;
  ropeTheta: number;
  rmsNormEps: number;
}

export interface VisionDims {
  depth: number;
  hiddenSize: number;
  heads: number;
  intermediateSize: number;
  outHiddenSize: number;
  fullAttentionBlocks: number[];
  patchSize: number;
  temporalPatchSize: number;
  spatialMergeSize: number;
  windowSize: number;
}

export interface ImageLimits {
  /** Smart-resize bounds of the image processor (pixels). */
  minPixels: number;
  maxPixels: number;
}

export interface PresetDims {
  text: TextDims;
  vision: VisionDims;
  image: ImageLimits;
}

/** The Qwen2.5-VL vocabulary size (embedding rows; the tokenizer uses ids up to 151664). */
export const QWEN25VL_VOCAB_SIZE = 151936;

/** Qwen2-VL image processor defaults: min_pixels 56 x 56, max_pixels 28 x 28 x 1280. */
const QWEN_PROCESSOR_BOUNDS: ImageLimits = { minPixels: 56 * 56, maxPixels: 28 * 28 * 1280 };
const VISION_COMMON = { patchSize: 14, temporalPatchSize: 2, spatialMergeSize: 2, windowSize: 112 };
const TEXT_COMMON = { vocabSize: QWEN25VL_VOCAB_SIZE, ropeTheta: 1e6, rmsNormEps: 1e-6 };

export const PRESET_DIMS: Readonly<Record<ModelPreset, PresetDims>> = {
  tiny: {
    text: { hiddenSize: 128, intermediateSize: 384, layers: 2, heads: 4, kvHeads: 2, headDim: 32, mropeSection: [4, 6, 6], ...TEXT_COMMON },
    vision: { depth: 2, hiddenSize: 64, heads: 2, intermediateSize: 128, outHiddenSize: 128, fullAttentionBlocks: [1], ...VISION_COMMON },
    // Small images keep the tiny demo fast: at most 224 x 224 pixels = 64 image tokens.
    image: { minPixels: 3136, maxPixels: 224 * 224 },
  },
  small: {
    text: { hiddenSize: 512, intermediateSize: 1408, layers: 4, heads: 8, kvHeads: 2, headDim: 64, mropeSection: [8, 12, 12], ...TEXT_COMMON },
    vision: { depth: 4, hiddenSize: 256, heads: 4, intermediateSize: 512, outHiddenSize: 512, fullAttentionBlocks: [1, 3], ...VISION_COMMON },
    image: QWEN_PROCESSOR_BOUNDS,
  },
  // Qwen2.5-0.5B(-Instruct) config.json: hidden 896, intermediate 4864, 24 layers, 14 / 2 heads,
  // head_dim 64, tied embeddings.
  '0.5b-shape': {
    text: { hiddenSize: 896, intermediateSize: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64, mropeSection: [8, 12, 12], ...TEXT_COMMON },
    vision: { depth: 4, hiddenSize: 256, heads: 4, intermediateSize: 512, outHiddenSize: 896, fullAttentionBlocks: [1, 3], ...VISION_COMMON },
    image: QWEN_PROCESSOR_BOUNDS,
  },
  '3b-shape': {
    text: { hiddenSize: 2048, intermediateSize: 11008, layers: 36, heads: 16, kvHeads: 2, headDim: 128, mropeSection: [16, 24, 24], ...TEXT_COMMON },
    vision: { depth: 32, hiddenSize: 1280, heads: 16, intermediateSize: 3420, outHiddenSize: 2048, fullAttentionBlocks: [7, 15, 23, 31], ...VISION_COMMON },
    // Qwen2.5-VL's processor defaults; the 262144-pixel training cap is LLaMA-Factory's regularisation
    // before the processor (loadModel's imageRegularization), not a processor setting.
    image: QWEN_PROCESSOR_BOUNDS,
  },
};
