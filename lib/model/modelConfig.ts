/**
 * From a model directory's files to what the runtime needs: the native load spec (engines, embedding
 * table, image processor settings, token ids, limits), the default sampling of generation_config.json
 * and the stop tokens.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';
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

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function triple(value: unknown): [number, number, number] | undefined {
  return Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number') ? (value as [number, number, number]) : undefined;
}

/** The image processor settings of preprocessor_config.json (Qwen2VLImageProcessor), with its defaults. */
export function preprocessSpec(files: ModelFiles, regularization: ImageRegularization | false): Record<string, unknown> {
  const p = files.visual.preprocessorConfig ?? {};
  const size = (p.size ?? {}) as Record<string, unknown>;
  return {
    patchSize: num(p.patch_size) ?? 14,
    temporalPatchSize: num(p.temporal_patch_size) ?? 2,
    mergeSize: num(p.merge_size) ?? 2,
    // Newer processors write size.shortest_edge / longest_edge for the pixel bounds.
    minPixels: num(p.min_pixels) ?? num(size.shortest_edge) ?? 56 * 56,
    maxPixels: num(p.max_pixels) ?? num(size.longest_edge) ?? 28 * 28 * 1280,
    mean: triple(p.image_mean) ?? [0.48145466, 0.4578275, 0.40821073],
    std: triple(p.image_std) ?? [0.26862954, 0.26130258, 0.27577711],
    rescaleFactor: num(p.rescale_factor) ?? 1 / 255,
    preResizeMaxPixels: regularization ? regularization.maxPixels : 0,
    preResizeMinPixels: regularization ? regularization.minPixels : 0,
  };
}

/** Sampling defaults from generation_config.json (greedy when it does not sample). */
export function defaultSampling(files: ModelFiles): Required<SamplingOptions> {
  const g = files.llm.generationConfig ?? {};
  const sampling: Required<SamplingOptions> = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: num(g.repetition_penalty) ?? 1, seed: 0 };
  if (g.do_sample === true) {
    sampling.temperature = num(g.temperature) ?? 1;
    sampling.topK = num(g.top_k) ?? 50;
    sampling.topP = num(g.top_p) ?? 1;
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

/** Token ids that end generation: generation_config's eos ids plus the chat turn's end. */
export function stopTokens(files: ModelFiles, imEnd: number, endOfText: number): number[] {
  const eos = files.llm.generationConfig?.eos_token_id;
  const ids = new Set<number>([imEnd, endOfText]);
  for (const id of Array.isArray(eos) ? eos : [eos]) if (typeof id === 'number') ids.add(id);
  return [...ids];
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
