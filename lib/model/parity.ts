/**
 * Parity: the same request on two models (typically a bundle's TensorRT engines and the CPU engine of
 * the checkpoint they were built from), compared stage by stage: the vision embeddings, the logits of
 * chosen prompt positions, and the logits along the candidate's greedy continuation, on which the
 * reference is teacher-forced so that every step compares the same context. `trt-vla parity` prints it.
 */
import { TrtVlaError } from '../errors.js';
import type { FrameBuffer } from '../frame.js';
import type { ChatMessage } from '../tokenizer/chatTemplate.js';
import { invalidArgument, optionalInteger } from '../validate.js';
import type { Model } from './Model.js';

/** How far one vector is from a reference one. */
export interface ErrorStats {
  /** max |a - b| over the entries finite in both. */
  maxAbs: number;
  /** ||a - b||₂ / ||b||₂ over the same entries (b: the reference). */
  relative: number;
}

export interface LogitsParity extends ErrorStats {
  /** The candidate's and the reference's argmax (ties to the lowest id). */
  candidateTop1: number;
  referenceTop1: number;
  top1Agrees: boolean;
}

export interface ParityRequest {
  /** Exactly one of messages / text / tokens, as for model.generate. */
  messages?: ChatMessage[];
  text?: string;
  tokens?: Int32Array | number[];
  images?: FrameBuffer[];
  /** Prompt positions compared (negative: from the end). Default: `promptPositions` spread evenly, ending at the last. */
  positions?: number[];
  /** How many positions the default spreads over the prompt. Default 8. */
  promptPositions?: number;
  /** Greedy steps after the prompt. Default 16. */
  steps?: number;
  signal?: AbortSignal;
}

export interface ModelSide {
  dir: string;
  backend: 'cpu' | 'tensorrt';
  pipeline: 'host' | 'device';
}

export interface ParityReport {
  candidate: ModelSide;
  reference: ModelSide;
  promptTokens: number;
  imageGrids: [number, number, number][];
  /** Per image: the vision encoder's output. */
  vision: (ErrorStats & { image: number; tokens: number })[];
  /** Per compared prompt position. */
  prompt: (LogitsParity & { position: number })[];
  /** Per greedy step of the candidate; the reference is fed the candidate's tokens. */
  steps: (LogitsParity & { step: number; token: number; text: string; referenceText: string })[];
  /** The first step whose top-1 differs: where the reference's own greedy sequence leaves the candidate's (null: never). */
  splitAt: number | null;
  /** The worst of each stage, and the share of agreeing top-1s. */
  summary: {
    vision: ErrorStats | null;
    prompt: ErrorStats & { top1Agreement: number };
    steps: (ErrorStats & { top1Agreement: number }) | null;
  };
}

/** Error of `a` against the reference `b` (entries not finite in both are skipped: a reduced vocabulary's -inf). */
export function compareVectors(a: ArrayLike<number>, b: ArrayLike<number>): ErrorStats {
  if (a.length !== b.length) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `cannot compare vectors of ${a.length} and ${b.length} entries`);
  let maxAbs = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const d = Math.abs(x - y);
    if (d > maxAbs) maxAbs = d;
    diff2 += d * d;
    ref2 += y * y;
  }
  return { maxAbs, relative: ref2 > 0 ? Math.sqrt(diff2 / ref2) : diff2 > 0 ? Infinity : 0 };
}

