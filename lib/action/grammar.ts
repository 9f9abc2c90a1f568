/**
 * The answer grammar of the Impromptu checkpoints at byte level: the exact PLANNING block of a
 * format (formats.ts) and, in slow mode, the reasoning sections before it. It is a sequence of
 * elements — fixed literals, waypoint numbers, and free text that runs until a closing marker — turned
 * into a byte DFA. grammarCompiler.ts lifts this DFA to tokens.
 *
 * Number patterns (the integer part is capped at three digits, i.e. |v| < 1000 m: a 3 s or 5 s ego
 * trajectory never leaves that range, and the cap keeps the automaton finite and small):
 *   round2 (Python `str(round(v, 2))`): -?(0|[1-9]\d{0,2})\.(\d|\d[1-9]) without "-0.0"
 *            (a trailing zero is never printed; -0.0 is normalised to 0.0 by the data pipeline)
 *   fixed2 (`f'{v:.2f}'`):              -?(0|[1-9]\d{0,2})\.\d\d   ("-0.00" included)
 */
import { TrtVlaError } from '../errors.js';
import { PLANNING_FORMATS, REASONING_SECTIONS, type PlanningFormat, type PlanningFormatSpec } from '../prompt/formats.js';
import { utf8Binary } from '../tokenizer/byteLevel.js';

/** Fast mode: the PLANNING block only. Slow mode: the reasoning sections, then the PLANNING block. */
export type AnswerMode = 'fast' | 'slow';

export type GrammarElement =
  | { readonly type: 'literal'; readonly text: string }
  | { readonly type: 'number'; readonly style: 'round2' | 'fixed2' }
  /** Any text not containing `marker`, then the marker itself. */
  | { readonly type: 'free'; readonly marker: string };

