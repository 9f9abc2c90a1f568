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
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TrtVlaError } from './errors.js';
import { describeBinaryHeader, diagnoseLoadFailure, formatDiagnosis, type BinaryFacts, type LoadContext } from './loadDiagnostics.js';
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
  cpu: {
    simd: 'avx512' | 'avx2' | 'neon-i8mm' | 'neon-dotprod' | 'neon' | 'scalar';
    threads: number;
    features: {
      avx2: boolean;
      fma: boolean;
      f16c: boolean;
      /** AVX-512 foundation, byte/word, vector-length and VNNI; each false unless the OS saves zmm state. */
      avx512f: boolean;
      avx512bw: boolean;
      avx512vl: boolean;
      avx512vnni: boolean;
      neon: boolean;
      /** AArch64 dot-product extension (SDOT): the 'neon-dotprod' kernels. */
      neonDot: boolean;
      /** AArch64 int8 matrix multiply extension (SMMLA / USMMLA): with neonDot, the 'neon-i8mm' kernels. */
      neonI8mm: boolean;
    };
  };
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
  /** The waypoint drafter of this request (lib/action/waypointDrafterSpec.ts), with maxDraft. */
  drafter?: object;
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

/** One place the loader looked for the binary, and what it found there (`info()` reports them). */
export interface AddonCandidate {
  /** Why this place: 'TRT_VLA_ADDON_PATH', 'build/Release', 'build/Debug', 'prebuilds', 'prebuilds beside node'. */
  source: string;
  /** The file tried, or the folder searched when no file was tried there. */
  location: string;
  /**
   * 'loaded'; 'not-found' (nothing there for this platform); 'load-error' (a file was there and
   * failed to load: `detail` is the loader's message); 'not-tried' (an earlier place won).
   */
  outcome: 'loaded' | 'not-found' | 'load-error' | 'not-tried';
  /** The reason in words: 'no such folder', 'no .node file in it', the load error, … */
  detail: string;
}

/** Facts about this process that decide which binary can load. */
export interface PlatformFacts {
  platform: NodeJS.Platform;
  arch: string;
  /** Node.js version ('v20.19.0'). */
  node: string;
  /** Node-API version this Node.js offers. */
  napi: string;
  /** glibc version of this system, when known (Linux). */
  glibc?: string;
}

/** Why the addon is not loaded, and what fixes it. */
export interface AddonLoadFailure {
  /** The one-sentence cause. */
  cause: string;
  /** What to do, most likely fix first; none of them is "run trt-vla info". */
  advice: string[];
  candidates: AddonCandidate[];
  /** The error native() throws (ERR_ADDON_LOAD). */
  error: TrtVlaError;
}

export type AddonState =
  | { loaded: true; addon: NativeAddon; path: string; candidates: AddonCandidate[] }
  | { loaded: false; failure: AddonLoadFailure };

let state: AddonState | undefined;

function glibcVersion(): string | undefined {
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

let platformFacts: PlatformFacts | undefined;

export function platform(): PlatformFacts {
  platformFacts ??= {
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    napi: process.versions.napi ?? 'unknown',
    ...(glibcVersion() !== undefined && { glibc: glibcVersion() }),
  };
  return platformFacts;
}

function listNodeFiles(dir: string): string[] | undefined {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.node')).sort();
  } catch {
    return undefined;
  }
}

/**
 * The places node-gyp-build searches, in its order (node_modules/node-gyp-build/node-gyp-build.js
 * 4.8.4, `load.resolve`, lines 25-46): TRT_VLA_PREBUILD replaces the package folder; build/Release and
 * build/Debug (the first .node file, unless PREBUILDS_ONLY is set); prebuilds/<platform>-<arch>; the
 * same beside the node executable. node-gyp-build still decides which file loads; these are listed
 * so a failure can say what each place held.
 */
function searchPlaces(): { source: string; dir: string; prebuilds: boolean }[] {
  const base = process.env.TRT_VLA_PREBUILD || packageRoot;
  const places: { source: string; dir: string; prebuilds: boolean }[] = [];
  if (!process.env.PREBUILDS_ONLY) {
    places.push({ source: 'build/Release', dir: path.join(base, 'build', 'Release'), prebuilds: false });
    places.push({ source: 'build/Debug', dir: path.join(base, 'build', 'Debug'), prebuilds: false });
  }
  places.push({ source: 'prebuilds', dir: path.join(base, 'prebuilds'), prebuilds: true });
  places.push({ source: 'prebuilds beside node', dir: path.join(path.dirname(process.execPath), 'prebuilds'), prebuilds: true });
  return places;
}

/** The prebuilds/<platform>-<arch>[+arch…] folders node-gyp-build would consider. */
function prebuildFolders(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      const [os, archs, ...rest] = name.split('-');
      return rest.length === 0 && os === process.platform && (archs ?? '').split('+').includes(process.arch);
    })
    .map((name) => path.join(dir, name));
}

