/**
 * loadModel() and Model: a loaded model (engines, embedding table, tokenizer) that hands out Sessions
 * and runs plans through an internal session pool.
 */
import { abortError, throwIfAborted, TrtVlaError, withCallerStack } from '../errors.js';
import { allocFrame, createFramePool, type FrameBuffer, type FrameOptions, type FramePool, type FramePoolOptions } from '../frame.js';
import { addonInfo } from '../info.js';
import { native, type NativeModelDescription } from '../native.js';
import { TokenizerHost } from '../tokenizer/TokenizerHost.js';
import { optionalInteger, optionalSignal, requireObject, requireOneOf, requireString } from '../validate.js';
import { resolveModelFiles, type ModelFiles } from './bundle.js';
import { ModelCore } from './ModelCore.js';
import { engineRelease, requireSupportedRelease } from './engineRelease.js';
import {
  checkImageTokenBounds,
  configEosTokens,
  defaultSampling,
  IMPROMPTU_IMAGE_REGULARIZATION,
  type ImageRegularization,
  missingGenerationConfigWarning,
  nativeLoadSpec,
  resolvePluginLibrary,
  type SamplingOptions,
  samplingSource,
  stopTokens,
} from './modelConfig.js';
import { Session } from './Session.js';
import { cpuVerifyTokens, parseSpeculationOption, resolveSpeculation, type SpeculationState } from './speculation.js';
import type {
  EvaluateRequest,
  EvaluateResult,
  GenerateRequest,
  GenerateResult,
  ImageEmbeddings,
  PlanEvent,
  PlanRequest,
  PlanResult,
  PreparedInput,
  PrepareOptions,
} from './types.js';

export type BackendChoice = 'auto' | 'cpu' | 'tensorrt';

export interface LoadModelOptions {
  /** 'auto' (default): TensorRT when the bundle has engines and TensorRT can run here, else CPU. */
  backend?: BackendChoice;
  /** CPU backend threads. Default: every CPU this process may use. */
  threads?: number;
  /**
   * KV cache capacity per session, tokens (prompt + answer). CPU default 4096. TensorRT: fixed when the
   * engine was built (llm_build --maxKVCacheCapacity); leave it out, or give that same value.
   */
  maxKvCapacity?: number;
  /**
   * Most prompt tokens one prefill call takes (longer prompts are prefilled in chunks). Default: the
   * KV capacity (CPU), the engine's --maxInputLen (TensorRT, which also caps it).
   */
  maxInputLength?: number;
  /**
   * Most image tokens per request / per image. A TensorRT visual engine fixes them when built
   * (visual_build --maxImageTokens / --maxImageTokensPerImage, recorded in visual/config.json's
   * builder_config), and so does such a builder_config for the CPU engine; these options may only lower
   * them. Without a builder_config the CPU engine takes them as given. Default: the engine's, else
   * 4096 / 2048. Each image is resized into the per-image range; a request beyond the limits is
   * refused with ERR_INVALID_ARGUMENT naming the visual_build flag to change.
   */
  maxImageTokens?: number;
  maxImageTokensPerImage?: number;
  /**
   * LLaMA-Factory image regularisation before the image processor, as the Impromptu checkpoints were
   * trained (max 262144 px, min 1024 px). false: the processor's smart resize only. Default: Impromptu's.
   */
  imageRegularization?: ImageRegularization | false;
  /** Sessions model.plan / model.generate may run in parallel (each its own KV cache). Default 1. */
  concurrency?: number;
  /**
   * TensorRT: the Edge-LLM plugin library (libNvInfer_edgellm_plugin.so) its engines need. Default:
   * $TRT_VLA_PLUGIN_PATH, then $EDGELLM_PLUGIN_PATH, then libNvInfer_edgellm_plugin.so in the model folder.
   */
  pluginLibrary?: string;
  /** TensorRT: capture the decode step as a CUDA graph and replay it each token. Default true. */
  cudaGraphs?: boolean;
  /**
   * CPU backend: how the LM head (the vocabulary x hidden output matrix, tied to the token embedding
   * in Qwen2.5-VL) is held in memory. Every decoded token reads all of it: 0.62 GB in fp16 for a 3B
   * model, most of what a decode step streams after the int4 layers.
   * - 'fp16': as the checkpoint stores it (fp16, bf16 or fp32), exact.
   * - 'q8': quantized to int8 at load, one fp16 scale per 32 values (0.33 GB for a 3B model; decode
   *   about 1.25x faster there). Logits move by about 1% of their spread; needs a hidden size that is
   *   a multiple of 128 and a dense head.
   * - 'auto' (default): 'q8' when the decoder's linear layers are int4 (AWQ), whose error is far
   *   larger already, else 'fp16'.
   * TensorRT engines fix their head when built; the option is ignored there.
   * `model.description.lmHead` reports what was used.
   */
  lmHead?: 'auto' | 'fp16' | 'q8';
  /**
   * Speculative waypoint decoding (plan() with the answer grammar): after each token the model picks, the
   * kinematic drafter guesses the next tokens of the waypoints (from the ego history and the waypoints
   * written so far) and the LLM engine checks them all in the same call; every token the model agrees
   * with costs no engine call of its own. Exact: greedy output is identical, sampled output has the
   * same distribution. Needs an engine that verifies several tokens per call: the CPU engine, or a
   * TensorRT EAGLE-base engine (llm_build --eagleBase --maxVerifyTreeSize N).
   * - 'auto' (default): on where the engine can verify, at most 5 drafted tokens per call;
   * - 'off';
   * - `{ maxDraft }`: at most maxDraft (1-64) drafted tokens per call.
   * `model.description.speculation` says whether it is on and why.
   */
  speculation?: 'auto' | 'off' | { maxDraft?: number };
  signal?: AbortSignal;
  /**
   * Called as loading passes each stage (a 3B model takes seconds to minutes on the first load, while
   * the weights come from disk). An exception thrown here fails the load with it.
   */
  onProgress?: (progress: LoadProgress) => void;
}

