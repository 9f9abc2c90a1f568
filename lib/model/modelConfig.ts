/**
 * From a model directory's files to what the runtime needs: the native load spec (engines, embedding
 * table, image processor settings, token ids, limits), the default sampling of generation_config.json
 * and the stop tokens.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';
import { describeRule, describeValue, invalidArgument, type NumberRule, requireObject, requireRule, satisfiesRule } from '../validate.js';
import type { ModelFiles } from './bundle.js';

/** LLaMA-Factory's image regularisation, applied before the image processor (training-time behaviour). */
export interface ImageRegularization {
  /** Images above this many pixels are scaled down first. Impromptu: 262144 (512 x 512). */
  maxPixels: number;
  /** Images below this many pixels are scaled up first. Impromptu: 1024. */
  minPixels: number;
}

/** What the Impromptu checkpoints were trained with (LLaMA-Factory image_max_pixels / image_min_pixels). */
export const IMPROMPTU_IMAGE_REGULARIZATION: ImageRegularization = { maxPixels: 262144, minPixels: 1024 };

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). 1 = greedy. */
  topK?: number;
  /** Nucleus sampling threshold in (0, 1]. */
  topP?: number;
  /** Hugging Face repetition penalty over the prompt and the output (1 = off). */
  repetitionPenalty?: number;
  /** Seed of the random draw; same seed, same tokens. Default 0. */
  seed?: number;
}

export interface NativeLoadLimits {
  /** Undefined: 4096 on the CPU, the engine's build-time capacity on TensorRT. */
  maxKvCapacity?: number;
  /** Undefined: the KV capacity on the CPU, the engine's --maxInputLen on TensorRT. */
  maxInputLength?: number;
  /** Undefined: the visual engine's (builder_config / profile), else 4096 on the CPU. */
  maxImageTokens?: number;
  /** Undefined: the visual engine's, else min(2048, maxImageTokens) on the CPU. */
  maxImageTokensPerImage?: number;
}

/** Float32's largest value: the samplers apply the repetition penalty in fp32 (native/vla/sampler.cc). */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The accepted range of each sampling field, for request options and generation_config.json alike:
 * what the native samplers accept (native/vla/sampler.cc, native/cuda/kernels/sampling.cu), checked
 * before a request or a model reaches them.
 */
export const SAMPLING_RULES: Readonly<Record<keyof SamplingOptions, NumberRule>> = {
  temperature: { min: 0 },
  topK: { integer: true, min: 0, max: 1 << 24 },
  topP: { min: 0, minExclusive: true, max: 1 },
  repetitionPenalty: { min: 0, minExclusive: true, max: FLOAT32_MAX },
  seed: { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
};

/** Request sampling options: an object of known fields, each in its SAMPLING_RULES range. */
export function validateSampling(value: unknown, name = 'sampling'): SamplingOptions | undefined {
  if (value === undefined) return undefined;
  const options = requireObject(value, name);
  const rules = SAMPLING_RULES as Record<string, NumberRule>;
  const sampling: Record<string, number> = {};
  for (const [key, field] of Object.entries(options)) {
    if (field === undefined) continue;
    const rule = rules[key];
    if (!rule) throw invalidArgument(`a key of ${name}`, `one of ${Object.keys(rules).join(', ')}`, key);
    sampling[key] = requireRule(field, `${name}.${key}`, rule);
  }
  return sampling as SamplingOptions;
}

/** A model file's field that is out of range: ERR_MODEL_LOAD naming the file and the field. */
function configError(file: string, field: string, expected: string, value: unknown): TrtVlaError {
  return new TrtVlaError('ERR_MODEL_LOAD', `${file}: ${field} must be ${expected}, but it is ${describeValue(value)}`);
}

/**
 * A field of a model JSON file read against a rule: absent (or null, as some exporters write unset
 * fields) gives undefined; anything else must satisfy the rule.
 */
function configNumber(config: Record<string, unknown>, file: string, field: string, rule: NumberRule, fieldName = field): number | undefined {
  const value = config[field];
  if (value === undefined || value === null) return undefined;
  if (!satisfiesRule(value, rule)) throw configError(file, fieldName, describeRule(rule), value);
  return value;
}

function configTriple(config: Record<string, unknown>, file: string, field: string, rule: NumberRule): [number, number, number] | undefined {
  const value = config[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => satisfiesRule(v, rule))) {
    throw configError(file, field, `three numbers, each ${describeRule(rule)}`, value);
  }
  return value as [number, number, number];
}

