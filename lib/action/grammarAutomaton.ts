/**
 * The compiled answer grammar: a token-level automaton in flat typed arrays that native code can
 * consume as-is (each array is a contiguous int32 / uint8 buffer), plus the pure-TS reference
 * semantics that the native decode loop mirrors.
 *
 * ## Binary format (version 1)
 *
 * S = `numStates`; states are 0..S-1; `start` is the state before the first answer token.
 *
 *   kind[S]            uint8  0 = LIST: only the listed tokens are allowed.
 *                             1 = FREE: free text; listed tokens go where listed (next -1 = denied),
 *                                 other tokens are looked up in `fallback[s]`'s list (one level), and
 *                                 any still-unlisted *text* token (id < textVocabSize) goes to
 *                                 `defaultNext[s]`. Added tokens (id >= textVocabSize) are allowed
 *                                 only where listed.
 *   accepting[S]       uint8  1 for the state after the end-of-turn token (generation stops there).
 *   transOffsets[S+1]  int32  state s lists transTokens[transOffsets[s] .. transOffsets[s+1]).
 *   transTokens[T]     int32  token ids, strictly ascending within a state (binary-searchable).
 *   transNext[T]       int32  the state each listed token leads to; -1 only in FREE states (denied).
 *   defaultNext[S]     int32  FREE: target of unlisted text tokens; LIST: -1.
 *   fallback[S]        int32  FREE: the state whose list is consulted next, or -1; LIST: -1.
 *   forcedOffsets[S+1] int32  the forced run of s is forcedTokens[forcedOffsets[s] .. forcedOffsets[s+1]).
 *   forcedTokens[F]    int32  token ids.
 *   forcedEnd[S]       int32  the state after s's forced run (s itself when the run is empty).
 *
 * Ids >= vocabSize never occur (the model's padded embedding rows are never allowed).
 *
 * A non-empty forced run means the grammar admits exactly one continuation from s and these are the
 * tokenizer's canonical tokens for it: the runtime appends all of them in one engine call (together
 * with the token sampled just before, if any) instead of decoding them one by one. The run stops
 * before any pre-token whose canonical tokens depend on text the model has not chosen yet, so
 * constrained greedy decoding of a model that follows the format equals unconstrained decoding.
 */
import { TrtVlaError } from '../errors.js';

export const GRAMMAR_FORMAT_VERSION = 1;
export const STATE_LIST = 0;
export const STATE_FREE = 1;

export interface GrammarAutomaton {
  readonly version: number;
  readonly numStates: number;
  readonly start: number;
  /** Ids below this are byte-level text tokens. */
  readonly textVocabSize: number;
  /** All ids of the tokenizer (text + added). */
  readonly vocabSize: number;
  /** The end-of-turn token that closes the answer (`<|im_end|>`). */
  readonly endTokenId: number;
  readonly kind: Uint8Array;
  readonly accepting: Uint8Array;
  readonly transOffsets: Int32Array;
  readonly transTokens: Int32Array;
  readonly transNext: Int32Array;
  readonly defaultNext: Int32Array;
  readonly fallback: Int32Array;
  readonly forcedOffsets: Int32Array;
  readonly forcedTokens: Int32Array;
  readonly forcedEnd: Int32Array;
}

