/** Request, result and event types of Model / Session. */
import type { FeasibilityReport } from '../action/feasibility.js';
import type { PlanningDiagnostic, Waypoint } from '../action/planningTypes.js';
import type { FrameBuffer } from '../frame.js';
import type { PlanningMode } from '../prompt/answerSpec.js';
import type { ReasoningSectionKey } from '../prompt/formats.js';
import type { PlanHistory } from '../prompt/historyFields.js';
import type { ChatMessage } from '../tokenizer/chatTemplate.js';
import type { SamplingOptions } from './modelConfig.js';

export type { SamplingOptions };

/** Per-stage timings of one request (milliseconds), and the work it took. */
export interface Timings {
  /** Frame conversion, resize, normalisation, patchify. */
  preprocessMs: number;
  /** The vision encoder. */
  visionMs: number;
  /** Token embeddings with the image spliced in, and the M-RoPE table. */
  embedMs: number;
  /** The prompt's prefill (the uncached part). */
  prefillMs: number;
  /** Everything after the prefill: decode steps and forced-token chunks. */
  decodeMs: number;
  /** From the start of the native request to the first generated token. */
  firstTokenMs: number;
  /** The native request from start to end. */
  totalMs: number;
  /** The call from JS: tokenization, waiting for the session, native work, parsing. */
  endToEndMs: number;
  /** LLM engine calls after the prompt prefill. */
  forwardPasses: number;
  /** Tokens generated (sampled and forced), including the end-of-turn token. */
  generatedTokens: number;
  /** Of which the grammar forced (jump-forward). */
  forcedTokens: number;
  /** Speculative decoding: of forwardPasses, the calls that verified drafts. */
  verifyCalls: number;
  /** Speculative decoding: tokens the drafter proposed and the engine checked. */
  draftedTokens: number;
  /** Of draftedTokens, those the model agreed with (kept without an engine call of their own). */
  acceptedDraftTokens: number;
  /** Prompt tokens, including image tokens. */
  promptTokens: number;
  /** Prompt tokens whose KV came from the session's prefix cache. */
  cachedPromptTokens: number;
  imageTokens: number;
}

export type StopReason = 'stop' | 'length' | 'grammar';

interface RequestCommon {
  /** Camera frames, one per `<image>` placeholder, in order. */
  images?: FrameBuffer[];
  /** Most tokens to generate (default 512 for generate, enough for the answer format for plan). */
  maxTokens?: number;
  /** Default: the model's generation_config.json (the Impromptu checkpoints: greedy, repetition penalty 1.05). */
  sampling?: SamplingOptions;
  /** Aborting stops generation within one engine step; the promise rejects with ABORT_ERR. */
  signal?: AbortSignal;
  /** Reuse the session's cached KV of the longest identical prompt prefix (default true). */
  prefixCache?: boolean;
}

/** model.generate: exactly one of messages / text / tokens. */
export interface GenerateRequest extends RequestCommon {
  /** Chat messages, rendered with the Qwen2.5-VL chat template (default system message added). */
  messages?: ChatMessage[];
  /** Raw text (no template); `<image>` placeholders are expanded. */
  text?: string;
  /** Token ids as they are (image pads must already be expanded). */
  tokens?: Int32Array | number[];
  /** Called with each batch of new tokens and the text they completed. */
  onToken?: (event: TokenEvent) => void;
}

export interface GenerateResult {
  text: string;
  tokens: Int32Array;
  stopReason: StopReason;
  timings: Timings;
}

/** What every plan request holds besides its history (see PlanRequest). */
export interface PlanRequestBase extends RequestCommon {
  /** Front camera (nuScenes) or front / front-right / front-left (q7 with 3 views). */
  images: FrameBuffer[];
  /** 'fast' answers the PLANNING block; 'slow' the reasoning chain first. Default 'fast'. */
  mode?: PlanningMode;
  /** Grammar-constrained decoding with jump-forward (default true): every plan parses. */
  constrained?: boolean;
}

/**
 * model.plan: the camera frames, and an ego history (oldest first, ending at t = 0 at the origin)
 * with the fields its prompt prints (HISTORY_FIELDS): `format` 'nuscenes' (6 waypoints / 3 s, the
 * default) with a `statusWording` ('speed' by default: ax, ay, speed or vx, steering; 'velocity-x':
 * ax, ay, vx, steering; 'none': positions only), or 'q7' (10 waypoints / 5 s: ax, ay, vx, vy).
 * A history that lacks a field of its prompt does not compile (and is refused at run time, naming
 * the field and the wordings that would take the history as it is).
 */
export type PlanRequest = PlanRequestBase & PlanHistory;

export interface PlanResult {
  /** The parsed trajectory (x forward, y left, metres; t in seconds after now). */
  waypoints: Waypoint[];
  /** Whether the answer held all the format's waypoints. */
  complete: boolean;
  /** The answer text (without the end-of-turn token). */
  text: string;
  /** Slow mode: the reasoning sections. */
  reasoning: Partial<Record<ReasoningSectionKey, string>>;
  diagnostics: readonly PlanningDiagnostic[];
  feasibility: FeasibilityReport | undefined;
  tokens: Int32Array;
  stopReason: StopReason;
  timings: Timings;
  /**
   * Things the caller must know about this plan, as sentences; empty for a real checkpoint. Today:
   * the model has random weights (`trt-vla make-model`), so the waypoints mean nothing.
   */
  warnings: readonly string[];
}