/** What each search place held, given the file node-gyp-build chose (undefined: it found none). */
function describePlaces(chosen: string | undefined): AddonCandidate[] {
  const candidates: AddonCandidate[] = [];
  let passedChosen = false;
  for (const place of searchPlaces()) {
    const folders = place.prebuilds ? prebuildFolders(place.dir) : [place.dir];
    const holdsChosen = chosen !== undefined && folders.some((f) => path.dirname(chosen) === f);
    if (holdsChosen) {
      passedChosen = true;
      candidates.push({ source: place.source, location: chosen, outcome: 'loaded', detail: '' });
      continue;
    }
    const files = folders.flatMap((f) => (listNodeFiles(f) ?? []).map((n) => path.join(f, n)));
    const shownDir = place.prebuilds ? path.join(place.dir, `${process.platform}-${process.arch}`) : place.dir;
    if (files.length > 0 && passedChosen) {
      candidates.push({ source: place.source, location: shownDir, outcome: 'not-tried', detail: `an earlier place was used (${path.basename(chosen!)})` });
    } else if (files.length > 0) {
      candidates.push({
        source: place.source,
        location: shownDir,
        outcome: 'not-found',
        detail: `no file for this runtime (Node-API ${process.versions.napi}, ABI ${process.versions.modules}) among ${files.map((f) => path.basename(f)).join(', ')}`,
      });
    } else {
      const exists = place.prebuilds ? folders.length > 0 : listNodeFiles(place.dir) !== undefined;
      candidates.push({ source: place.source, location: shownDir, outcome: 'not-found', detail: exists ? 'no .node file in it' : 'no such folder' });
    }
  }
  return candidates;
}

/** The first bytes of a file, classified; 'missing' when it is absent or not a regular file. */
function binaryFacts(file: string): BinaryFacts {
  try {
    if (!statSync(file).isFile()) return { kind: 'missing' };
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(64);
      const n = readSync(fd, head, 0, head.length, 0);
      return describeBinaryHeader(head.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  } catch {
    return { kind: 'missing' };
  }
}

function loadFailure(error: unknown, candidates: AddonCandidate[], addonPath: string | undefined, fromEnvironment: boolean): AddonState {
  const p = platform();
  const ctx: LoadContext = {
    platform: p.platform,
    arch: p.arch,
    nodeVersion: p.node,
    napiVersion: p.napi,
    ...(p.glibc !== undefined && { glibc: p.glibc }),
    ...(addonPath !== undefined && { addonPath, binary: binaryFacts(addonPath) }),
    fromEnvironment,
  };
  const diagnosis = diagnoseLoadFailure(error, ctx);
  const message =
    `${formatDiagnosis(diagnosis, ctx)}\n` +
    '`npx trt-vla info` (or info() from the API) lists every place searched for the binary and why each one failed.';
  return {
    loaded: false,
    failure: { cause: diagnosis.cause, advice: diagnosis.solutions, candidates, error: new TrtVlaError('ERR_ADDON_LOAD', message, { cause: error }) },
  };
}

function errorText(error: unknown): string {
  return String((error as Error | undefined)?.message ?? error).split('\n')[0]!;
}

function tryLoad(file: string, candidates: AddonCandidate[], fromEnvironment: boolean): AddonState {
  let mine = candidates.find((c) => c.location === file);
  if (!mine) {
    // node-gyp-build chose a file outside the places listed above (a newer version searching elsewhere).
    mine = { source: 'node-gyp-build', location: file, outcome: 'loaded', detail: '' };
    candidates.push(mine);
  }
  try {
    const addon = require(file) as NativeAddon;
    addon.setErrorClass(TrtVlaError as unknown as new (code: string, message: string) => Error);
    return { loaded: true, addon, path: file, candidates };
  } catch (error) {
    mine.outcome = 'load-error';
    mine.detail = errorText(error);
    return loadFailure(error, candidates, file, fromEnvironment);
  }
}

/**
 * TRT_VLA_ADDON_PATH (a file, relative to the working directory) when set and not empty; else the
 * binary node-gyp-build picks for this platform. Never throws: a failure is kept with its diagnosis.
 */
function load(): AddonState {
  const override = process.env.TRT_VLA_ADDON_PATH;
  if (override) {
    const file = path.resolve(override);
    const candidates: AddonCandidate[] = [{ source: 'TRT_VLA_ADDON_PATH', location: file, outcome: 'loaded', detail: '' }];
    if (binaryFacts(file).kind === 'missing') {
      candidates[0]!.outcome = 'not-found';
      candidates[0]!.detail = 'no such file';
      return loadFailure(new Error(`TRT_VLA_ADDON_PATH=${override}: no such file`), candidates, file, true);
    }
    return tryLoad(file, candidates, true);
  }
  let chosen: string;
  try {
    const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    chosen = nodeGypBuild.resolve(packageRoot);
  } catch (error) {
    return loadFailure(error, describePlaces(undefined), undefined, false);
  }
  return tryLoad(chosen, describePlaces(chosen), false);
}

/** Whether the addon loaded, and where from; or why not, with the fixes. Loads on first call; never throws. */
export function addonState(): AddonState {
  state ??= load();
  return state;
}

/** The loaded addon (loaded on first call; throws ERR_ADDON_LOAD with the cause and fixes). */
export function native(): NativeAddon {
  const s = addonState();
  if (!s.loaded) {
    // A new error each time, so its stack is the caller's.
    const first = s.failure.error;
    throw new TrtVlaError('ERR_ADDON_LOAD', first.message, { cause: first.cause });
  }
  return s.addon;
}

/** Path of the loaded .node file (throws ERR_ADDON_LOAD like native()). */
export function nativeAddonPath(): string {
  native();
  return (addonState() as { path: string }).path;
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
