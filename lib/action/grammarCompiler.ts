/**
 * Compiles the answer grammar (grammar.ts) against a tokenizer's vocabulary into the token automaton
 * of grammarAutomaton.ts, once per tokenizer + format + mode (cached in memory).
 *
 * Token transitions: the text vocabulary is sorted by bytes, which makes it a trie whose subtrees are
 * index ranges; from each state the byte DFA is walked down that trie, binary-searching the range of
 * each allowed byte, so only tokens that stay in the grammar are visited. Free-text states would allow
 * almost every token; they instead list only the tokens that touch the closing marker and name a
 * default target for the rest (see the FREE kind in grammarAutomaton.ts).
 *
 * Forced runs (jump-forward) come from grammarForcedRuns.ts; every run is checked to be a path of the
 * automaton before the result is returned.
 */
import { TrtVlaError } from '../errors.js';
import type { PlanningFormat, PlanningFormatSpec } from '../prompt/formats.js';
import { ByteDfa, DFA_ACCEPT, DFA_EDGES, DFA_END, DFA_FREE, answerElements, planningSpec, type AnswerMode } from './grammar.js';
import { GRAMMAR_FORMAT_VERSION, STATE_FREE, STATE_LIST, step, type GrammarAutomaton } from './grammarAutomaton.js';
import { forcedRuns, tokenizeSamples } from './grammarForcedRuns.js';

/** What the compiler needs from a tokenizer (QwenTokenizer provides it). */
export interface GrammarTokenizer {
  readonly textVocabSize: number;
  readonly vocabSize: number;
  readonly specialIds: { readonly imEnd: number };
  /** Bytes of a token as a binary string (one char per byte). */
  tokenBinary(id: number): string;
  /** Canonical token ids of a text. */
  encode(text: string): number[];
}

/** Options of {@link compileAnswerGrammar}. */
export interface CompileGrammarOptions {
  /** The checkpoint's answer format (formats.ts). */
  format: PlanningFormat | PlanningFormatSpec;
  /** 'fast': the PLANNING block only; 'slow': reasoning sections first. Default 'fast'. */
  mode?: AnswerMode;
}

export interface CompiledGrammar extends GrammarAutomaton {
  readonly format: string;
  readonly mode: AnswerMode;
  /** Wall time of the compilation in milliseconds (0 work when served from the cache). */
  readonly compileMs: number;
}

/** The text vocabulary sorted by bytes: a trie whose subtrees are contiguous index ranges. */
class VocabIndex {
  readonly strs: string[] = [];
  readonly sorted: Int32Array;
  readonly byBinary = new Map<string, number>();
  readonly #containing = new Map<number, Int32Array>();

  constructor(tokenizer: GrammarTokenizer) {
    for (let id = 0; id < tokenizer.textVocabSize; id++) {
      const s = tokenizer.tokenBinary(id);
      this.strs.push(s);
      this.byBinary.set(s, id);
    }
    const ids = Array.from({ length: this.strs.length }, (_, i) => i);
    // Binary strings compare by UTF-16 unit, which for chars 0–255 is byte order.
    ids.sort((a, b) => (this.strs[a] < this.strs[b] ? -1 : this.strs[a] > this.strs[b] ? 1 : 0));
    this.sorted = Int32Array.from(ids);
  }

  /** Byte at depth d of the i-th sorted token, -1 past its end. */
  key(i: number, d: number): number {
    const s = this.strs[this.sorted[i]];
    return d < s.length ? s.charCodeAt(d) : -1;
  }