/** Resolves a format name or spec. */
export function planningSpec(format: PlanningFormat | PlanningFormatSpec): PlanningFormatSpec {
  if (typeof format === 'string') {
    const spec = (PLANNING_FORMATS as Record<string, PlanningFormatSpec | undefined>)[format];
    if (!spec) {
      throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected one of ${Object.keys(PLANNING_FORMATS).map((k) => `'${k}'`).join(', ')} for format but received ${JSON.stringify(format)} of type string`);
    }
    return spec;
  }
  return format;
}

/** The answer as grammar elements (adjacent literals merged). */
export function answerElements(spec: PlanningFormatSpec, mode: AnswerMode): GrammarElement[] {
  const out: GrammarElement[] = [];
  const literal = (text: string): void => {
    const last = out[out.length - 1];
    if (last?.type === 'literal') out[out.length - 1] = { type: 'literal', text: last.text + text };
    else out.push({ type: 'literal', text });
  };
  const number = (): void => {
    out.push({ type: 'number', style: spec.numberStyle });
  };
  if (mode === 'slow') {
    for (const section of REASONING_SECTIONS) {
      literal(section.open);
      out.push({ type: 'free', marker: section.close });
    }
  }
  literal(`${spec.preamble}[`);
  for (let i = 0; i < spec.waypoints; i++) {
    if (i > 0) literal(`]${spec.separator}[`);
    number();
    literal(', ');
    number();
  }
  literal(`]${spec.closing}`);
  return out;
}

/** Byte-DFA state kinds. */
export const DFA_EDGES = 0; // explicit byte edges (literal positions, number states)
export const DFA_FREE = 1; // inside free text, k bytes of the closing marker matched
export const DFA_END = 2; // the answer text is complete; only the end-of-turn token may follow
export const DFA_ACCEPT = 3; // after the end-of-turn token

interface FreeInfo {
  /** Closing marker bytes (binary string). */
  readonly marker: string;
  /** Marker bytes matched so far. */
  readonly k: number;
  /** State with nothing of the marker matched (k = 0). */
  readonly base: number;
  /** State after the complete marker. */
  readonly exit: number;
}

/** A byte DFA over the answer's UTF-8 bytes. States are dense integers. */
export class ByteDfa {
  readonly kind: number[] = [];
  /** Per EDGES state: [byte, next] pairs sorted by byte. */
  readonly edges: (readonly (readonly [number, number])[])[] = [];
  readonly free: (FreeInfo | undefined)[] = [];
  readonly end: number;
  readonly accept: number;
  readonly start: number;

  constructor(elements: readonly GrammarElement[]) {
    this.accept = this.#add(DFA_ACCEPT);
    this.end = this.#add(DFA_END);
    // Built back to front so that every element knows where it continues.
    let cont = this.end;
    for (let i = elements.length - 1; i >= 0; i--) {
      const el = elements[i];
      if (el.type === 'literal') cont = this.#literal(utf8Binary(el.text), cont);
      else if (el.type === 'number') cont = this.#number(el.style, cont);
      else cont = this.#free(utf8Binary(el.marker), cont);
    }
    this.start = cont;
  }

  get size(): number {
    return this.kind.length;
  }

  freeInfo(state: number): FreeInfo | undefined {
    return this.free[state];
  }

  /** The state after byte `b`, or -1 when the byte leaves the grammar. */
  next(state: number, b: number): number {
    const kind = this.kind[state];
    if (kind === DFA_EDGES) {
      for (const [byte, to] of this.edges[state]) if (byte === b) return to;
      return -1;
    }
    if (kind === DFA_FREE) {
      const f = this.free[state]!;
      // KMP step; valid because the marker's first byte does not recur inside it (checked in #free),
      // so a mismatch always falls back to "nothing matched" before re-testing the first byte.
      if (b === f.marker.charCodeAt(f.k)) return f.k + 1 === f.marker.length ? f.exit : f.base + f.k + 1;
      if (b === f.marker.charCodeAt(0)) return f.marker.length === 1 ? f.exit : f.base + 1;
      return f.base;
    }
    return -1;
  }

  /** Runs bytes (binary string) from `state`; -1 when they leave the grammar. */
  run(state: number, binary: string, from = 0, to = binary.length): number {
    let s = state;
    for (let i = from; i < to && s >= 0; i++) s = this.next(s, binary.charCodeAt(i));
    return s;
  }

  /** The state before each byte of a complete answer and after it (length + 1 entries), or undefined. */
  trace(binary: string): Int32Array | undefined {
    const states = new Int32Array(binary.length + 1);
    let s = this.start;
    for (let i = 0; i < binary.length; i++) {
      states[i] = s;
      s = this.next(s, binary.charCodeAt(i));
      if (s < 0) return undefined;
    }
    states[binary.length] = s;
    return s === this.end ? states : undefined;
  }

  #add(kind: number, edges: (readonly [number, number])[] = [], free?: FreeInfo): number {
    this.kind.push(kind);
    this.edges.push(edges);
    this.free.push(free);
    return this.kind.length - 1;
  }

  #literal(binary: string, cont: number): number {
    let next = cont;
    for (let i = binary.length - 1; i >= 0; i--) next = this.#add(DFA_EDGES, [[binary.charCodeAt(i), next]]);
    return next;
  }

  #number(style: 'round2' | 'fixed2', cont: number): number {
    if (this.kind[cont] !== DFA_EDGES) throw new TrtVlaError('ERR_INTERNAL', 'a number must be followed by a literal');
    const exit = this.edges[cont];
    const DOT = 0x2e;
    const MINUS = 0x2d;
    const digits = (lo: number, hi: number, to: number): [number, number][] => {
      const out: [number, number][] = [];
      for (let d = lo; d <= hi; d++) out.push([0x30 + d, to]);
      return out;
    };
    const state = (edges: (readonly [number, number])[]): number => {
      const sorted = [...edges].sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i][0] === sorted[i - 1][0]) throw new TrtVlaError('ERR_INTERNAL', 'number exit collides with a digit');
      }
      return this.#add(DFA_EDGES, sorted);
    };
    // Fraction states first (they are the targets of the integer states).
    const d2 = state([...exit]);
    let d1: number;
    let d0: number;
    let negFrac0: number; // after "-0.": "-0.0" alone is not a round2 output, so track it
    if (style === 'round2') {
      d1 = state([...digits(1, 9, d2), ...exit]);
      d0 = state(digits(0, 9, d1));
      const negZeroDecimal = state(digits(1, 9, d2));
      negFrac0 = state([[0x30, negZeroDecimal], ...digits(1, 9, d1)]);
    } else {
      d1 = state(digits(0, 9, d2));
      d0 = state(digits(0, 9, d1));
      negFrac0 = d0;
    }
    const i3 = state([[DOT, d0]]);
    const i2 = state([[DOT, d0], ...digits(0, 9, i3)]);
    const i1 = state([[DOT, d0], ...digits(0, 9, i2)]);
    const zero = state([[DOT, d0]]);
    const negZero = negFrac0 === d0 ? zero : state([[DOT, negFrac0]]);
    const neg = state([[0x30, negZero], ...digits(1, 9, i1)]);
    return state([[MINUS, neg], [0x30, zero], ...digits(1, 9, i1)]);
  }

  #free(marker: string, cont: number): number {
    if (marker.length === 0) throw new TrtVlaError('ERR_INTERNAL', 'a free-text marker must not be empty');
    if (marker.slice(1, -1).includes(marker[0])) {
      // The KMP shortcut in next() and the fallback rows of the token automaton rely on this.
      throw new TrtVlaError('ERR_INTERNAL', `free-text marker ${JSON.stringify(marker)} repeats its first byte inside`);
    }
    const base = this.kind.length;
    for (let k = 0; k < marker.length; k++) this.#add(DFA_FREE, [], { marker, k, base, exit: cont });
    return base;
  }
}
