/**
 * Finding the files of a model directory. Two layouts are accepted (DESIGN.md §2):
 * - the bundle layout of TensorRT Edge-LLM exports, which the generator also writes:
 *   `llm/` (config.json, tokenizer files, embedding.safetensors, llm.engine or model*.safetensors)
 *   and `visual/` (config.json, preprocessor_config.json, visual.engine or model*.safetensors);
 * - a plain Hugging Face Qwen2.5-VL checkpoint (config.json with vision_config, model*.safetensors,
 *   tokenizer and preprocessor files in one folder), dense or AutoAWQ int4.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';

export interface ComponentFiles {
  /** config.json path and parsed contents. */
  configPath: string;
  config: Record<string, unknown>;
  /** Safetensors weight files (CPU backend); empty when only an engine is present. */
  weightFiles: string[];
  /** TensorRT engine plan, when present. */
  engineFile?: string;
}

export interface ModelFiles {
  dir: string;
  layout: 'bundle' | 'huggingface';
  llm: ComponentFiles & {
    /** embedding.safetensors ("embedding" [vocab, hidden]), when the layout has one. */
    embeddingFile?: string;
    /** vocab_map.safetensors of reduced-vocabulary engines. */
    vocabMapFile?: string;
    tokenizerDir: string;
    generationConfig?: Record<string, unknown>;
  };
  visual: ComponentFiles & { preprocessorConfig?: Record<string, unknown> };
}

/** The warning of a model whose weights are random (made by `trt-vla make-model`). */
export const RANDOM_WEIGHTS_WARNING =
  'this model has random weights (made by trt-vla make-model): its waypoints are well-formed but meaningless, not a plan';

/** True when a parsed config.json carries the generator's mark `trt_vla.random_weights: true`. */
export function hasRandomWeights(config: Record<string, unknown> | undefined): boolean {
  const mark = config?.trt_vla as { random_weights?: unknown } | undefined;
  return mark?.random_weights === true;
}

/** What every plan of this model should carry as a warning (random weights, for now). */
export function modelWarnings(files: ModelFiles): string[] {
  return hasRandomWeights(files.llm.config) || hasRandomWeights(files.visual.config) ? [RANDOM_WEIGHTS_WARNING] : [];
}

function loadError(message: string): TrtVlaError {
  return new TrtVlaError('ERR_MODEL_LOAD', message);
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrtVlaError('ERR_MODEL_LOAD', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new TrtVlaError('ERR_MODEL_LOAD', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function optionalJson(file: string): Record<string, unknown> | undefined {
  return existsSync(file) ? readJson(file) : undefined;
}

/** model*.safetensors of a folder, in name order (shards sort correctly: -00001-of-00002). */
function weightFilesIn(dir: string, exclude: readonly string[] = []): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors') && !exclude.includes(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function requireFile(file: string, what: string): string {
  if (!existsSync(file)) throw loadError(`${what} is missing: ${file}`);
  return file;
}

/**
 * The LLM config and engine of an Edge-LLM engine folder: llm.engine with config.json, or, built with
 * `llm_build --eagleBase`, eagle_base.engine with base_config.json (Edge-LLM 0.6.1
 * cpp/builder/llmBuilder.cpp:114-127,714-731). A vanilla engine is preferred when both are present.
 */
function edgeLlmLlmBuild(llmDir: string): { config: string; engine: string } | undefined {
  const vanilla = { config: path.join(llmDir, 'config.json'), engine: path.join(llmDir, 'llm.engine') };
  const eagleBase = { config: path.join(llmDir, 'base_config.json'), engine: path.join(llmDir, 'eagle_base.engine') };
  if (existsSync(vanilla.engine) && existsSync(vanilla.config)) return vanilla;
  if (existsSync(eagleBase.engine) && existsSync(eagleBase.config)) return eagleBase;
  if (existsSync(vanilla.config)) return vanilla;
  return existsSync(eagleBase.config) ? eagleBase : undefined;
}

export function resolveModelFiles(dir: string): ModelFiles {
  const root = path.resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw loadError(`model directory not found: ${root}`);
  const llmDir = path.join(root, 'llm');
  const llmBuild = edgeLlmLlmBuild(llmDir);
  if (llmBuild !== undefined) {
    const visualDir = path.join(root, 'visual');
    const llmConfigPath = llmBuild.config;
    const visualConfigPath = requireFile(path.join(visualDir, 'config.json'), 'the visual encoder config (visual/config.json)');
    requireFile(path.join(llmDir, 'tokenizer.json'), 'the tokenizer (llm/tokenizer.json)');
    const embeddingFile = path.join(llmDir, 'embedding.safetensors');
    const vocabMapFile = path.join(llmDir, 'vocab_map.safetensors');
    const llmEngine = llmBuild.engine;
    const visualEngine = path.join(visualDir, 'visual.engine');
    return {
      dir: root,
      layout: 'bundle',
      llm: {
        configPath: llmConfigPath,
        config: readJson(llmConfigPath),
        weightFiles: weightFilesIn(llmDir, ['embedding.safetensors', 'vocab_map.safetensors']),
        engineFile: existsSync(llmEngine) ? llmEngine : undefined,
        embeddingFile: requireFile(embeddingFile, 'the token embedding table (llm/embedding.safetensors)'),
        vocabMapFile: existsSync(vocabMapFile) ? vocabMapFile : undefined,
        tokenizerDir: llmDir,
        generationConfig: optionalJson(path.join(llmDir, 'generation_config.json')),
      },
      visual: {
        configPath: visualConfigPath,
        config: readJson(visualConfigPath),
        weightFiles: weightFilesIn(visualDir),
        engineFile: existsSync(visualEngine) ? visualEngine : undefined,
        preprocessorConfig: optionalJson(path.join(visualDir, 'preprocessor_config.json')),
      },
    };
  }
  const configPath = path.join(root, 'config.json');
  if (existsSync(configPath)) {
    const config = readJson(configPath);
    if (typeof config.vision_config !== 'object' || config.vision_config === null) {
      throw loadError(`${configPath} has no vision_config: not a Qwen2.5-VL checkpoint`);
    }
    requireFile(path.join(root, 'tokenizer.json'), 'the tokenizer (tokenizer.json)');
    const weights = weightFilesIn(root);
    if (weights.length === 0) throw loadError(`no *.safetensors weight files in ${root}`);
    return {
      dir: root,
      layout: 'huggingface',
      llm: {
        configPath,
        config,
        weightFiles: weights,
        tokenizerDir: root,
        generationConfig: optionalJson(path.join(root, 'generation_config.json')),
      },
      visual: {
        configPath,
        config,
        weightFiles: weights,
        preprocessorConfig: optionalJson(path.join(root, 'preprocessor_config.json')),
      },
    };
  }
  throw loadError(
    `${root} is neither a trt-vla / TensorRT Edge-LLM bundle (llm/config.json + visual/config.json) nor a Hugging Face ` +
      'Qwen2.5-VL checkpoint (config.json with vision_config)',
  );
}