export interface TokenEvent {
  type: 'token';
  ids: Int32Array;
  /** The text these ids completed (may be empty while a character is split across tokens). */
  text: string;
  /** Forced by the grammar (jump-forward), not sampled. */
  forced: boolean;
}

export type PlanEvent =
  | TokenEvent
  | { type: 'waypoint'; index: number; waypoint: Waypoint }
  | { type: 'reasoning'; section: ReasoningSectionKey; text: string }
  | { type: 'done'; result: PlanResult };

/** What the model would see for a request, without running it. */
export interface PreparedInput {
  promptText: string;
  inputIds: Int32Array;
  imageGrids: [number, number, number][];
  /** M-RoPE position ids (t, h, w) of every prompt token. */
  positionIds: [Int32Array, Int32Array, Int32Array];
  /** Per image: [patches][3*2*14*14] normalised pixel values in Qwen2VLImageProcessor order. */
  pixelValues?: Float32Array[];
  /** options.visionInputs (requests with images): what the vision engine is bound with. */
  visionInputs?: VisionEngineInputs;
  /**
   * options.ropeTable: rope_rotary_cos_sin as the language model is bound with it, [kvCapacity, headDim]
   * row-major (rows after the prompt: the positions of generated tokens).
   */
  ropeCosSin?: Float32Array;
}

/** model.prepare / session.prepare options: what to compute besides the prompt (all off by default). */
export interface PrepareOptions {
  /** The normalised pixel values of each image. */
  pixelValues?: boolean;
  /** The vision engine's index inputs (window index, cu_window_seqlens, rotary angles, ...). */
  visionInputs?: boolean;
  /** The M-RoPE cos/sin table the language model is bound with. */
  ropeTable?: boolean;
}

/**
 * The small inputs the vision engine is bound with for a request's images, all images together (the
 * Edge-LLM 0.6 visual engine contract; Hugging Face Qwen2.5-VL's get_window_index / rot_pos_emb).
 */
export interface VisionEngineInputs {
  /** cu_seqlens: cumulative patches per image frame (full-attention blocks), [images + 1]. */
  cuSeqlens: Int32Array;
  /** cu_window_seqlens: cumulative patches per attention window (windowed blocks). */
  cuWindowSeqlens: Int32Array;
  /** window_index: merge units in window order, [patches / 4]. */
  windowIndex: Int32Array;
  /** reverse_window_index: its inverse permutation. */
  reverseWindowIndex: Int32Array;
  /** rotary_pos_emb: the 2-D rotary angles of every patch, [patches, visionHeadDim / 2] row-major. */
  rotaryPosEmb: Float32Array;
}

/** session.evaluate: exactly one of messages / text / tokens, as for generate. */
export interface EvaluateRequest {
  messages?: ChatMessage[];
  text?: string;
  tokens?: Int32Array | number[];
  images?: FrameBuffer[];
  signal?: AbortSignal;
  /**
   * Prompt positions whose logits to return (the distribution of the token after each); negative
   * counts from the end (-1: the last prompt token). Default: [-1].
   */
  positions?: number[];
  /** Greedy steps after the prompt (argmax, ties to the lowest id). Default 0. */
  steps?: number;
  /**
   * Teacher forcing: step i takes forcedTokens[i] instead of its argmax (at most `steps` tokens), so
   * that two models are compared on the same context.
   */
  forcedTokens?: Int32Array | number[];
  /** End the steps after an end-of-turn token (the model's stop tokens). Default true. */
  stopAtEndOfTurn?: boolean;
  /** Also return the vision engine's output for the images. Default false. */
  imageEmbeddings?: boolean;
}

/** What the model computed for an EvaluateRequest. Logits are full-vocabulary rows (model.description.vocabSize). */
export interface EvaluateResult {
  promptText: string;
  inputIds: Int32Array;
  imageGrids: [number, number, number][];
  /** The requested positions, resolved (non-negative, increasing). */
  positions: number[];
  /** Per position: the logits predicting the token after it. Ids a reduced-vocabulary engine lacks are -Infinity. */
  logits: Float32Array[];
  /** The tokens of the steps (greedy or forced). */
  tokens: Int32Array;
  /** The logits each step's token was chosen from: step 0's are the last prompt position's. */
  stepLogits: Float32Array[];
  /** imageEmbeddings: true: per image, [imageTokens * hidden] as the language model receives them. */
  imageEmbeddings?: Float32Array[];
}

/** model.encodeImages: the vision engine's output, per image [imageTokens * hidden] row-major. */
export interface ImageEmbeddings {
  imageGrids: [number, number, number][];
  /** Columns per row (the language model's hidden size). */
  hidden: number;
  embeddings: Float32Array[];
}
