/**
 * The kinematic drafter of speculative decoding: at a grammar state where the model must choose, it
 * guesses the rest of the PLANNING block — the number being written and the ones after it, from the
 * ego history (first waypoint) and from the model's own waypoints so far (later ones), see
 * waypointExtrapolation.ts — prints every guess exactly as the answer format prints numbers
 * (formats.ts `formatCoordinate`), tokenizes the text as the model's tokenizer would, and returns the
 * first tokens after what is already written, up to a cap. Every drafted token is walked through the
 * grammar automaton and the draft is cut at the first one it rejects, so a draft is always a path the
 * grammar admits. This is the pure-TS reference semantics; a verify-call decode loop feeds the draft
 * after the sampled token and keeps the longest prefix the model agrees with.
 */
import { validateEgoHistory, type EgoHistoryEntry } from '../prompt/egoHistory.js';
import { PLANNING_OPEN_TAG, formatCoordinate, type PlanningFormat, type PlanningFormatSpec } from '../prompt/formats.js';
import { binaryToBytes } from '../tokenizer/byteLevel.js';
import { requireInteger } from '../validate.js';
import { planningSpec } from './grammar.js';
import { isAccepting, step, type GrammarAutomaton } from './grammarAutomaton.js';
import type { GrammarTokenizer } from './grammarCompiler.js';
import { extrapolateNext, historyPath, predictYGivenX, type Point } from './waypointExtrapolation.js';

/** The grammar caps integer parts at three digits (grammar.ts). */
const MAX_MAGNITUDE = 999.99;

/** Default draft length cap: a verify chain of the sampled token plus 5 drafts stays within 6 rows. */
export const DEFAULT_MAX_DRAFT = 5;

export interface WaypointDrafterOptions {
  /** The answer format the grammar was compiled for. */
  format: PlanningFormat | PlanningFormatSpec;
  /** The ego history of the prompt (oldest first, ending at the origin). */
  history: readonly EgoHistoryEntry[];
  /** Most tokens one draft holds. Default {@link DEFAULT_MAX_DRAFT}. */
  maxDraft?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The number text of `style` that starts with `prefix` (what the model has already written of it) and
 * lies nearest `value`; undefined when no such text can be formed (the draft then stops before it).
 */
export function formatNumberNear(value: number, prefix: string, style: 'round2' | 'fixed2'): string | undefined {
  const clamped = Math.max(-MAX_MAGNITUDE, Math.min(MAX_MAGNITUDE, value));
  if (prefix === '') return formatCoordinate(clamped, style);
  const negative = prefix.startsWith('-');
  const body = negative ? prefix.slice(1) : prefix;
  if (!/^\d*(\.\d{0,2})?$/.test(body)) return undefined;
  // Magnitudes the prefix still allows, as [lo, hi] intervals (one per integer-part length).
  const intervals: [number, number][] = [];
  if (body.includes('.')) {
    const [int, frac] = body.split('.') as [string, string];
    intervals.push([Number(`${int}.${frac.padEnd(2, '0')}`), Number(`${int}.${frac.padEnd(2, '9')}`)]);
  } else if (body === '') {
    intervals.push([0, 9.99], [10, 99.99], [100, 999.99]);
  } else if (body === '0') {
    intervals.push([0, 0.99]);
  } else {
    for (let digits = body.length; digits <= 3; digits++) {
      intervals.push([Number(body.padEnd(digits, '0')), Number(body.padEnd(digits, '9')) + 0.99]);
    }
  }
  if (intervals.length === 0) return undefined; // more integer digits than the grammar allows
  const target = negative ? -clamped : clamped;
  let best = NaN;
  for (const [lo, hi] of intervals) {
    const m = Math.max(lo, Math.min(hi, target));
    if (Number.isNaN(best) || Math.abs(m - target) < Math.abs(best - target)) best = m;
  }
  const magnitude = Math.round(best * 100) / 100;
  let text = formatCoordinate(negative ? -magnitude : magnitude, style);
  // A negative prefix cannot end in round2's zero ("0.0" has no sign): take the smallest negative.
  if (!text.startsWith(prefix) && negative && magnitude === 0) text = formatCoordinate(-0.01, style);
  return text.startsWith(prefix) ? text : undefined;
}

/** Where the writing stands inside the PLANNING block. */
interface BlockPosition {
  /** Completed numbers in answer order (x0, y0, x1, …). */
  readonly numbers: number[];
  /** What is written of the next element: the number `numbers.length` or the literal before it. */
  readonly partialNumber: string;
  /** Text of the literal before number `numbers.length` already written (the number itself not begun). */
  readonly partialLiteral: string | undefined;
}

function literalBefore(index: number, spec: PlanningFormatSpec): string {
  if (index === 0) return `${spec.preamble}[`;
  return index % 2 === 1 ? ', ' : `]${spec.separator}[`;
}

/** Parses the text from the PLANNING tag on; undefined when it is not a prefix of a PLANNING block. */
function blockPosition(body: string, spec: PlanningFormatSpec): BlockPosition | undefined {
  const numbers: number[] = [];
  const total = 2 * spec.waypoints;
  const numberPattern = /-?\d*(?:\.\d*)?/y;
  let pos = 0;
  for (let k = 0; k <= total; k++) {
    const literal = k === total ? `]${spec.closing}` : literalBefore(k, spec);
    const rest = body.slice(pos);
    if (rest.length <= literal.length && literal.startsWith(rest)) return { numbers, partialNumber: '', partialLiteral: rest };
    if (k === total || !body.startsWith(literal, pos)) return undefined;
    pos += literal.length;
    numberPattern.lastIndex = pos;
    const text = numberPattern.exec(body)![0];
    pos += text.length;
    if (pos === body.length) return { numbers, partialNumber: text, partialLiteral: undefined };
    const value = Number(text);
    if (text === '' || !Number.isFinite(value)) return undefined;
    numbers.push(value);
  }
  return undefined;
}

export class WaypointDrafter {
  readonly #tokenizer: GrammarTokenizer;
  readonly #grammar: GrammarAutomaton;
  readonly #spec: PlanningFormatSpec;
  readonly #history: readonly EgoHistoryEntry[];
  readonly #path: readonly Point[];
  readonly maxDraft: number;