  /** First index in [lo, hi) whose byte at depth d is >= b (all tokens there share d bytes). */
  lowerBound(lo: number, hi: number, d: number, b: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.key(mid, d) < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First sorted index whose token is >= s. */
  lowerBoundString(s: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.strs[this.sorted[mid]] < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Ids of tokens that are a prefix of `rest` or start with it. */
  compatible(rest: string): number[] {
    const out: number[] = [];
    for (let j = 1; j < rest.length; j++) {
      const id = this.byBinary.get(rest.slice(0, j));
      if (id !== undefined) out.push(id);
    }
    // Tokens with prefix `rest` (including rest itself) form one range; \u0100 sorts after every byte.
    const hi = this.lowerBoundString(`${rest}\u0100`);
    for (let i = this.lowerBoundString(rest); i < hi; i++) out.push(this.sorted[i]);
    return out;
  }

  /** Ids of tokens containing byte b. */
  containing(b: number): Int32Array {
    let ids = this.#containing.get(b);
    if (!ids) {
      const ch = String.fromCharCode(b);
      const list: number[] = [];
      this.strs.forEach((s, id) => {
        if (s.includes(ch)) list.push(id);
      });
      ids = Int32Array.from(list);
      this.#containing.set(b, ids);
    }
    return ids;
  }
}

const vocabCache = new WeakMap<GrammarTokenizer, VocabIndex>();
const grammarCache = new WeakMap<GrammarTokenizer, Map<string, CompiledGrammar>>();

interface Row {
  tokens: number[];
  next: number[]; // DFA states, -1 = denied
  def: number; // DFA state or -1
  fb: number; // DFA state or -1
}

function transitions(dfa: ByteDfa, vocab: VocabIndex, c: number, endTokenId: number): Row {
  const kind = dfa.kind[c];
  const pairs: [number, number][] = [];
  let def = -1;
  let fb = -1;
  if (kind === DFA_EDGES) {
    const walk = (state: number, lo: number, hi: number, d: number): void => {
      let i = lo;
      while (i < hi && vocab.strs[vocab.sorted[i]].length === d) {
        if (d > 0) pairs.push([vocab.sorted[i], state]);
        i++;
      }
      const k = dfa.kind[state];
      if (k === DFA_EDGES) {
        for (const [b, to] of dfa.edges[state]) {
          const j0 = vocab.lowerBound(i, hi, d, b);
          const j1 = vocab.lowerBound(j0, hi, d, b + 1);
          if (j0 < j1) walk(to, j0, j1, d + 1);
        }
      } else if (k === DFA_FREE) {
        // A token that enters free text mid-way: every byte is possible, so visit each child range.
        for (let j = i; j < hi; ) {
          const b = vocab.key(j, d);
          const j1 = vocab.lowerBound(j, hi, d, b + 1);
          const to = dfa.next(state, b);
          if (to >= 0) walk(to, j, j1, d + 1);
          j = j1;
        }
      }
    };
    walk(c, 0, vocab.sorted.length, 0);
  } else if (kind === DFA_FREE) {
    const f = dfa.freeInfo(c)!;
    // Tokens that never touch the marker behave like from the k = 0 state and go back there; only
    // the others are listed (k = 0: those containing the marker's first byte; k > 0: those that
    // continue the marker, all others fall back to the k = 0 row).
    const candidates = f.k === 0 ? vocab.containing(f.marker.charCodeAt(0)) : vocab.compatible(f.marker.slice(f.k));
    for (const id of candidates) {
      const to = dfa.run(c, vocab.strs[id]);
      if (f.k === 0 && to === f.base) continue;
      pairs.push([id, to]);
    }
    def = f.base;
    fb = f.k === 0 ? -1 : f.base;
  } else if (kind === DFA_END) {
    pairs.push([endTokenId, dfa.accept]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { tokens: pairs.map((p) => p[0]), next: pairs.map((p) => p[1]), def, fb };
}

function compile(tokenizer: GrammarTokenizer, spec: PlanningFormatSpec, mode: AnswerMode): CompiledGrammar {
  const t0 = performance.now();
  let vocab = vocabCache.get(tokenizer);
  if (!vocab) vocabCache.set(tokenizer, (vocab = new VocabIndex(tokenizer)));
  const elements = answerElements(spec, mode);
  const dfa = new ByteDfa(elements);
  const endTokenId = tokenizer.specialIds.imEnd;

  // Breadth-first over the DFA states reachable at token boundaries.
  const index = new Int32Array(dfa.size).fill(-1);
  const charOf: number[] = [];
  const visit = (c: number): number => {
    if (c >= 0 && index[c] < 0) {
      index[c] = charOf.length;
      charOf.push(c);
    }
    return c < 0 ? -1 : index[c];
  };
  visit(dfa.start);
  const rows: Row[] = [];
  for (let s = 0; s < charOf.length; s++) {
    const row = transitions(dfa, vocab, charOf[s], endTokenId);
    row.next.forEach(visit);
    visit(row.def);
    visit(row.fb);
    rows.push(row);
  }

  const { runs, ends } = forcedRuns(dfa, charOf, tokenizeSamples(dfa, elements, tokenizer), tokenizer);
  const numStates = charOf.length;
  const directEnd = ends.map((c) => index[c]);
  if (directEnd.some((e) => e < 0)) throw new TrtVlaError('ERR_INTERNAL', 'a forced run ends outside the automaton');
  // Chain runs (a literal run that reaches the end continues with the end-of-turn token). Runs only
  // move forward through the answer, so this terminates.
  const full = runs.map((r) => [...r]);
  const endState = [...directEnd];
  for (let s = 0; s < numStates; s++) {
    if (full[s].length === 0) continue;
    for (let e = directEnd[s]; runs[e].length > 0; e = directEnd[e]) {
      full[s].push(...runs[e]);
      endState[s] = directEnd[e];
    }
  }

  const totalTrans = rows.reduce((n, r) => n + r.tokens.length, 0);
  const totalForced = full.reduce((n, r) => n + r.length, 0);
  const a: CompiledGrammar = {
    version: GRAMMAR_FORMAT_VERSION,
    format: spec.name,
    mode,
    numStates,
    start: index[dfa.start],
    textVocabSize: tokenizer.textVocabSize,
    vocabSize: tokenizer.vocabSize,
    endTokenId,
    kind: Uint8Array.from(charOf, (c) => (dfa.kind[c] === DFA_FREE ? STATE_FREE : STATE_LIST)),
    accepting: Uint8Array.from(charOf, (c) => (dfa.kind[c] === DFA_ACCEPT ? 1 : 0)),
    transOffsets: new Int32Array(numStates + 1),
    transTokens: new Int32Array(totalTrans),
    transNext: new Int32Array(totalTrans),
    defaultNext: Int32Array.from(rows, (r) => (r.def < 0 ? -1 : index[r.def])),
    fallback: Int32Array.from(rows, (r) => (r.fb < 0 ? -1 : index[r.fb])),
    forcedOffsets: new Int32Array(numStates + 1),
    forcedTokens: new Int32Array(totalForced),
    forcedEnd: Int32Array.from(endState),
    compileMs: 0,
  };
  let t = 0;
  let f = 0;
  for (let s = 0; s < numStates; s++) {
    a.transOffsets[s] = t;
    rows[s].tokens.forEach((tok, i) => {
      a.transTokens[t] = tok;
      a.transNext[t++] = rows[s].next[i] < 0 ? -1 : index[rows[s].next[i]];
    });
    a.forcedOffsets[s] = f;
    a.forcedTokens.set(full[s], f);
    f += full[s].length;
  }
  a.transOffsets[numStates] = t;
  a.forcedOffsets[numStates] = f;
  // Every forced run must be a path of the automaton itself; a failure here is a compiler bug.
  for (let s = 0; s < numStates; s++) {
    let x = s;
    for (const tok of full[s]) x = x < 0 ? -1 : step(a, x, tok);
    if (x !== endState[s]) throw new TrtVlaError('ERR_INTERNAL', `forced run of grammar state ${s} does not lead to its end state`);
  }
  return { ...a, compileMs: performance.now() - t0 };
}

/**
 * The token automaton of a format's answer for `tokenizer`, compiled on first use and cached per
 * tokenizer object, format and mode.
 */
export function compileAnswerGrammar(tokenizer: GrammarTokenizer, options: CompileGrammarOptions): CompiledGrammar {
  const spec = planningSpec(options.format);
  const mode = options.mode ?? 'fast';
  if (mode !== 'fast' && mode !== 'slow') {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected one of 'fast', 'slow' for mode but received ${JSON.stringify(mode)} of type ${typeof mode}`);
  }
  const key = `${mode}\u0000${JSON.stringify(spec)}`;
  let perTokenizer = grammarCache.get(tokenizer);
  if (!perTokenizer) grammarCache.set(tokenizer, (perTokenizer = new Map()));
  let compiled = perTokenizer.get(key);
  if (!compiled) perTokenizer.set(key, (compiled = compile(tokenizer, spec, mode)));
  return compiled;
}
