/**
 * Replays an answer through a model of the decode loop and counts the engine calls it makes, for a
 * model that writes exactly that answer (its choice at every step is the answer's next token; a draft
 * token is accepted where it equals it). Three loops:
 *
 * - 'plain': one call per token (every token except the last is fed alone).
 * - 'jump-forward': the loop of native/vla/session.cc today. The start state's forced run (the
 *   PLANNING preamble) is fed in one call after the prompt prefill; then each sampled token is fed in
 *   one call together with the run the grammar forces after it; no call when the sampled token or its
 *   forced run completes the answer.
 * - 'draft': jump-forward plus verify calls. Whatever is decided but not yet fed (the sampled token and
 *   its forced run, or the preamble) goes in one call followed by the drafter's tokens; the call returns
 *   logits for every row, so the longest draft prefix the model agrees with is committed and the next
 *   row supplies the model's own token (the correction, or the bonus token when all drafts pass). If
 *   the accepted prefix ends where the grammar forces tokens, those are taken instead (the row is unused).
 *
 * The prompt prefill is not counted (all loops share it); chunking of long runs by the engine's
 * maxInputLength is not modelled (the longest run, the preamble, is ~50 tokens).
 */
import { TrtVlaError } from '../errors.js';
import { forcedRun, isAccepting, step, type GrammarAutomaton } from './grammarAutomaton.js';

export type DecodeLoop = 'plain' | 'jump-forward' | 'draft';

/** Draft tokens to verify after `committed` (all answer tokens so far) in grammar state `state`. */
export type Drafter = (committed: Int32Array, state: number) => readonly number[];

export interface DecodeReplayStats {
  /** Answer tokens including the end-of-turn token. */
  readonly tokens: number;
  /** Engine calls after the prompt prefill. */
  readonly calls: number;
  /** Calls that fed a single row (decode steps). */
  readonly singleRowCalls: number;
  /** Rows fed over all calls (committed tokens plus drafted ones). */
  readonly rows: number;
  /** Draft tokens sent / accepted. */
  readonly drafted: number;
  readonly accepted: number;
  /** Per draft position j: drafts that reached position j (all earlier ones accepted, length > j). */
  readonly reachedAt: readonly number[];
  /** Per draft position j: drafts whose token at j was accepted. */
  readonly acceptedAt: readonly number[];
}

function replayError(message: string): TrtVlaError {
  return new TrtVlaError('ERR_INVALID_ARGUMENT', message);
}

/**
 * Counts the calls of `loop` for answer `ids` (ending with the end-of-turn token). Throws
 * ERR_INVALID_ARGUMENT when the ids leave the grammar, disagree with a forced run, or do not end where
 * the grammar accepts; ERR_INTERNAL when the drafter proposes a token the grammar rejects.
 */
export function replayDecode(a: GrammarAutomaton, ids: ArrayLike<number>, loop: DecodeLoop, drafter?: Drafter): DecodeReplayStats {
  if (loop === 'draft' && !drafter) throw replayError("the 'draft' loop needs a drafter");
  const answer = Int32Array.from(ids);
  const jump = loop !== 'plain';
  let state = a.start;
  let i = 0; // answer tokens decided (fed or pending)
  let pending = 0; // decided but not fed yet
  let calls = 0;
  let singleRowCalls = 0;
  let rows = 0;
  let drafted = 0;
  let accepted = 0;
  const reachedAt: number[] = [];
  const acceptedAt: number[] = [];

  const take = (): void => {
    if (i >= answer.length) throw replayError('the ids end before the grammar accepts');
    const next = step(a, state, answer[i]!);
    if (next < 0) throw replayError(`token ${i} (${answer[i]}) is not allowed in grammar state ${state}`);
    state = next;
    i++;
    pending++;
  };
  const takeForced = (): boolean => {
    const run = jump && !isAccepting(a, state) ? forcedRun(a, state) : new Int32Array(0);
    for (let j = 0; j < run.length; j++) {
      if (answer[i + j] !== run[j]) {
        throw replayError(`token ${i + j} is ${answer[i + j]} but the forced run of state ${state} has ${run[j]} there`);
      }
    }
    if (run.length === 0) return false;
    const end = a.forcedEnd[state]!;
    i += run.length;
    pending += run.length;
    state = end;
    return true;
  };

  takeForced();
  while (!isAccepting(a, state)) {
    if (pending > 0) {
      // One engine call: the pending tokens, then the draft; logits come back for the draft rows too.
      const draft = loop === 'draft' ? drafter!(answer.subarray(0, i), state) : [];
      calls++;
      rows += pending + draft.length;
      if (pending + draft.length === 1) singleRowCalls++;
      drafted += draft.length;
      pending = 0;
      let j = 0;
      let s = state;
      for (; j < draft.length; j++) {
        s = step(a, s, draft[j]!);
        if (s < 0) throw new TrtVlaError('ERR_INTERNAL', `the drafter proposed token ${draft[j]} that grammar state ${state} does not admit`);
        reachedAt[j] = (reachedAt[j] ?? 0) + 1;
        if (draft[j] !== answer[i]) break;
        acceptedAt[j] = (acceptedAt[j] ?? 0) + 1;
        state = s;
        i++;
        accepted++;
      }
      if (isAccepting(a, state)) break;
      if (takeForced()) continue;
    }
    take(); // the model's own token, from the last call's logits (or the prefill's)
    takeForced();
  }
  if (i !== answer.length) throw replayError(`the grammar accepts after ${i} tokens but the ids have ${answer.length}`);
  for (let j = 0; j < reachedAt.length; j++) acceptedAt[j] ??= 0;
  return { tokens: answer.length, calls, singleRowCalls, rows, drafted, accepted, reachedAt, acceptedAt };
}
