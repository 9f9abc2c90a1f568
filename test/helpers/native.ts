// The test hooks: the test addon trt_vla_testing.node (native/testing/), built beside the production
// addon by `npm test`'s setup and never installed for users (the production addon exports none of them).
import { testingAddon } from '../../lib/native.js';

/** AutoAWQ GEMM tensors of one linear layer (see native/engine/cpu/awq.h). */
export interface AwqTensors {
  qweight: Int32Array; // [K, N/8]
  qzeros: Int32Array; // [K/128, N/8]
  scales: Uint16Array; // [K/128, N] fp16
}

/** An int4 matrix repacked into the kernel layout (opaque; owned by the addon). */
export type Q4Handle = { readonly __brand: 'Q4Weights' };

/** An int8 matrix in the kernel layout (Q8Matrix, native/engine/cpu/kernels.h; opaque, owned by the addon). */
export type Q8Handle = { readonly __brand: 'Q8Weights' };

export interface Q8Output {
  values: Int8Array; // [tokens * k]
  scales: Float32Array; // [tokens * k / 32]
  groupSums: Float32Array; // [tokens * k / 128]
  blockSums: Int32Array; // [tokens * k / 32]: exact sums of the values per 32-block
}

/** Row range and threading of a matmul hook: rows [rowBegin, rowEnd) split in chunks of `grain`. */
export interface MatmulOptions {
  threads?: number;
  grain?: number;
  rowBegin?: number;
  rowEnd?: number;
}

export interface BenchOptions {
  rows: number;
  cols: number;
  tokens: number;
  threads: number;
  reps: number;
  level?: string;
  type?: 'f32' | 'f16' | 'bf16';
  minBytes?: number;
}

export interface BenchResult {
  seconds: number[];
  weightBytes: number;
  macs: number;
  copies: number;
}

/**
 * Test hooks for the CUDA kernels (`testing().cuda`, native/testing/cuda_testing.cc; the runs are native/checks/kernel_checks.cc). Each runs a kernel and
 * the CPU path it reproduces on the same inputs and returns both; a side that fails returns its
 * TrtVlaError as the value instead of throwing. Without CUDA in the build or without a device, every
 * hook throws ERR_BACKEND_UNAVAILABLE ("no CUDA device: ..."). Not part of the public API.
 */
export interface NativeCudaTesting {
  /** Frame -> fp16 patches [patches * 1176]. cpu is null for bgra8 (the CPU path has no bgra8). */
  preprocess(
    data: Uint8Array,
    frame: { width: number; height: number; format: 'rgb8' | 'bgr8' | 'rgba8' | 'bgra8' | 'nv12'; stride?: number },
    options?: { minPixels?: number; maxPixels?: number; preResizeMaxPixels?: number; preResizeMinPixels?: number; mapped?: boolean },
  ): { gpu: Uint16Array | Error; cpu: Uint16Array | Error | null; grid: [number, number, number]; resizes: [number, number][] };
  /** inputs_embeds [ids.length * hidden] fp16 from tensor `name` (F16 [vocab, hidden]) of a safetensors file. */
  embed(options: {
    file: string;
    name: string;
    vocab: number;
    hidden: number;
    ids: Int32Array;
    imageTokenId?: number;
    image?: Uint16Array;
    imageRows?: number;
    misalign?: boolean;
  }): { gpu: Uint16Array | Error; cpu: Uint16Array | Error };
  /** The M-RoPE cos/sin table [capacity * headDim]; rows outside [rowBegin, rowEnd) stay -7. */
  ropeTable(options: {
    ids: Int32Array;
    capacity: number;
    imageTokenId?: number;
    grids?: [number, number, number][];
    mergeSize?: number;
    headDim: number;
    mropeSection: [number, number, number];
    theta?: number;
    rowBegin?: number;
    rowEnd?: number;
  }): { gpu: Float32Array | Error; cpu: Float32Array | Error };
  /** `steps` sampling steps over logits [steps * vocab]: the tokens and the logits after the penalty. */
  sample(options: {
    logits: Float32Array;
    vocab: number;
    steps?: number;
    allowed?: Int32Array;
    prompt?: Int32Array;
    temperature?: number;
    topK?: number;
    topP?: number;
    repetitionPenalty?: number;
    seed?: number;
  }): { gpu: NativeSampleRun | Error; cpu: NativeSampleRun | Error };
  /** A reduced vocabulary's logits written at their full ids of a row of -inf [fullCount]. */
  expandLogits(options: { reduced: Float32Array; map: Int32Array; fullCount: number }): { gpu: Float32Array | Error; cpu: Float32Array | Error };
}