/** Where the optional JSON files of a model sit (next to the tokenizer / the vision config). */
function generationConfigPath(files: ModelFiles): string {
  return path.join(files.llm.tokenizerDir, 'generation_config.json');
}

function preprocessorConfigPath(files: ModelFiles): string {
  return path.join(path.dirname(files.visual.configPath), 'preprocessor_config.json');
}

// The native limits of the image processor settings (native/napi/model_wrap.cc, loadSpecFromJs).
const PIXELS_RULE: NumberRule = { integer: true, min: 1, max: 2 ** 30 };
const POSITIVE_RULE: NumberRule = { min: 0, minExclusive: true };

/**
 * The image processor settings of preprocessor_config.json (Qwen2VLImageProcessor), with its defaults.
 * Every value is checked here, at load: an out-of-range one is ERR_MODEL_LOAD naming the file and field
 * (image_std 0 would divide by zero in every plan; min_pixels above max_pixels makes no resize possible).
 */
export function preprocessSpec(files: ModelFiles, regularization: ImageRegularization | false): Record<string, unknown> {
  const file = preprocessorConfigPath(files);
  const p = files.visual.preprocessorConfig ?? {};
  for (const step of ['do_resize', 'do_rescale', 'do_normalize', 'do_convert_rgb']) {
    // The pipeline always resizes, rescales, normalises and converts to RGB, as the Qwen2.5-VL processor does.
    if (p[step] !== undefined && p[step] !== null && p[step] !== true) throw configError(file, step, 'true (the only processing trt-vla implements)', p[step]);
  }
  if (p.size !== undefined && p.size !== null && (typeof p.size !== 'object' || Array.isArray(p.size))) {
    throw configError(file, 'size', 'an object { shortest_edge, longest_edge }', p.size);
  }
  const size = (p.size ?? {}) as Record<string, unknown>;
  const minPixels =
    configNumber(p, file, 'min_pixels', PIXELS_RULE) ?? configNumber(size, file, 'shortest_edge', PIXELS_RULE, 'size.shortest_edge') ?? 56 * 56;
  const maxPixels =
    configNumber(p, file, 'max_pixels', PIXELS_RULE) ?? configNumber(size, file, 'longest_edge', PIXELS_RULE, 'size.longest_edge') ?? 28 * 28 * 1280;
  if (minPixels > maxPixels) throw configError(file, 'min_pixels', `at most max_pixels (${maxPixels})`, minPixels);
  return {
    patchSize: configNumber(p, file, 'patch_size', { integer: true, min: 1, max: 1024 }) ?? 14,
    temporalPatchSize: configNumber(p, file, 'temporal_patch_size', { integer: true, min: 1, max: 16 }) ?? 2,
    mergeSize: configNumber(p, file, 'merge_size', { integer: true, min: 1, max: 16 }) ?? 2,
    // Newer processors write size.shortest_edge / longest_edge for the pixel bounds.
    minPixels,
    maxPixels,
    mean: configTriple(p, file, 'image_mean', { min: -FLOAT32_MAX, max: FLOAT32_MAX }) ?? [0.48145466, 0.4578275, 0.40821073],
    std: configTriple(p, file, 'image_std', { ...POSITIVE_RULE, max: FLOAT32_MAX }) ?? [0.26862954, 0.26130258, 0.27577711],
    rescaleFactor: configNumber(p, file, 'rescale_factor', { ...POSITIVE_RULE, max: FLOAT32_MAX }) ?? 1 / 255,
    preResizeMaxPixels: regularization ? regularization.maxPixels : 0,
    preResizeMinPixels: regularization ? regularization.minPixels : 0,
  };
}

/**
 * The processor's min_pixels against the per-image token limit: the smart resize scales every image up
 * to at least min_pixels, so a min_pixels worth more image tokens than one image may have would make
 * every plan fail; that is the model file's fault, reported at load.
 */