/** Stages of {@link loadModel}; the tokenizer and the weights load at the same time, in either order. */
export const LOAD_STAGES = ['files', 'tokenizer', 'weights', 'ready'] as const;

/** One stage of {@link loadModel} done. */
export interface LoadProgress {
  /**
   * 'files': configs read, backend chosen; 'tokenizer': the tokenizer loaded; 'weights': engines or
   * weights loaded (mapped and prepared); 'ready': the model is usable.
   */
  stage: (typeof LOAD_STAGES)[number];
  /** Stages done so far (1..total). */
  done: number;
  total: number;
  /** Milliseconds since loadModel was called. */
  elapsedMs: number;
}

/** model.description: the native model's dimensions and limits, and what the bundle's files decided. */
export interface ModelDescription extends NativeModelDescription {
  /**
   * The TensorRT Edge-LLM release that exported and built the bundle (config.json edgellm_version);
   * absent for checkpoints and bundles that record none (CPU weights).
   */
  edgellmVersion?: string;
  /** The sampling a request without its own `sampling` gets, and where those values come from. */
  sampling: Required<SamplingOptions> & { source: string };
  /** Speculative waypoint decoding (LoadModelOptions.speculation) as loaded. */
  speculation: SpeculationState;
}

/** Where the model runs and why that backend was chosen. */
export interface BackendSelection {
  backend: 'cpu' | 'tensorrt';
  reason: string;
}

/**
 * The safety net for a Model dropped without dispose(): its tokenizer thread ends here; the native
 * model goes with its handle once that is collected too (the handle's finalizer releases the engines
 * and threads and says so once at 'warning'). Holds only what the model owns, never the Model itself.
 */
const droppedModels = new FinalizationRegistry<ModelCore>((core) => {
  core.markDisposed();
  void core.tokenizer.dispose().catch(() => undefined);
});

export class Model implements AsyncDisposable {
  readonly dir: string;
  readonly backend: BackendSelection;
  readonly #core: ModelCore;
  readonly #pool: Session[] = [];
  readonly #poolLoad = new Map<Session, number>();
  readonly #concurrency: number;
  readonly #frames = new Set<FrameBuffer | FramePool>();
  #disposing: Promise<void> | undefined;

  /** @internal Use loadModel(). */
  constructor(core: ModelCore, backend: BackendSelection, concurrency: number) {
    this.#core = core;
    this.dir = core.files.dir;
    this.backend = backend;
    this.#concurrency = concurrency;
    droppedModels.register(this, core, this);
  }

