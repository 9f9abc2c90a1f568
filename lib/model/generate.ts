/**
 * The model generator (`trt-vla make-model`): writes a Qwen2.5-VL-shaped checkpoint with seeded random
 * weights in the bundle layout of DESIGN.md §2, with the real Qwen tokenizer files. Same seed and
 * options -> the same bytes. The weights are scaled so activations stay finite and O(1) through every
 * layer; the text they produce is meaningless, which is what tests, the demo and benchmarks need.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';
import { native } from '../native.js';
import { writeQwen25VLTokenizerFiles } from '../tokenizer/qwenFiles.js';
import { PRESET_DIMS, type ModelPreset, type PresetDims } from './presets.js';

export type WeightQuantization = 'awq' | 'fp16';

export interface MakeModelOptions {
  preset: ModelPreset;
  /** 'awq': decoder linear layers as AutoAWQ int4 (RTN); 'fp16': everything fp16. Default 'awq'. */
  quant?: WeightQuantization;
  /**
   * Output directory. The model is written to a hidden sibling folder and renamed to `out` at the end,
   * so an interrupted run never leaves a partial model at `out`. `out` may be missing, empty, or a
   * model this generator wrote earlier (replaced); anything else is refused.
   */
  out: string;
  /** Random seed (non-negative integer). Default 1. */
  seed?: number;
  /** Threads for weight generation. Default: all available. */
  threads?: number;
  /** Called after each of the {@link MAKE_MODEL_STEPS} files is written (the 3b-shape weights take minutes). */
  onProgress?: (done: number, total: number, step: string) => void;
}

/** What makeModel writes, in order: the steps its onProgress reports. */
export const MAKE_MODEL_STEPS = ['configs and tokenizer', 'decoder weights', 'embedding table', 'vision weights'] as const;

interface PlanEntry {
  name: string;
  dtype?: 'F16' | 'F32' | 'BF16';
  shape: number[];
  init?: 'normal' | 'constant';
  std?: number;
  mean?: number;
  seedName?: string;
  awq?: boolean;
}

// Qwen2.5-VL special token ids (tokenizer_config.json of Qwen2.5-VL-Instruct).
export const QWEN25VL_TOKEN_IDS = {
  endOfText: 151643,
  imStart: 151644,
  imEnd: 151645,
  visionStart: 151652,
  visionEnd: 151653,
  visionPad: 151654,
  imagePad: 151655,
  videoPad: 151656,
} as const;

/** Standard deviation of the token embedding (and tied LM head). */
const EMBEDDING_STD = 0.05;
const BIAS_STD = 0.02;

function linear(name: string, out: number, inFeatures: number, opts: { awq: boolean; bias: boolean; residual?: number }): PlanEntry[] {
  // 1/sqrt(in) keeps unit-variance inputs at unit variance; projections that add into the residual
  // stream are scaled down further so that depth does not blow the stream up.
  const std = 1 / Math.sqrt(inFeatures) / Math.sqrt(opts.residual ?? 1);
  const entries: PlanEntry[] = [{ name: opts.awq ? name : `${name}.weight`, shape: [out, inFeatures], std, awq: opts.awq }];
  if (opts.bias) entries.push({ name: `${name}.bias`, shape: [out], std: BIAS_STD });
  return entries;
}

function ones(name: string, n: number): PlanEntry {
  return { name, shape: [n], init: 'constant', mean: 1 };
}

export function llmPlan(dims: PresetDims, awq: boolean): PlanEntry[] {
  const t = dims.text;
  const plan: PlanEntry[] = [];
  const residual = 2 * t.layers;
  for (let l = 0; l < t.layers; l++) {
    const p = `model.layers.${l}`;
    plan.push(ones(`${p}.input_layernorm.weight`, t.hiddenSize), ones(`${p}.post_attention_layernorm.weight`, t.hiddenSize));
    plan.push(...linear(`${p}.self_attn.q_proj`, t.heads * t.headDim, t.hiddenSize, { awq, bias: true }));
    plan.push(...linear(`${p}.self_attn.k_proj`, t.kvHeads * t.headDim, t.hiddenSize, { awq, bias: true }));
    plan.push(...linear(`${p}.self_attn.v_proj`, t.kvHeads * t.headDim, t.hiddenSize, { awq, bias: true }));
    plan.push(...linear(`${p}.self_attn.o_proj`, t.hiddenSize, t.heads * t.headDim, { awq, bias: false, residual }));
    plan.push(...linear(`${p}.mlp.gate_proj`, t.intermediateSize, t.hiddenSize, { awq, bias: false }));
    plan.push(...linear(`${p}.mlp.up_proj`, t.intermediateSize, t.hiddenSize, { awq, bias: false }));
    plan.push(...linear(`${p}.mlp.down_proj`, t.hiddenSize, t.intermediateSize, { awq, bias: false, residual }));
  }
  plan.push(ones('model.norm.weight', t.hiddenSize));
  return plan;
}

