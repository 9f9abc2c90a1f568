/**
 * Finding the files of a model directory. Two layouts are accepted (DESIGN.md §2):
 * - the bundle layout of TensorRT Edge-LLM exports, which the generator also writes:
 *   `llm/` (config.json, tokenizer files, embedding.safetensors, llm.engine or model*.safetensors)
 *   and `visual/` (config.json, preprocessor_config.json, visual.engine or model*.safetensors);
 * - a plain Hugging Face Qwen2.5-VL checkpoint (config.json with vision_config, model*.safetensors,
 *   tokenizer and preprocessor files in one folder), dense or AutoAWQ int4.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
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

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The folder a model file may resolve into: the model folder itself, or, for a Hugging Face hub cache
 * snapshot (`models--org--name/snapshots/<revision>/`, whose files are symlinks into `../../blobs/`),
 * that repository's `blobs/` folder.
 */
function allowedRoots(root: string): string[] {
  const roots = [root];
  const snapshots = path.dirname(root);
  if (path.basename(snapshots) === 'snapshots') roots.push(path.join(path.dirname(snapshots), 'blobs'));
  return roots;
}

/**
 * Every file of a model goes through here before anything opens it: it must be a regular file (a FIFO
 * would block the reader forever, a device or a directory is no model file) and, after resolving
 * symlinks, lie inside the model folder (see allowedRoots). `undefined` when an optional file is absent.
 */
function checkModelFile(root: string, file: string, optional: true): string | undefined;
function checkModelFile(root: string, file: string, optional?: false): string;
function checkModelFile(root: string, file: string, optional = false): string | undefined {
  const link = lstatSync(file, { throwIfNoEntry: false });
  if (link === undefined) {
    if (optional) return undefined;
    throw loadError(`${file} is missing`);
  }
  let stats: Stats;
  let real: string;
  try {
    stats = statSync(file);
    real = realpathSync(file);
  } catch (err) {
    throw new TrtVlaError('ERR_MODEL_LOAD', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!stats.isFile()) throw loadError(`${file} is ${kindOf(stats)}, not a regular file`);
  const inside = allowedRoots(realpathSync(root)).some((r) => real === r || real.startsWith(r + path.sep));
  if (!inside) throw loadError(`${file} resolves to ${real}, outside the model folder ${root}`);
  return file;
}

function readJson(root: string, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(checkModelFile(root, file), 'utf8');
  } catch (err) {
    if (err instanceof TrtVlaError) throw err;
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

function optionalJson(root: string, file: string): Record<string, unknown> | undefined {
  return checkModelFile(root, file, true) === undefined ? undefined : readJson(root, file);
}

/** model*.safetensors of a folder, in name order (shards sort correctly: -00001-of-00002). */
function weightFilesIn(root: string, dir: string, exclude: readonly string[] = []): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors') && !exclude.includes(f))
    .sort()
    .map((f) => checkModelFile(root, path.join(dir, f)));
}

function requireFile(root: string, file: string, what: string): string {
  if (lstatSync(file, { throwIfNoEntry: false }) === undefined) throw loadError(`${what} is missing: ${file}`);
  return checkModelFile(root, file);
}

/**
 * The LLM config and engine of an Edge-LLM engine folder: llm.engine with config.json, or, built with
 * `llm_build --eagleBase`, eagle_base.engine with base_config.json (Edge-LLM 0.6.1
 * cpp/builder/llmBuilder.cpp:114-127,714-731). A vanilla engine is preferred when both are present.
 */
function edgeLlmLlmBuild(llmDir: string): { config: string; engine: string } | undefined {
  // Presence only (lstat: a FIFO is not opened); resolveModelFiles then checks each file it uses.
  const present = (file: string) => lstatSync(file, { throwIfNoEntry: false }) !== undefined;
  const vanilla = { config: path.join(llmDir, 'config.json'), engine: path.join(llmDir, 'llm.engine') };
  const eagleBase = { config: path.join(llmDir, 'base_config.json'), engine: path.join(llmDir, 'eagle_base.engine') };
  if (present(vanilla.engine) && present(vanilla.config)) return vanilla;
  if (present(eagleBase.engine) && present(eagleBase.config)) return eagleBase;
  if (present(vanilla.config)) return vanilla;
  return present(eagleBase.config) ? eagleBase : undefined;
}

export function resolveModelFiles(dir: string): ModelFiles {
  const root = path.resolve(dir);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw loadError(`model directory not found: ${root}`);
  const llmDir = path.join(root, 'llm');
  const llmBuild = edgeLlmLlmBuild(llmDir);
  if (llmBuild !== undefined) {
    const visualDir = path.join(root, 'visual');
    const llmConfigPath = checkModelFile(root, llmBuild.config);
    const visualConfigPath = requireFile(root, path.join(visualDir, 'config.json'), 'the visual encoder config (visual/config.json)');
    requireFile(root, path.join(llmDir, 'tokenizer.json'), 'the tokenizer (llm/tokenizer.json)');
    checkModelFile(root, path.join(llmDir, 'tokenizer_config.json'), true);
    const embeddingFile = path.join(llmDir, 'embedding.safetensors');
    const vocabMapFile = path.join(llmDir, 'vocab_map.safetensors');
    const llmEngine = llmBuild.engine;
    const visualEngine = path.join(visualDir, 'visual.engine');
    return {
      dir: root,
      layout: 'bundle',
      llm: {
        configPath: llmConfigPath,
        config: readJson(root, llmConfigPath),
        weightFiles: weightFilesIn(root, llmDir, ['embedding.safetensors', 'vocab_map.safetensors']),
        engineFile: checkModelFile(root, llmEngine, true),
        embeddingFile: requireFile(root, embeddingFile, 'the token embedding table (llm/embedding.safetensors)'),
        vocabMapFile: checkModelFile(root, vocabMapFile, true),
        tokenizerDir: llmDir,
        generationConfig: optionalJson(root, path.join(llmDir, 'generation_config.json')),
      },
      visual: {
        configPath: visualConfigPath,
        config: readJson(root, visualConfigPath),
        weightFiles: weightFilesIn(root, visualDir),
        engineFile: checkModelFile(root, visualEngine, true),
        preprocessorConfig: optionalJson(root, path.join(visualDir, 'preprocessor_config.json')),
      },
    };
  }
  const configPath = path.join(root, 'config.json');
  if (checkModelFile(root, configPath, true) !== undefined) {
    const config = readJson(root, configPath);
    if (typeof config.vision_config !== 'object' || config.vision_config === null) {
      throw loadError(`${configPath} has no vision_config: not a Qwen2.5-VL checkpoint`);
    }
    requireFile(root, path.join(root, 'tokenizer.json'), 'the tokenizer (tokenizer.json)');
    checkModelFile(root, path.join(root, 'tokenizer_config.json'), true);
    const weights = weightFilesIn(root, root);
    if (weights.length === 0) throw loadError(`no *.safetensors weight files in ${root}`);
    return {
      dir: root,
      layout: 'huggingface',
      llm: {
        configPath,
        config,
        weightFiles: weights,
        tokenizerDir: root,
        generationConfig: optionalJson(root, path.join(root, 'generation_config.json')),
      },
      visual: {
        configPath,
        config,
        weightFiles: weights,
        preprocessorConfig: optionalJson(root, path.join(root, 'preprocessor_config.json')),
      },
    };
  }
  throw loadError(
    `${root} is neither a trt-vla / TensorRT Edge-LLM bundle (llm/config.json + visual/config.json) nor a Hugging Face ` +
      'Qwen2.5-VL checkpoint (config.json with vision_config)',
  );
}