  /** Model dimensions, runtime limits, the Edge-LLM release of its engines and the default sampling. */
  get description(): ModelDescription {
    this.#core.ensureLive();
    const files = this.#core.files;
    const description: ModelDescription = {
      ...this.#core.native.describe(),
      sampling: { ...this.#core.defaultSampling, source: samplingSource(files) },
      speculation: { ...this.#core.speculation },
    };
    const version = engineRelease(files).edgellmVersion;
    if (version !== undefined) description.edgellmVersion = version;
    return description;
  }

  /**
   * What a caller must know about this model's plans, as sentences (also on every `plan.warnings`);
   * empty for a real checkpoint. Today: random weights (`trt-vla make-model`).
   */
  get warnings(): readonly string[] {
    return this.#core.warnings;
  }

  /** The files the model was loaded from. */
  get files(): ModelFiles {
    return this.#core.files;
  }

  get disposed(): boolean {
    return this.#core.disposed;
  }

  /** A camera frame in addon-owned memory (see allocFrame); disposed with the model. */
  allocFrame(options: FrameOptions): FrameBuffer {
    this.#core.ensureLive();
    const frame = allocFrame(options);
    this.#frames.add(frame);
    return frame;
  }

  /** A frame pool (see createFramePool); disposed with the model. */
  createFramePool(options: FramePoolOptions): FramePool {
    this.#core.ensureLive();
    const pool = createFramePool(options);
    this.#frames.add(pool);
    return pool;
  }

  /** A session with its own KV cache and prefix cache; one request at a time. */
  createSession(): Session {
    this.#core.ensureLive();
    return new Session(this.#core);
  }

  plan(request: PlanRequest): Promise<PlanResult> {
    return this.#withSession((s) => s.plan(request));
  }

  planStream(request: PlanRequest): AsyncIterable<PlanEvent> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const session = self.#acquire();
        try {
          yield* session.planStream(request);
        } finally {
          self.#release(session);
        }
      },
    };
  }

  generate(request: GenerateRequest): Promise<GenerateResult> {
    return this.#withSession((s) => s.generate(request));
  }

  /** What the model will see for a request, without running it (see Session.prepare). */
  prepare(request: GenerateRequest | PlanRequest, options: PrepareOptions = {}): Promise<PreparedInput> {
    return this.#withSession((s) => s.prepare(request, options));
  }

  /** Logits of chosen prompt positions and greedy steps (see Session.evaluate). */
  evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    return this.#withSession((s) => s.evaluate(request));
  }

  /** The text of token ids, through the model's tokenizer (special tokens included). */
  decodeTokens(ids: ArrayLike<number>): string {
    this.#core.ensureLive();
    return this.#core.tokenizer.decode(ids);
  }

  /** The vision engine's output for frames, per image (see Session.encodeImages). */
  encodeImages(frames: FrameBuffer[]): Promise<ImageEmbeddings> {
    return this.#withSession((s) => s.encodeImages(frames));
  }

  /**
   * Stops running requests (they reject with ERR_DISPOSED at their next layer or step), waits for them
   * to leave, then frees sessions, frames, engines and the tokenizer. Idempotent.
   */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      droppedModels.unregister(this);
      this.#core.markDisposed();
      this.#core.native.dispose();
      await Promise.all(this.#pool.map((s) => s.dispose()));
      for (const f of this.#frames) f.dispose();
      await this.#core.tokenizer.dispose();
    })();
    return this.#disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async #withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const session = this.#acquire();
    try {
      return await fn(session);
    } finally {
      this.#release(session);
    }
  }

  // The least loaded pooled session; a new one while below the concurrency limit.
  #acquire(): Session {
    this.#core.ensureLive();
    let best: Session | undefined;
    for (const s of this.#pool) if (!best || this.#poolLoad.get(s)! < this.#poolLoad.get(best)!) best = s;
    if (!best || (this.#poolLoad.get(best)! > 0 && this.#pool.length < this.#concurrency)) {
      best = new Session(this.#core);
      this.#pool.push(best);
      this.#poolLoad.set(best, 0);
    }
    this.#poolLoad.set(best, this.#poolLoad.get(best)! + 1);
    return best;
  }

  #release(session: Session): void {
    this.#poolLoad.set(session, this.#poolLoad.get(session)! - 1);
  }
}