export function visionPlan(dims: PresetDims): PlanEntry[] {
  const v = dims.vision;
  const h = v.hiddenSize;
  const patchDim = 3 * v.temporalPatchSize * v.patchSize * v.patchSize;
  const plan: PlanEntry[] = [
    { name: 'visual.patch_embed.proj.weight', shape: [h, 3, v.temporalPatchSize, v.patchSize, v.patchSize], std: 1 / Math.sqrt(patchDim) },
  ];
  const residual = 2 * v.depth;
  for (let i = 0; i < v.depth; i++) {
    const b = `visual.blocks.${i}`;
    plan.push(ones(`${b}.norm1.weight`, h), ones(`${b}.norm2.weight`, h));
    plan.push(...linear(`${b}.attn.qkv`, 3 * h, h, { awq: false, bias: true }));
    plan.push(...linear(`${b}.attn.proj`, h, h, { awq: false, bias: true, residual }));
    plan.push(...linear(`${b}.mlp.gate_proj`, v.intermediateSize, h, { awq: false, bias: true }));
    plan.push(...linear(`${b}.mlp.up_proj`, v.intermediateSize, h, { awq: false, bias: true }));
    plan.push(...linear(`${b}.mlp.down_proj`, h, v.intermediateSize, { awq: false, bias: true, residual }));
  }
  plan.push(ones('visual.merger.ln_q.weight', h));
  plan.push(...linear('visual.merger.mlp.0', 4 * h, 4 * h, { awq: false, bias: true }));
  plan.push(...linear('visual.merger.mlp.2', v.outHiddenSize, 4 * h, { awq: false, bias: true }));
  return plan;
}

function textConfig(dims: PresetDims, quant: WeightQuantization, generator: GeneratorMark): Record<string, unknown> {
  const t = dims.text;
  const config: Record<string, unknown> = {
    architectures: ['Qwen2_5_VLForConditionalGeneration'],
    model_type: 'qwen2_5_vl',
    hidden_size: t.hiddenSize,
    intermediate_size: t.intermediateSize,
    num_hidden_layers: t.layers,
    num_attention_heads: t.heads,
    num_key_value_heads: t.kvHeads,
    head_dim: t.headDim,
    vocab_size: t.vocabSize,
    max_position_embeddings: 128000,
    rope_theta: t.ropeTheta,
    rope_scaling: { type: 'mrope', rope_type: 'default', mrope_section: t.mropeSection },
    rms_norm_eps: t.rmsNormEps,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    torch_dtype: 'float16',
    bos_token_id: QWEN25VL_TOKEN_IDS.endOfText,
    eos_token_id: QWEN25VL_TOKEN_IDS.imEnd,
    image_token_id: QWEN25VL_TOKEN_IDS.imagePad,
    video_token_id: QWEN25VL_TOKEN_IDS.videoPad,
    vision_start_token_id: QWEN25VL_TOKEN_IDS.visionStart,
    vision_end_token_id: QWEN25VL_TOKEN_IDS.visionEnd,
    vision_token_id: QWEN25VL_TOKEN_IDS.visionPad,
    trt_vla: generator,
  };
  if (quant === 'awq') {
    config.quantization_config = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm' };
  }
  return config;
}

