/**
 * Loading the native addon, and the one place that declares its shape in TypeScript.
 *
 * The addon is loaded lazily on first use, so the pure TypeScript parts of the package (prompts,
 * trajectory parsing, metrics) work even where no binary can be loaded. Set TRT_VLA_ADDON_PATH to load
 * a specific .node file (e.g. a sanitizer build).
 *
 * The test hooks are a separate addon, trt_vla_testing.node (native/testing/), built beside the
 * production one for the tests and benchmark scripts and never installed for users: testingAddon().
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TrtVlaError } from './errors.js';
import { formatLoadFailure } from './loadDiagnostics.js';
import type { Timings } from './model/types.js';

export interface NativeBuildInfo {
  version: string;
  gitRevision: string;
  buildSystem: 'cmake' | 'node-gyp';
  compiler: string;
  arch: string;
  backends: Array<'cpu' | 'cuda' | 'tensorrt'>;
  simd: string[];
  cudaVersion?: string;
  cudaArchitectures?: string;
  tensorrtVersion?: string;
  sanitize: boolean;
}

export interface NativeBackendStatus {
  compiled: boolean;
  available: boolean;
  reason?: string;
}

export interface NativeRuntimeInfo {
  backends: { cpu: NativeBackendStatus; cuda: NativeBackendStatus; tensorrt: NativeBackendStatus };
  device?: {
    index: number;
    name: string;
    sm: number;
    computeCapability: string;
    integrated: boolean;
    multiprocessors: number;
    totalMemoryBytes: number;
    canMapHostMemory: boolean;
    count: number;
  };
  cuda?: { driverVersion?: string; runtimeVersion: string };
  /** The TensorRT library loaded at run time and the headers this binary was built with. */
  tensorrt?: { runtimeVersion: string; buildVersion: string };
  cpu: { simd: 'avx2' | 'neon' | 'scalar'; threads: number; features: { avx2: boolean; fma: boolean; f16c: boolean; neon: boolean } };
  build: NativeBuildInfo;
}

export interface NativeFrame {
  readonly data: Uint8Array;
  readonly zeroCopy: boolean;
  readonly pinned: boolean;
  readonly disposed: boolean;
  readonly byteLength: number;
  readonly stride: number;
  dispose(): void;
  /** FNV-1a 64 of the bytes as native code reads them. */
  digest(): bigint;
  /** Native address of the pixel memory. */
  address(): bigint;
  /** Native code writes byte i = (i * 31 + seed) & 0xff. */
  writeTestPattern(seed: number): void;
}

export interface NativeMemoryStats {
  frameAllocations: number;
  frameLiveBytes: number;
  frameLiveCount: number;
  /** GPU memory held for engines (device engine memory + TensorRT context scratch); 0 without a GPU. */
  deviceLiveBytes: number;
  devicePeakBytes: number;
}

export interface NativeCudaSelfTest {
  correct: boolean;
  readMappedMemory: boolean;
  elements: number;
  kernelMs: number;
}

export interface NativeCheckpointPlanEntry {
  name: string;
  dtype?: 'F32' | 'F16' | 'BF16';
  shape: number[];
  init?: 'normal' | 'constant';
  std?: number;
  mean?: number;
  seedName?: string;
  awq?: boolean;
}

export interface NativeQuantizeReport {
  quantizedLayers: number;
  copiedTensors: number;
  bytesIn: number;
  bytesOut: number;
}

/** The native part of Timings (lib/model/types.ts): everything but the JS-side endToEndMs. */
export type NativeTimings = Omit<Timings, 'endToEndMs'>;

export interface NativeGenerateResult {
  tokens: Int32Array;
  stopReason: 'stop' | 'length' | 'grammar';
  promptTokens: number;
  cachedPromptTokens: number;
  imageTokens: number;
  forwardPasses: number;
  forcedTokens: number;
  verifyCalls: number;
  draftedTokens: number;
  acceptedDraftTokens: number;
  timings: NativeTimings;
}