export interface NativeSampleRun {
  tokens: Int32Array;
  logits: Float32Array;
}

export interface TestingHooks {
  simdLevels(): string[];
  convert(kind: 'halfToFloat' | 'bf16ToFloat', input: Uint16Array, level?: string): Float32Array;
  convert(kind: 'floatToHalf', input: Float32Array, level?: string): Uint16Array;
  awqQuantize(weight: Float32Array, outFeatures: number, inFeatures: number): AwqTensors;
  awqDequantize(qweight: Int32Array, qzeros: Int32Array, scales: Uint16Array, inFeatures: number, outFeatures: number): Float32Array;
  q4Repack(qweight: Int32Array, qzeros: Int32Array, scales: Uint16Array, inFeatures: number, outFeatures: number, threads?: number): Q4Handle;
  q4Nibbles(handle: Q4Handle): Uint8Array;
  /** span: columns per activation scale, 32 (the default, the int8 LM head's) or 128 (the int4 matmuls'). */
  /** With `columns` ([c0, c1) pairs), Q8Buffer::quantizeColumns of each range in turn instead of one quantize. */
  quantizeQ8(x: Float32Array, k: number, level?: string, span?: number, columns?: Int32Array): Q8Output;
  /** Returns [tokens][rows + 3]: rows outside the range and the 3 padding floats keep a sentinel. */
  matmulQ4(handle: Q4Handle, x: Float32Array, tokens: number, level?: string, options?: MatmulOptions): Float32Array;
  matmulDense(
    type: 'f32' | 'f16' | 'bf16',
    w: Float32Array | Uint16Array,
    rows: number,
    cols: number,
    x: Float32Array,
    tokens: number,
    level?: string,
    options?: MatmulOptions,
  ): Float32Array;
  /** Quantizes a dense W [rows][cols] (quantizeQ8Weights) on `threads` threads. */
  q8Quantize(type: 'f32' | 'f16' | 'bf16', w: Float32Array | Uint16Array, rows: number, cols: number, threads?: number): Q8Handle;
  /** Copies of the tiled arrays: values [tiles][cols/32][256], scales [tiles][cols/32][8] fp16. */
  q8Layout(handle: Q8Handle): { values: Int8Array; scales: Uint16Array };
  /** Returns [tokens][rows + 3] like matmulQ4; x is quantized with quantizeQ8 at the same level. */
  matmulQ8(handle: Q8Handle, x: Float32Array, tokens: number, level?: string, options?: MatmulOptions): Float32Array;
  dotHalf(k: Uint16Array, q: Float32Array, level?: string): number;
  axpyHalf(a: number, v: Uint16Array, y: Float32Array, level?: string): Float32Array;
  /** silu(gate) * up element by element, with the kernel table's exponential (kernels.h SiluExp). */
  siluMultiply(gate: Float32Array, up: Float32Array, level?: string): Float32Array;
  /** The kernel table's softmax of a copy of x, as `rows` rows in one call (kernels.h: scale, max, SiluExp's exponential). */
  softmax(x: Float32Array, scale: number, level?: string, rows?: number): Float32Array;
  /**
   * The ranges one ThreadPool::parallelFor(n, grain) on `threads` threads handed out, in the order they
   * finished, and whether the calling thread ran each; the caller sleeps stallFirstClaimMs in its first range.
   */
  parallelForClaims(n: number, grain: number, threads: number, stallFirstClaimMs: number): { begin: Int32Array; end: Int32Array; byCaller: Uint8Array };
  /**
   * dotHalfRows of the `queries` queries in q (q.length / queries values each) with n fp16 rows `stride` apart
   * (scores [queries][n]), and weightedSumHalf of those rows with weights w [queries][n] (sum [queries][dim]).
   */
  attentionRows(rows: Uint16Array, stride: number, n: number, q: Float32Array, w: Float32Array, level?: string, queries?: number): { scores: Float32Array; sum: Float32Array };
  benchQ4(options: BenchOptions): BenchResult;
  benchQ8(options: BenchOptions): BenchResult;
  benchDense(options: BenchOptions): BenchResult;
  readBandwidth(options: { megabytes?: number; threads: number; reps: number }): { seconds: number[]; bytes: number };
  /** The engine compatibility checks on an engine known by its interface (test/helpers/edgeLlmContract.ts). */
  checkEngine(kind: 'llm', description: object, model: { hiddenSize: number; layers: number; kvHeads: number; headDim: number; vocabSize: number; logitsWidth?: number }): {
    problems: string[];
    limits: { maxBatch: number; maxInputLength: number; kvCapacity: number; vocabSize: number; maxVerifyTokens: number };
  };
  checkEngine(
    kind: 'visual',
    description: object,
    model: {
      patchDim: number;
      rotaryAngles: number;
      outHidden: number;
      /** visual/config.json's builder_config as visual_build writes it. */
      builderConfig?: { min_image_tokens: number; max_image_tokens: number; max_image_tokens_per_image: number };
    },
  ): {
    problems: string[];
    limits: { minImageTokens: number; maxImageTokens: number; maxImageTokensPerImage: number; maxImages: number; maxWindows: number };
  };
  /** The check before every enqueue (engine/binding_check.h): throws its TrtVlaError, else undefined. */
  checkBindings(description: object, bindings: { profile: number; shapes: Record<string, number[]>; addresses: string[] }): void;
  /** '' when the plugin library file may be loaded, else why not. */
  libraryFileProblem(path: string): string;
  graphKeyHash(key: { profile: number; shapes: [string, number[]][]; addresses: [string, bigint][] }): string;
  cuda: NativeCudaTesting;
  /** The production addon's grammar class (native/napi/model_wrap.cc), for hooks that take a request's grammar. */
  GrammarHandle: new (automaton: object) => NativeGrammarHandle;
  /** A native waypoint drafter built as a request builds it (native/napi/drafter_spec.cc parseDrafterSpec). */
  waypointDrafter(spec: object, grammar: NativeGrammarHandle): NativeWaypointDrafter;
  /** The native drafter's number printing (native/vla/waypoint_drafter.h). */
  drafterNumbers: {
    formatNumberNear(value: number, prefix: string, style: 'round2' | 'fixed2'): string | undefined;
    formatCoordinate(value: number, style: 'round2' | 'fixed2'): string;
  };
}

export type NativeGrammarHandle = { readonly __brand: 'GrammarHandle' };

/** native/vla/waypoint_drafter.h WaypointDrafter, through the test addon. */
export interface NativeWaypointDrafter {
  /** Drafter::draft on all answer tokens so far in grammar state `state`. */
  draft(answer: Int32Array, state: number, maxDraft: number): Int32Array;
  predictContinuation(written: string): string | undefined;
  /** Seconds per draft() call, over `reps` calls with the same input. */
  timeDraft(answer: Int32Array, state: number, maxDraft: number, reps: number): number;
}

/** The value the matmul hooks leave in every output slot a kernel must not write. */
export const SENTINEL = -7777.25;
export const OUTPUT_PAD = 3;

export function testing(): TestingHooks {
  return testingAddon() as TestingHooks;
}