function visionConfig(dims: PresetDims, generator: GeneratorMark): Record<string, unknown> {
  const v = dims.vision;
  return {
    architectures: ['Qwen2_5_VLForConditionalGeneration'],
    model_type: 'qwen2_5_vl',
    image_token_id: QWEN25VL_TOKEN_IDS.imagePad,
    vision_start_token_id: QWEN25VL_TOKEN_IDS.visionStart,
    vision_end_token_id: QWEN25VL_TOKEN_IDS.visionEnd,
    vision_config: {
      model_type: 'qwen2_5_vl',
      depth: v.depth,
      hidden_size: v.hiddenSize,
      num_heads: v.heads,
      intermediate_size: v.intermediateSize,
      out_hidden_size: v.outHiddenSize,
      fullatt_block_indexes: v.fullAttentionBlocks,
      patch_size: v.patchSize,
      spatial_patch_size: v.patchSize,
      temporal_patch_size: v.temporalPatchSize,
      spatial_merge_size: v.spatialMergeSize,
      window_size: v.windowSize,
      in_chans: 3,
      hidden_act: 'silu',
      tokens_per_second: 2,
    },
    trt_vla: generator,
  };
}

function preprocessorConfig(dims: PresetDims): Record<string, unknown> {
  return {
    image_processor_type: 'Qwen2VLImageProcessor',
    do_resize: true,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    do_convert_rgb: true,
    resample: 3,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_std: [0.26862954, 0.26130258, 0.27577711],
    min_pixels: dims.image.minPixels,
    max_pixels: dims.image.maxPixels,
    patch_size: dims.vision.patchSize,
    temporal_patch_size: dims.vision.temporalPatchSize,
    merge_size: dims.vision.spatialMergeSize,
  };
}

const GENERATION_CONFIG = {
  // As reported for the Impromptu checkpoints (shared docs impromptu-vla.md §1): effectively greedy.
  do_sample: true,
  top_k: 1,
  top_p: 0.001,
  temperature: 0.1,
  repetition_penalty: 1.05,
  bos_token_id: QWEN25VL_TOKEN_IDS.endOfText,
  eos_token_id: [QWEN25VL_TOKEN_IDS.imEnd, QWEN25VL_TOKEN_IDS.endOfText],
  pad_token_id: QWEN25VL_TOKEN_IDS.endOfText,
};

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The `trt_vla` object the generator writes into both config.json files. `random_weights: true` is
 * what marks a model as not a planner (read by bundle.ts `modelWarnings`): `model.warnings` and every
 * `plan.warnings` say so, the CLI prints a banner. `trt-vla quantize` copies config.json, so the mark survives quantization.
 */
export interface GeneratorMark {
  generator: 'trt-vla make-model';
  random_weights: true;
  preset: ModelPreset;
  quant: WeightQuantization;
  seed: number;
  note: string;
}

/** The user cache folder of trt-vla: `$XDG_CACHE_HOME/trt-vla`, else `~/.cache/trt-vla`. */
export function userCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'trt-vla');
}

/**
 * Version of what the generator writes; part of cached model folder names, so a newer package never
 * reuses a cached model an older generator wrote.
 */
export const GENERATOR_FORMAT = 2;

/** The default folder of a generated model in the user cache. */
export function cachedModelDir(preset: ModelPreset, quant: WeightQuantization, seed: number): string {
  return path.join(userCacheDir(), `${preset}-${quant}-seed${seed}-g${GENERATOR_FORMAT}`);
}

/**
 * The demo model of `trt-vla bench` (tiny, AWQ, seed 1) in the user cache, generated on first use.
 * `onGenerate` is called before generating (to tell the user why the first run takes longer).
 */
export async function demoModel(onGenerate?: (dir: string) => void): Promise<string> {
  const dir = cachedModelDir('tiny', 'awq', 1);
  if (!existsSync(dir)) {
    onGenerate?.(dir);
    await makeModel({ preset: 'tiny', quant: 'awq', out: dir, seed: 1 });
  }
  return dir;
}

const PARTIAL_INFIX = '.partial-';