export function checkImageTokenBounds(files: ModelFiles, preprocess: Record<string, unknown>, maxImageTokensPerImage: number): void {
  const { minPixels, patchSize, mergeSize } = preprocess as { minPixels: number; patchSize: number; mergeSize: number };
  const fewest = Math.ceil(minPixels / (patchSize * mergeSize) ** 2);
  if (fewest > maxImageTokensPerImage) {
    throw configError(
      preprocessorConfigPath(files),
      'min_pixels',
      `at most ${maxImageTokensPerImage * (patchSize * mergeSize) ** 2} (every image is resized to at least min_pixels, ` +
        `${fewest} image tokens here, and one image may have at most ${maxImageTokensPerImage}: options.maxImageTokensPerImage)`,
      minPixels,
    );
  }
}

/** generation_config.json's name of each sampling field. */
const GENERATION_FIELDS = { temperature: 'temperature', topK: 'top_k', topP: 'top_p', repetitionPenalty: 'repetition_penalty' } as const;

/**
 * Sampling defaults from generation_config.json (greedy when it does not sample). Every field is checked
 * at load against {@link SAMPLING_RULES}, whether or not do_sample uses it: a top_k of -5 is a broken
 * file, reported as ERR_MODEL_LOAD naming file and field rather than failing every plan later.
 */
export function defaultSampling(files: ModelFiles): Required<SamplingOptions> {
  const file = generationConfigPath(files);
  const g = files.llm.generationConfig ?? {};
  if (g.do_sample !== undefined && g.do_sample !== null && typeof g.do_sample !== 'boolean') throw configError(file, 'do_sample', 'a boolean', g.do_sample);
  const read = (key: keyof typeof GENERATION_FIELDS) => configNumber(g, file, GENERATION_FIELDS[key], SAMPLING_RULES[key]);
  const values = { temperature: read('temperature'), topK: read('topK'), topP: read('topP'), repetitionPenalty: read('repetitionPenalty') };
  const sampling: Required<SamplingOptions> = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: values.repetitionPenalty ?? 1, seed: 0 };
  if (g.do_sample === true) {
    sampling.temperature = values.temperature ?? 1;
    sampling.topK = values.topK ?? 50;
    sampling.topP = values.topP ?? 1;
  }
  return sampling;
}

/**
 * Where defaultSampling's values come from, as model.description reports it. Edge-LLM bundles have no
 * generation_config.json unless it is copied in: its export saves only the tokenizer and processor
 * (Edge-LLM 0.6.1 tensorrt_edgellm/onnx_export/llm_export.py:986-993) and llm_build copies only
 * tokenizer_config.json, tokenizer.json and processed_chat_template.json (cpp/builder/llmBuilder.cpp:770-771).
 */
export function samplingSource(files: ModelFiles): string {
  if (files.llm.generationConfig !== undefined) return path.join(path.relative(files.dir, files.llm.tokenizerDir), 'generation_config.json');
  return 'built-in defaults (greedy, repetition_penalty 1): the model has no generation_config.json';
}

/** The load-time warning for a model without generation_config.json, or undefined when it has one. */
export function missingGenerationConfigWarning(files: ModelFiles): string | undefined {
  if (files.llm.generationConfig !== undefined) return undefined;
  const where = path.join(files.llm.tokenizerDir, 'generation_config.json');
  return (
    `${where} is missing (TensorRT Edge-LLM's export does not write it): sampling defaults to greedy decoding without a ` +
    `repetition penalty (temperature 0, top_k 0, top_p 1, repetition_penalty 1). Copy the checkpoint's generation_config.json ` +
    `there to decode as the checkpoint does (and as the CPU backend does on the checkpoint itself).`
  );
}

/** generation_config.json's eos_token_id: one id or a list (checked at load), [] when absent. */
export function configEosTokens(files: ModelFiles): number[] {
  const eos = files.llm.generationConfig?.eos_token_id;
  if (eos === undefined || eos === null) return [];
  const rule: NumberRule = { integer: true, min: 0, max: 2 ** 31 - 1 };
  const list: unknown[] = Array.isArray(eos) ? eos : [eos];
  if (!list.every((id) => satisfiesRule(id, rule))) {
    throw configError(generationConfigPath(files), 'eos_token_id', `a token id (${describeRule(rule)}) or a list of them`, eos);
  }
  return list as number[];
}