export interface NativeGenerateRequest {
  inputIds: Int32Array;
  images?: NativeFrame[];
  sampling?: { temperature?: number; topK?: number; topP?: number; repetitionPenalty?: number; seed?: number };
  maxNewTokens: number;
  stopTokens?: Int32Array;
  usePrefixCache?: boolean;
  grammar?: NativeGrammar;
  requestId: number;
  /** Tests only (see TestingBias in model/Session.ts). */
  testingBias?: { tokens: Int32Array; value: number };
  /** The tokenizer's vocabulary size: larger ids (padded LM-head rows) are never sampled. */
  vocabLimit?: number;
  /** Speculative decoding: most drafted tokens per verify call (0 or absent: off). */
  maxDraft?: number;
  /** Tests only: draft these tokens by answer position (native/vla/scripted_drafter.h). */
  testingDraftScript?: Int32Array;
}

export interface NativePrepared {
  grids: [number, number, number][];
  pixelValues?: Float32Array[];
  cuSeqlens: Int32Array;
  cuWindowSeqlens: Int32Array;
  windowIndex: Int32Array;
  reverseWindowIndex: Int32Array;
  rotaryPosEmb: Float32Array;
}

export interface NativeEvaluateRequest {
  inputIds: Int32Array;
  images?: NativeFrame[];
  /** Prompt positions, strictly increasing. */
  positions: Int32Array;
  steps: number;
  forcedTokens?: Int32Array;
  stopTokens?: Int32Array;
  imageEmbeddings?: boolean;
  requestId: number;
}

export interface NativeEvaluateResult {
  positionLogits: Float32Array[];
  stepLogits: Float32Array[];
  tokens: Int32Array;
  grids: [number, number, number][];
  imageEmbeddings?: Float32Array[];
  promptTokens: number;
  imageTokens: number;
  llmCalls: number;
}

export interface NativeImageEmbeddings {
  grids: [number, number, number][];
  hidden: number;
  embeddings: Float32Array[];
}

export interface NativeSession {
  generate(request: NativeGenerateRequest, onTokens: (ids: Int32Array, forced: boolean) => void): Promise<NativeGenerateResult>;
  prepare(frames: NativeFrame[], pixelValues: boolean): Promise<NativePrepared>;
  /** Logits of chosen prompt positions and greedy steps (native/vla/session_evaluate.cc). */
  evaluate(request: NativeEvaluateRequest): Promise<NativeEvaluateResult>;
  encodeImages(frames: NativeFrame[]): Promise<NativeImageEmbeddings>;
  abort(requestId: number): void;
  clearPrefixCache(): void;
  readonly cachedTokens: number;
  dispose(): void;
}

export interface NativeModelDescription {
  backend: 'cpu' | 'tensorrt';
  /**
   * Where the steps between engine calls run (native/vla/pipeline_ops.h): 'host' (CPU code, host
   * memory: the CPU backend) or 'device' (CUDA kernels on the engines' device memory: TensorRT).
   */
  pipeline: 'host' | 'device';
  hiddenSize: number;
  layers: number;
  vocabSize: number;
  kvCapacity: number;
  maxInputLength: number;
  hasVision: boolean;
  threads: number;
  /** Bytes of LLM weights one decode step reads: every layer and the LM head, as held in memory. */
  weightBytes: number;
  /** CPU backend: the LM head's storage as loaded ('q8', 'fp16', 'bf16', 'fp32' or 'int4'); absent for TensorRT. */
  lmHead?: 'q8' | 'fp16' | 'bf16' | 'fp32' | 'int4';
  imagePad: number;
  /** The language model's attention head size (columns of the M-RoPE table). */
  headDim: number;
  /** Entries per logits row: vocabSize, or a reduced vocabulary's size. */
  logitsWidth: number;
  /**
   * Models with a vision encoder: the image tokens one request may carry (the visual engine's profile:
   * visual_build --minImageTokens / --maxImageTokensPerImage / --maxImageTokens, and the image count
   * its cu_seqlens admits), lowered by loadModel's maxImageTokens options. Each image is resized into
   * [minPerImage, maxPerImage] tokens; a request beyond maxTotal or maxImages is refused.
   */
  imageTokens?: { minPerImage: number; maxPerImage: number; maxTotal: number; maxImages: number };
  /** EAGLE-base LLM engines (eagle_base.engine): the most tokens one verification call takes; 0 otherwise. */
  maxVerifyTokens: number;
}