/** The hidden sibling folder a run writes into: `.NAME.partial-PID-RANDOM`. */
function partialDir(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}${PARTIAL_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Removes partial folders of `out` left by runs whose process is gone (killed mid-way). */
async function removeAbandonedPartials(out: string): Promise<void> {
  const prefix = `.${path.basename(out)}${PARTIAL_INFIX}`;
  let entries: string[];
  try {
    entries = readdirSync(path.dirname(out)).filter((e) => e.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (pid === process.pid || (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid))) continue;
    await rm(path.join(path.dirname(out), entry), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `dir` is a model this generator wrote (its llm/config.json carries the mark). */
function isGeneratedModel(dir: string): boolean {
  try {
    const config = JSON.parse(readFileSync(path.join(dir, 'llm', 'config.json'), 'utf8')) as Record<string, unknown>;
    return (config.trt_vla as { generator?: string } | undefined)?.generator === 'trt-vla make-model';
  } catch {
    return false;
  }
}

/** Checks that `out` may be replaced: missing, an empty folder, or an earlier generated model. */
function checkReplaceable(out: string): void {
  if (!existsSync(out)) return;
  let empty: boolean;
  try {
    empty = readdirSync(out).length === 0;
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `the output ${out} exists and is not a folder`, { cause: err });
  }
  if (!empty && !isGeneratedModel(out)) {
    throw new TrtVlaError(
      'ERR_INVALID_ARGUMENT',
      `the output folder ${out} is not empty and is not a model make-model wrote; choose a new or empty folder (it is replaced as a whole)`,
    );
  }
}

/** Moves the finished `partial` to `out`, replacing an empty folder or an earlier generated model. */
async function publish(partial: string, out: string): Promise<void> {
  checkReplaceable(out);
  if (existsSync(out)) {
    const previous = `${partialDir(out)}-old`;
    // Two renames: `out` is briefly missing, never partial. A concurrent reader that already opened
    // the old files keeps them (POSIX unlink semantics).
    await rename(out, previous);
    await rename(partial, out);
    await rm(previous, { recursive: true, force: true });
  } else {
    await rename(partial, out);
  }
}

/** Writes the bundle and returns the directory. */
export async function makeModel(options: MakeModelOptions): Promise<string> {
  const dims = PRESET_DIMS[options.preset];
  if (!dims) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Unknown model preset '${String(options.preset)}'`);
  const quant = options.quant ?? 'awq';
  const seed = options.seed ?? 1;
  const out = path.resolve(options.out);
  // The weights are written natively: fail before creating any folder when the addon is missing.
  native();
  checkReplaceable(out);
  await mkdir(path.dirname(out), { recursive: true });
  await removeAbandonedPartials(out);
  const partial = partialDir(out);
  try {
    await writeModelFiles(partial, dims, { preset: options.preset, quant, seed, threads: options.threads, onProgress: options.onProgress });
    await publish(partial, out);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  return out;
}

async function writeModelFiles(
  out: string,
  dims: PresetDims,
  options: Pick<MakeModelOptions, 'preset' | 'threads' | 'onProgress'> & { quant: WeightQuantization; seed: number },
): Promise<void> {
  const { quant, seed } = options;
  let done = 0;
  const stepDone = () => options.onProgress?.(++done, MAKE_MODEL_STEPS.length, MAKE_MODEL_STEPS[done - 1]!);
  const llmDir = path.join(out, 'llm');
  const visualDir = path.join(out, 'visual');
  await mkdir(llmDir, { recursive: true });
  await mkdir(visualDir, { recursive: true });
  const generator: GeneratorMark = {
    generator: 'trt-vla make-model',
    random_weights: true,
    preset: options.preset,
    quant,
    seed,
    note: 'random weights, not a trained model',
  };
  const run = { threads: options.threads, metadata: { format: 'pt', generator: 'trt-vla make-model' } };
  const t = dims.text;

  await writeJson(path.join(llmDir, 'config.json'), textConfig(dims, quant, generator));
  await writeJson(path.join(llmDir, 'generation_config.json'), GENERATION_CONFIG);
  await writeQwen25VLTokenizerFiles(llmDir);
  await writeJson(path.join(visualDir, 'config.json'), visionConfig(dims, generator));
  await writeJson(path.join(visualDir, 'preprocessor_config.json'), preprocessorConfig(dims));
  stepDone();
  await native().writeRandomCheckpoint(path.join(llmDir, 'model.safetensors'), llmPlan(dims, quant === 'awq'), seed, run);
  stepDone();
  await native().writeRandomCheckpoint(
    path.join(llmDir, 'embedding.safetensors'),
    [{ name: 'embedding', shape: [t.vocabSize, t.hiddenSize], std: EMBEDDING_STD, seedName: 'model.embed_tokens.weight' }],
    seed,
    run,
  );
  stepDone();
  await native().writeRandomCheckpoint(path.join(visualDir, 'model.safetensors'), visionPlan(dims), seed, run);
  stepDone();
}
