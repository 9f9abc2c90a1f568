import { describe, expect, it } from 'vitest';

import { replayDecode } from '../../lib/action/decodeReplay.js';
import { GRAMMAR_FORMAT_VERSION, STATE_LIST, simulateJumpForward, type GrammarAutomaton } from '../../lib/action/grammarAutomaton.js';

/**
 * A hand-built automaton over ids 0..9 (9 = end of turn):
 *   s0 --1--> s1 --2--> s2          forced run of s0: [1, 2]
 *   s2 --3|4--> s3 --5--> s4        model choice, then forced [5]
 *   s4 --6|7--> s5 --8--> s6        model choice, then a choice with one option (not forced)
 *   s6 --9--> s7 (accepting)        forced [9]
 */
function handGrammar(): GrammarAutomaton {
  const trans: [number, number, number][] = [
    [0, 1, 1],
    [1, 2, 2],
    [2, 3, 3],
    [2, 4, 3],
    [3, 5, 4],
    [4, 6, 5],
    [4, 7, 5],
    [5, 8, 6],
    [6, 9, 7],
  ];
  const forced: Record<number, [number[], number]> = { 0: [[1, 2], 2], 1: [[2], 2], 3: [[5], 4], 6: [[9], 7] };
  const numStates = 8;
  const transOffsets = new Int32Array(numStates + 1);
  const transTokens: number[] = [];
  const transNext: number[] = [];
  const forcedOffsets = new Int32Array(numStates + 1);
  const forcedTokens: number[] = [];
  const forcedEnd = new Int32Array(numStates);
  for (let s = 0; s < numStates; s++) {
    transOffsets[s] = transTokens.length;
    for (const [from, tok, to] of trans) {
      if (from === s) {
        transTokens.push(tok);
        transNext.push(to);
      }
    }
    forcedOffsets[s] = forcedTokens.length;
    forcedTokens.push(...(forced[s]?.[0] ?? []));
    forcedEnd[s] = forced[s]?.[1] ?? s;
  }
  transOffsets[numStates] = transTokens.length;
  forcedOffsets[numStates] = forcedTokens.length;
  return {
    version: GRAMMAR_FORMAT_VERSION,
    numStates,
    start: 0,
    textVocabSize: 9,
    vocabSize: 10,
    endTokenId: 9,
    kind: new Uint8Array(numStates).fill(STATE_LIST),
    accepting: Uint8Array.from({ length: numStates }, (_, s) => (s === 7 ? 1 : 0)),
    transOffsets,
    transTokens: Int32Array.from(transTokens),
    transNext: Int32Array.from(transNext),
    defaultNext: new Int32Array(numStates).fill(-1),
    fallback: new Int32Array(numStates).fill(-1),
    forcedOffsets,
    forcedTokens: Int32Array.from(forcedTokens),
    forcedEnd,
  };
}

const ANSWER = [1, 2, 3, 5, 6, 8, 9];

describe('replayDecode on a hand-built grammar', () => {
  const g = handGrammar();

  it('plain: one call per token but the last', () => {
    const s = replayDecode(g, ANSWER, 'plain');
    expect(s).toMatchObject({ tokens: 7, calls: 6, singleRowCalls: 6, rows: 6, drafted: 0 });
  });

  it("jump-forward: session.cc's loop (preamble call, sampled token + forced run per call, none at the end)", () => {
    // [1,2] | 3 sampled + [5] forced | 6 sampled alone | 8 sampled, [9] forced to the end: no call.
    const s = replayDecode(g, ANSWER, 'jump-forward');
    expect(s).toMatchObject({ tokens: 7, calls: 3, singleRowCalls: 1, rows: 5, drafted: 0 });
    // The grammar module's own counter leaves out the preamble call.
    expect(simulateJumpForward(g, ANSWER).forwardPasses).toBe(s.calls - 1);
  });

  it('draft: accepted prefix plus the correction token, then the next verify call', () => {
    const seen: [number[], number][] = [];
    const drafts: Record<number, number[]> = { 2: [3, 5, 7], 5: [8, 9] };
    const s = replayDecode(g, ANSWER, 'draft', (committed, state) => {
      seen.push([[...committed], state]);
      return drafts[state] ?? [];
    });
    // Call 1: [1,2] + drafts [3,5,7]: 3 and 5 accepted, 7 rejected (the model writes 6, from row 3).
    // Call 2: [6] + drafts [8,9]: both accepted, the answer is complete.
    expect(seen).toEqual([
      [[1, 2], 2],
      [[1, 2, 3, 5, 6], 5],
    ]);
    expect(s).toMatchObject({ tokens: 7, calls: 2, singleRowCalls: 0, rows: 8, drafted: 5, accepted: 4 });
    expect(s.reachedAt).toEqual([2, 2, 1]);
    expect(s.acceptedAt).toEqual([2, 2, 0]);
  });

  it('draft: a prefix that stops where the grammar forces tokens takes them instead of the row', () => {
    // Call 1: [1,2] + [3] accepted; s3 forces [5]. Call 2: [5] + nothing; 6 from its row. Call 3: [6]; 8
    // sampled, [9] forced to the end.
    const s = replayDecode(g, ANSWER, 'draft', (_c, state) => (state === 2 ? [3] : []));
    expect(s).toMatchObject({ calls: 3, rows: 2 + 1 + 1 + 1, accepted: 1, drafted: 1 });
  });

  it('rejects answers the grammar does not take and drafts it does not admit', () => {
    expect(() => replayDecode(g, [1, 2, 3, 5, 6, 8], 'jump-forward')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => replayDecode(g, [1, 3], 'jump-forward')).toThrow(/forced run/);
    expect(() => replayDecode(g, [1, 2, 8], 'plain')).toThrow(/not allowed/);
    expect(() => replayDecode(g, [...ANSWER, 9], 'plain')).toThrow(/accepts after 7/);
    expect(() => replayDecode(g, ANSWER, 'draft')).toThrow(/needs a drafter/);
    expect(() => replayDecode(g, ANSWER, 'draft', () => [4, 6])).toThrow(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });
});