async function chooseBackend(files: ModelFiles, choice: BackendChoice): Promise<BackendSelection> {
  const runtime = await addonInfo();
  const trt = runtime.backends.tensorrt;
  const hasCpuWeights = files.llm.weightFiles.length > 0 && files.visual.weightFiles.length > 0;
  const hasEngines = files.llm.engineFile !== undefined && files.visual.engineFile !== undefined;
  if (choice === 'tensorrt' || (choice === 'auto' && hasEngines && trt.available)) {
    if (!trt.available) {
      throw new TrtVlaError('ERR_BACKEND_UNAVAILABLE', `The TensorRT backend is not available here: ${trt.reason ?? 'unknown reason'}`);
    }
    if (!hasEngines) throw new TrtVlaError('ERR_MODEL_LOAD', `${files.dir} has no TensorRT engines (llm/llm.engine, visual/visual.engine)`);
    return { backend: 'tensorrt', reason: choice === 'tensorrt' ? 'requested' : 'TensorRT engines in the bundle and TensorRT available' };
  }
  if (!hasCpuWeights) {
    const why = hasEngines
      ? `it has only TensorRT engines, and TensorRT cannot run here (${trt.reason ?? 'unavailable'})`
      : 'it has no model*.safetensors weights';
    throw new TrtVlaError('ERR_MODEL_LOAD', `${files.dir} cannot run on the CPU backend: ${why}`);
  }
  const reason =
    choice === 'cpu'
      ? 'requested'
      : hasEngines
        ? `TensorRT engines present but TensorRT unavailable: ${trt.reason ?? 'unknown'}`
        : 'no TensorRT engines in the bundle; running its safetensors weights';
  return { backend: 'cpu', reason };
}

/**
 * Tests only: `loadModel(dir, { _testing: {...} } as LoadModelOptions)` passes these to the native
 * loader (native/vla/model_loader.h). devicePipeline runs the CPU engines behind device memory with the
 * CUDA pipeline steps (ERR_BACKEND_UNAVAILABLE without a CUDA build and a device, real or emulated);
 * mappedFrames: false makes that pipeline upload frames instead of reading mapped frame memory.
 */
interface NativeLoadTesting {
  devicePipeline?: boolean;
  mappedFrames?: boolean;
  recordBindings?: boolean;
}