/** The id of the largest logit, ties to the lowest id (as greedy decoding picks); -1 when none is a number. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestValue || (best < 0 && v === bestValue)) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

function compareLogits(a: Float32Array, b: Float32Array): LogitsParity {
  const candidateTop1 = argmax(a);
  const referenceTop1 = argmax(b);
  return { ...compareVectors(a, b), candidateTop1, referenceTop1, top1Agrees: candidateTop1 === referenceTop1 };
}

function worst(stats: ErrorStats[]): ErrorStats {
  return { maxAbs: Math.max(0, ...stats.map((s) => s.maxAbs)), relative: Math.max(0, ...stats.map((s) => s.relative)) };
}

function agreement(rows: LogitsParity[]): number {
  return rows.length === 0 ? 1 : rows.filter((r) => r.top1Agrees).length / rows.length;
}

/** `count` prompt positions spread evenly over a prompt of `length` tokens, ending at the last. */
export function spreadPositions(length: number, count: number): number[] {
  if (count <= 1 || length <= 1) return [length - 1];
  const positions = new Set<number>();
  for (let i = 0; i < count; i++) positions.add(Math.round(((length - 1) * (i + 1)) / count));
  return [...positions].sort((a, b) => a - b);
}

function side(model: Model): ModelSide {
  const d = model.description;
  return { dir: model.dir, backend: d.backend, pipeline: d.pipeline };
}

/**
 * Runs one request on `candidate` and `reference` and compares what they compute. Both must share the
 * tokenizer and the vocabulary (the same checkpoint, exported or quantized differently).
 */
export async function runParity(candidate: Model, reference: Model, request: ParityRequest): Promise<ParityReport> {
  const steps = optionalInteger(request.steps, 'steps', 0, 1 << 16) ?? 16;
  const spread = optionalInteger(request.promptPositions, 'promptPositions', 1, 1 << 16) ?? 8;
  const c = candidate.description;
  const r = reference.description;
  if (c.vocabSize !== r.vocabSize || c.hiddenSize !== r.hiddenSize) {
    throw invalidArgument('reference', `a model of the same shape (vocabulary ${c.vocabSize}, hidden ${c.hiddenSize})`, `vocabulary ${r.vocabSize}, hidden ${r.hiddenSize}`);
  }
  const { messages, text, tokens, images = [], signal } = request;
  const prompt = { messages, text, tokens, images, signal };
  const positions = request.positions ?? spreadPositions((await candidate.prepare(prompt)).inputIds.length, spread);
  const images_ = images.length > 0;

  const a = await candidate.evaluate({ ...prompt, positions, steps, imageEmbeddings: images_ });
  const b = await reference.evaluate({ ...prompt, positions, steps: a.tokens.length, forcedTokens: a.tokens, imageEmbeddings: images_ });
  if (a.inputIds.length !== b.inputIds.length || a.inputIds.some((id, i) => id !== b.inputIds[i])) {
    throw invalidArgument('reference', 'a model whose tokenizer and image grids give the same prompt tokens', 'different prompt tokens');
  }

  const vision = (a.imageEmbeddings ?? []).map((e, i) => ({
    image: i,
    tokens: e.length / c.hiddenSize,
    ...compareVectors(e, b.imageEmbeddings![i]!),
  }));
  const promptRows = a.positions.map((position, i) => ({ position, ...compareLogits(a.logits[i]!, b.logits[i]!) }));
  const stepRows = Array.from(a.tokens, (token, step) => {
    const logits = compareLogits(a.stepLogits[step]!, b.stepLogits[step]!);
    return { step, token, text: candidate.decodeTokens([token]), referenceText: reference.decodeTokens([logits.referenceTop1]), ...logits };
  });
  // Teacher-forced on the candidate's tokens, the reference's top-1 at step i is its own greedy choice
  // as long as every earlier step agreed.
  const split = stepRows.findIndex((s) => s.referenceTop1 !== s.token);
  return {
    candidate: side(candidate),
    reference: side(reference),
    promptTokens: a.inputIds.length,
    imageGrids: a.imageGrids,
    vision,
    prompt: promptRows,
    steps: stepRows,
    splitAt: split < 0 ? null : split,
    summary: {
      vision: vision.length > 0 ? worst(vision) : null,
      prompt: { ...worst(promptRows), top1Agreement: agreement(promptRows) },
      steps: stepRows.length > 0 ? { ...worst(stepRows), top1Agreement: agreement(stepRows) } : null,
    },
  };
}