function search(a: GrammarAutomaton, state: number, token: number): number {
  let lo = a.transOffsets[state];
  let hi = a.transOffsets[state + 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const t = a.transTokens[mid];
    if (t === token) return mid;
    if (t < token) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

function checkState(a: GrammarAutomaton, state: number): void {
  if (!Number.isInteger(state) || state < 0 || state >= a.numStates) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected a grammar state between 0 and ${a.numStates - 1} but received ${state}`);
  }
}

/** The state after `token` from `state`, or -1 when the token leaves the grammar. */
export function step(a: GrammarAutomaton, state: number, token: number): number {
  checkState(a, state);
  const i = search(a, state, token);
  if (i >= 0) return a.transNext[i];
  if (a.kind[state] !== STATE_FREE) return -1;
  const fb = a.fallback[state];
  if (fb >= 0) {
    const j = search(a, fb, token);
    if (j >= 0) return a.transNext[j];
  }
  return token >= 0 && token < a.textVocabSize ? a.defaultNext[state] : -1;
}

/** Sorted ids allowed in `state`. FREE states allow most of the vocabulary: use {@link allowedMask} there. */
export function allowedTokens(a: GrammarAutomaton, state: number): Int32Array {
  checkState(a, state);
  if (a.kind[state] !== STATE_FREE) {
    return a.transTokens.slice(a.transOffsets[state], a.transOffsets[state + 1]);
  }
  const mask = allowedMask(a, state);
  const out: number[] = [];
  for (let id = 0; id < mask.length; id++) if (mask[id]) out.push(id);
  return Int32Array.from(out);
}

/** 1 for every allowed id of `state`, length vocabSize. */
export function allowedMask(a: GrammarAutomaton, state: number, out = new Uint8Array(a.vocabSize)): Uint8Array {
  checkState(a, state);
  out.fill(0);
  if (a.kind[state] !== STATE_FREE) {
    for (let i = a.transOffsets[state]; i < a.transOffsets[state + 1]; i++) out[a.transTokens[i]] = 1;
    return out;
  }
  out.fill(1, 0, a.textVocabSize);
  // Apply the fallback list first so that the state's own list overrides it.
  const lists = a.fallback[state] >= 0 ? [a.fallback[state], state] : [state];
  for (const s of lists) {
    for (let i = a.transOffsets[s]; i < a.transOffsets[s + 1]; i++) out[a.transTokens[i]] = a.transNext[i] >= 0 ? 1 : 0;
  }
  return out;
}

/** The forced token run of `state` (empty when the model must choose). A view, do not modify. */
export function forcedRun(a: GrammarAutomaton, state: number): Int32Array {
  checkState(a, state);
  return a.forcedTokens.subarray(a.forcedOffsets[state], a.forcedOffsets[state + 1]);
}

export function isAccepting(a: GrammarAutomaton, state: number): boolean {
  checkState(a, state);
  return a.accepting[state] === 1;
}

/** Counts of one answer decoded with jump-forward; see {@link simulateJumpForward}. */
export interface JumpForwardStats {
  /** Answer tokens including the end-of-turn token. */
  readonly tokens: number;
  /** Tokens the model chose (one sampling step each). */
  readonly free: number;
  /** Tokens appended from forced runs. */
  readonly forced: number;
  readonly forcedRuns: number;
  /** Forced tokens before the first choice: they can go in with the prompt's prefill. */
  readonly prefillForced: number;
  /**
   * Engine calls after the prompt prefill when each sampled token is fed together with the forced run
   * that follows it (nothing is fed after the end-of-turn token). Unconstrained decoding needs
   * `tokens - 1`.
   */
  readonly forwardPasses: number;
}

/**
 * Walks `ids` (an answer's tokens, ending with the end-of-turn token) through the automaton the way a
 * jump-forward decode loop would: at a state with a forced run the next ids must equal the run;
 * elsewhere each id is one model choice. Throws ERR_INVALID_ARGUMENT naming the first id that the
 * grammar rejects or that disagrees with a forced run.
 */
export function simulateJumpForward(a: GrammarAutomaton, ids: ArrayLike<number>): JumpForwardStats {
  let state = a.start;
  let i = 0;
  let free = 0;
  let forced = 0;
  let forcedRuns = 0;
  let prefillForced = 0;
  let passes = 0;
  while (i < ids.length) {
    const run = forcedRun(a, state);
    if (run.length > 0) {
      for (let j = 0; j < run.length; j++) {
        if (ids[i + j] !== run[j]) {
          throw new TrtVlaError('ERR_INVALID_ARGUMENT', `token ${i + j} is ${ids[i + j]} but the forced run of state ${state} has ${run[j]} there`);
        }
      }
      if (free === 0) prefillForced += run.length;
      forced += run.length;
      forcedRuns++;
      i += run.length;
      state = a.forcedEnd[state];
      continue;
    }
    const next = step(a, state, ids[i]);
    if (next < 0) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `token ${i} (${ids[i]}) is not allowed in grammar state ${state}`);
    // The logits for this choice came from the previous engine call (or the prefill).
    if (free > 0) passes++;
    free++;
    state = next;
    i++;
  }
  if (!isAccepting(a, state)) throw new TrtVlaError('ERR_INVALID_ARGUMENT', 'the ids end before the grammar accepts');
  return { tokens: ids.length, free, forced, forcedRuns, prefillForced, forwardPasses: passes };
}