/** Loads a model directory (bundle layout or a Hugging Face Qwen2.5-VL checkpoint). */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Model> {
  requireString(dir, 'dir');
  requireObject(options, 'options');
  const backendChoice = requireOneOf(options.backend ?? 'auto', 'options.backend', ['auto', 'cpu', 'tensorrt'] as const);
  const threads = optionalInteger(options.threads, 'options.threads', 1, 256);
  const maxKvCapacity = optionalInteger(options.maxKvCapacity, 'options.maxKvCapacity', 64, 1 << 20);
  const maxInputLength = optionalInteger(options.maxInputLength, 'options.maxInputLength', 1, maxKvCapacity ?? 1 << 20);
  if (options.pluginLibrary !== undefined) requireString(options.pluginLibrary, 'options.pluginLibrary');
  if (options.cudaGraphs !== undefined && typeof options.cudaGraphs !== 'boolean') {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `options.cudaGraphs must be a boolean, got ${typeof options.cudaGraphs}`);
  }
  const maxImageTokens = optionalInteger(options.maxImageTokens, 'options.maxImageTokens', 1, 1 << 20);
  const maxImageTokensPerImage = optionalInteger(options.maxImageTokensPerImage, 'options.maxImageTokensPerImage', 1, 1 << 20);
  const concurrency = optionalInteger(options.concurrency, 'options.concurrency', 1, 64) ?? 1;
  const lmHead = requireOneOf(options.lmHead ?? 'auto', 'options.lmHead', ['auto', 'fp16', 'q8'] as const);
  const speculation = parseSpeculationOption(options.speculation);
  const signal = optionalSignal(options.signal, 'options.signal');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `options.onProgress must be a function, got ${typeof options.onProgress}`);
  }
  const started = performance.now();
  let stagesDone = 0;
  const progress = (stage: LoadProgress['stage']) =>
    options.onProgress?.({ stage, done: ++stagesDone, total: LOAD_STAGES.length, elapsedMs: performance.now() - started });
  const regularization = options.imageRegularization ?? IMPROMPTU_IMAGE_REGULARIZATION;
  if (regularization !== false) {
    requireObject(regularization, 'options.imageRegularization');
    optionalInteger(regularization.maxPixels, 'options.imageRegularization.maxPixels', 1, 1 << 30);
    optionalInteger(regularization.minPixels, 'options.imageRegularization.minPixels', 0, 1 << 30);
  }
  throwIfAborted(signal);
  // Nothing loads without the addon: say so (and how to fix it) before judging the model folder.
  native();

  const files = resolveModelFiles(dir);
  // The model's own JSON files are checked before anything loads: a bad field fails here, naming it.
  const sampling = defaultSampling(files);
  const eosTokens = configEosTokens(files);
  const backend = await chooseBackend(files, backendChoice);
  requireSupportedRelease(files, backend.backend);
  throwIfAborted(signal);
  progress('files');
  // The tokenizer thread and the native engines load at the same time.
  const imagePad = configTokenId(files, 'image_token_id', 151655);
  const visionStart = configTokenId(files, 'vision_start_token_id', 151652);
  const spec = nativeLoadSpec(files, {
    backend: backend.backend,
    tensorrt:
      backend.backend === 'tensorrt' ? { pluginLibrary: resolvePluginLibrary(files.dir, options.pluginLibrary), cudaGraphs: options.cudaGraphs ?? true } : undefined,
    threads,
    lmHead,
    limits: { maxKvCapacity, maxInputLength, maxImageTokens, maxImageTokensPerImage },
    regularization,
    imagePad,
    visionStart,
  });
  // Without the option the engine's per-image limit applies, checked natively at load (limitImageTokens).
  if (maxImageTokensPerImage !== undefined) checkImageTokenBounds(files, spec.preprocess as Record<string, unknown>, maxImageTokensPerImage);
  // The CPU engine verifies the sampled token, its forced run and the drafts in one call.
  if (backend.backend === 'cpu') spec.cpuVerifyTokens = cpuVerifyTokens(speculation.maxDraft);
  // Tests only, not part of the options type (see NativeLoadTesting).
  const testing = (options as { _testing?: NativeLoadTesting })._testing;
  if (testing !== undefined) spec.testing = requireObject(testing, 'options._testing');
  const [tokenizerResult, handleResult] = await Promise.allSettled([
    TokenizerHost.load(files.llm.tokenizerDir).then(async (t) => {
      try {
        progress('tokenizer');
      } catch (err) {
        await t.dispose();
        throw err;
      }
      return t;
    }),
    withCallerStack(() => native().loadModel(spec)).then((h) => {
      try {
        progress('weights');
      } catch (err) {
        h.dispose();
        throw err;
      }
      return h;
    }),
  ]);
  if (tokenizerResult.status === 'rejected' || handleResult.status === 'rejected') {
    if (tokenizerResult.status === 'fulfilled') await tokenizerResult.value.dispose();
    if (handleResult.status === 'fulfilled') handleResult.value.dispose();
    throw tokenizerResult.status === 'rejected' ? tokenizerResult.reason : (handleResult as PromiseRejectedResult).reason;
  }
  const tokenizer = tokenizerResult.value;
  const handle = handleResult.value;
  try {
    const ids = tokenizer.specialIds;
    if (ids.imagePad !== imagePad || ids.visionStart !== visionStart) {
      throw new TrtVlaError('ERR_MODEL_LOAD', `the tokenizer's image tokens (${ids.imagePad}, ${ids.visionStart}) differ from config.json's (${imagePad}, ${visionStart})`);
    }
    if (signal?.aborted) throw abortError(signal);
    const noGenerationConfig = missingGenerationConfigWarning(files);
    if (noGenerationConfig !== undefined) native().logMessage('warning', 'model', noGenerationConfig);
    const core = new ModelCore(
      handle,
      tokenizer,
      files,
      sampling,
      stopTokens(eosTokens, ids.imEnd, ids.endOfText),
      resolveSpeculation(speculation, backend.backend, handle.describe().maxVerifyTokens),
    );
    progress('ready');
    return new Model(core, backend, concurrency);
  } catch (err) {
    handle.dispose();
    await tokenizer.dispose();
    throw err;
  }
}

function configTokenId(files: ModelFiles, key: string, fallback: number): number {
  const value = files.llm.config[key] ?? files.visual.config[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : fallback;
}