  constructor(tokenizer: GrammarTokenizer, grammar: GrammarAutomaton, options: WaypointDrafterOptions) {
    this.#tokenizer = tokenizer;
    this.#grammar = grammar;
    this.#spec = planningSpec(options.format);
    this.#history = validateEgoHistory(options.history, { name: 'options.history' });
    this.#path = historyPath(this.#history);
    this.maxDraft = options.maxDraft === undefined ? DEFAULT_MAX_DRAFT : requireInteger(options.maxDraft, 'options.maxDraft', 0, 1 << 16);
  }

  /**
   * The text the drafter expects after `written` (the answer text so far), to the end of the
   * PLANNING block; undefined where it has no guess (before or outside the block, or text that is
   * not a prefix of it).
   */
  predictContinuation(written: string): string | undefined {
    const spec = this.#spec;
    // The preamble's forced run stops before its last space (" [" and " [-" are different tokens).
    const start = written.lastIndexOf(PLANNING_OPEN_TAG);
    if (start < 0) return undefined;
    const position = blockPosition(written.slice(start), spec);
    if (!position) return undefined;
    const style = spec.numberStyle;
    const total = 2 * spec.waypoints;
    const numbers = [...position.numbers];
    const path: Point[] = [...this.#path];
    for (let k = 0; k + 1 < numbers.length; k += 2) path.push({ x: numbers[k]!, y: numbers[k + 1]! });
    const status = this.#history[this.#history.length - 1];
    let text = '';
    let first = true;
    for (let k = numbers.length; k < total; k++) {
      const partial = first ? position.partialNumber : '';
      if (first && position.partialLiteral !== undefined) text += literalBefore(k, spec).slice(position.partialLiteral.length);
      else if (!first) text += literalBefore(k, spec);
      first = false;
      const predicted = extrapolateNext(path, status);
      const value = k % 2 === 0 ? predicted.x : predictYGivenX(predicted, path[path.length - 1]!, numbers[k - 1]!);
      const printed = formatNumberNear(value, partial, style);
      if (printed === undefined) return text === '' ? undefined : text;
      text += printed.slice(partial.length);
      numbers.push(Number(printed));
      if (k % 2 === 1) path.push({ x: numbers[k - 1]!, y: numbers[k]! });
    }
    const closing = `]${spec.closing}`;
    return text + (first && position.partialLiteral !== undefined ? closing.slice(position.partialLiteral.length) : closing);
  }

  /**
   * Draft tokens to verify after `committed` (the answer's tokens so far: sampled and forced, in grammar
   * state `state`): at most `maxDraft`, each admitted by the grammar from `state` on. Empty when the
   * drafter has no guess or the guess would not start on a token boundary of what is written.
   */
  draft(committed: ArrayLike<number>, state: number): number[] {
    if (this.maxDraft <= 0 || isAccepting(this.#grammar, state)) return [];
    let binary = '';
    for (let i = 0; i < committed.length; i++) binary += this.#tokenizer.tokenBinary(committed[i]!);
    let written: string;
    try {
      written = decoder.decode(binaryToBytes(binary));
    } catch {
      return []; // mid-character: only in free text, where there is nothing to guess
    }
    const continuation = this.predictContinuation(written);
    if (!continuation) return [];
    // Canonical tokens of the whole text, so that the draft's first token merges with nothing before it.
    const ids = this.#tokenizer.encode(written + continuation);
    let offset = 0;
    let at = 0;
    while (at < ids.length && offset < binary.length) offset += this.#tokenizer.tokenBinary(ids[at++]!).length;
    if (offset !== binary.length) return [];
    const draft: number[] = [];
    let s = state;
    for (; at < ids.length && draft.length < this.maxDraft; at++) {
      s = step(this.#grammar, s, ids[at]!);
      if (s < 0) return draft;
      draft.push(ids[at]!);
    }
    // The guess reaches the end of the answer: the end-of-turn token is the grammar's only choice.
    if (at === ids.length && draft.length < this.maxDraft && step(this.#grammar, s, this.#grammar.endTokenId) >= 0) {
      draft.push(this.#grammar.endTokenId);
    }
    return draft;
  }
}