export interface NativeModel {
  createSession(): NativeSession;
  imageGrids(sizes: { width: number; height: number }[]): [number, number, number][];
  positions(inputIds: Int32Array, grids: readonly (readonly [number, number, number])[]): [Int32Array, Int32Array, Int32Array];
  /** rope_rotary_cos_sin as a request binds it: [kvCapacity, headDim]. */
  ropeTable(inputIds: Int32Array, grids: readonly (readonly [number, number, number])[]): Float32Array;
  describe(): NativeModelDescription;
  dispose(): void;
}

/** A compiled answer grammar held natively (constructed from lib/action/grammarAutomaton arrays). */
export type NativeGrammar = object;

export interface NativeAddon {
  NativeFrame: new (width: number, height: number, format: string, stride?: number) => NativeFrame;
  setErrorClass(ctor: new (code: string, message: string) => Error): void;
  buildInfo(): NativeBuildInfo;
  runtimeInfo(): Promise<NativeRuntimeInfo>;
  memoryStats(): NativeMemoryStats;
  cudaSelfTest(elements?: number): Promise<NativeCudaSelfTest>;
  writeRandomCheckpoint(
    path: string,
    plan: NativeCheckpointPlanEntry[],
    seed: number,
    options?: { threads?: number; metadata?: Record<string, string> },
  ): Promise<void>;
  quantizeCheckpoint(inputs: string[], output: string): Promise<NativeQuantizeReport>;
  loadModel(spec: Record<string, unknown>): Promise<NativeModel>;
  setLogLevel(level: 'error' | 'warning' | 'info' | 'verbose'): void;
  setLogHandler(handler: ((entry: { level: 'error' | 'warning' | 'info' | 'verbose'; source: string; message: string }) => void) | null): void;
  /** Writes one entry to the log (tests). */
  logMessage(level: 'error' | 'warning' | 'info' | 'verbose', source: string, message: string): void;
  GrammarHandle: new (automaton: object) => NativeGrammar;
}

/** The package root (where package.json, build/ and prebuilds/ live), from lib/ or dist/. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const require = createRequire(import.meta.url);
let loaded: { addon: NativeAddon; path: string } | undefined;

function glibcVersion(): string | undefined {
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

function load(): { addon: NativeAddon; path: string } {
  let addonPath: string | undefined = process.env.TRT_VLA_ADDON_PATH;
  try {
    if (!addonPath) {
      const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
      addonPath = nodeGypBuild.resolve(packageRoot);
    }
    const addon = require(addonPath) as NativeAddon;
    addon.setErrorClass(TrtVlaError as unknown as new (code: string, message: string) => Error);
    return { addon, path: addonPath };
  } catch (error) {
    const message = formatLoadFailure(error, {
      platform: process.platform,
      arch: process.arch,
      nodeVersion: process.version,
      napiVersion: process.versions.napi ?? 'unknown',
      glibc: glibcVersion(),
      addonPath,
    });
    throw new TrtVlaError('ERR_ADDON_LOAD', message, { cause: error });
  }
}

/** The loaded addon (loaded on first call; throws ERR_ADDON_LOAD with causes and fixes). */
export function native(): NativeAddon {
  loaded ??= load();
  return loaded.addon;
}

/** Path of the loaded .node file. */
export function nativeAddonPath(): string {
  loaded ??= load();
  return loaded.path;
}

let testingLoaded: unknown;

/**
 * The test addon (trt_vla_testing.node, native/testing/): TRT_VLA_TESTING_ADDON_PATH, else the file
 * beside the loaded production addon. Not public API: test/helpers/native.ts types its hooks.
 */
export function testingAddon(): unknown {
  if (testingLoaded !== undefined) return testingLoaded;
  const file = process.env.TRT_VLA_TESTING_ADDON_PATH || path.join(path.dirname(nativeAddonPath()), 'trt_vla_testing.node');
  try {
    const addon = require(file) as { setErrorClass(ctor: unknown): void };
    addon.setErrorClass(TrtVlaError);
    testingLoaded = addon;
    return addon;
  } catch (error) {
    throw new TrtVlaError(
      'ERR_ADDON_LOAD',
      `cannot load the test addon ${file}: build it with \`npm run build:native\` (node scripts/build-native.mjs --testing); ` +
        `it is never installed for users (${(error as Error).message})`,
      { cause: error },
    );
  }
}