/** Token ids that end generation: generation_config's eos ids plus the chat turn's end. */
export function stopTokens(eos: readonly number[], imEnd: number, endOfText: number): number[] {
  return [...new Set<number>([imEnd, endOfText, ...eos])];
}

/** The Edge-LLM plugin library file's conventional name (Edge-LLM's CMake target NvInfer_edgellm_plugin). */
export const EDGELLM_PLUGIN_FILE = 'libNvInfer_edgellm_plugin.so';

/**
 * The plugin library TensorRT engines need: the option, $TRT_VLA_PLUGIN_PATH, $EDGELLM_PLUGIN_PATH
 * (Edge-LLM's own variable), then one in the model folder. Throws when none is found: every Edge-LLM
 * engine uses its attention plugin, so deserializing without it can only fail, less clearly.
 */
export function resolvePluginLibrary(modelDir: string, option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const candidates: [string, string | undefined][] = [
    ['options.pluginLibrary', option],
    ['TRT_VLA_PLUGIN_PATH', env.TRT_VLA_PLUGIN_PATH],
    ['EDGELLM_PLUGIN_PATH', env.EDGELLM_PLUGIN_PATH],
  ];
  for (const [source, value] of candidates) {
    if (value === undefined || value === '') continue;
    if (!existsSync(value)) throw new TrtVlaError('ERR_MODEL_LOAD', `the Edge-LLM plugin library given by ${source} does not exist: ${value}`);
    return path.resolve(value);
  }
  const bundled = path.join(modelDir, EDGELLM_PLUGIN_FILE);
  if (existsSync(bundled)) return bundled;
  throw new TrtVlaError(
    'ERR_MODEL_LOAD',
    `TensorRT Edge-LLM engines need the plugin library ${EDGELLM_PLUGIN_FILE}: pass options.pluginLibrary, set TRT_VLA_PLUGIN_PATH, ` +
      `or copy it into ${modelDir}`,
  );
}

/** The native loadModel spec: engines or weights, embedding table, processor settings, token ids, limits. */
export function nativeLoadSpec(
  files: ModelFiles,
  options: {
    backend: 'cpu' | 'tensorrt';
    tensorrt?: { pluginLibrary: string; cudaGraphs: boolean };
    threads?: number;
    /** CPU LM head precision (LoadModelOptions.lmHead); default 'auto'. */
    lmHead?: 'auto' | 'fp16' | 'q8';
    limits: NativeLoadLimits;
    regularization: ImageRegularization | false;
    imagePad: number;
    visionStart: number;
  },
): Record<string, unknown> {
  const trt = options.backend === 'tensorrt';
  const embeddingNames = ['embedding', 'model.embed_tokens.weight', 'model.language_model.embed_tokens.weight'];
  const embeddingFiles = files.llm.embeddingFile ? [files.llm.embeddingFile] : files.llm.weightFiles;
  return {
    backend: options.backend,
    threads: options.threads,
    llm: {
      config: JSON.stringify(files.llm.config),
      configName: relativeName(files, files.llm.configPath),
      weightFiles: trt ? [] : files.llm.weightFiles,
      engineFile: trt ? files.llm.engineFile : undefined,
      embeddingFile: files.llm.embeddingFile,
      vocabMapFile: files.llm.vocabMapFile,
      lmHead: options.lmHead ?? 'auto',
    },
    visual: {
      config: JSON.stringify(files.visual.config),
      configName: relativeName(files, files.visual.configPath),
      weightFiles: trt ? [] : files.visual.weightFiles,
      engineFile: trt ? files.visual.engineFile : undefined,
    },
    tensorrt: options.tensorrt,
    embedding: { files: embeddingFiles, names: embeddingNames },
    preprocess: preprocessSpec(files, options.regularization),
    tokens: { imagePad: options.imagePad, visionStart: options.visionStart },
    limits: options.limits,
  };
}

function relativeName(files: ModelFiles, file: string): string {
  return file.startsWith(files.dir) ? file.slice(files.dir.length + 1) : file;
}
