import { beforeAll, describe, expect, it } from 'vitest';

import { ByteDfa, answerElements, planningSpec } from '../../lib/action/grammar.js';
import {
  STATE_FREE,
  allowedMask,
  allowedTokens,
  forcedRun,
  isAccepting,
  simulateJumpForward,
  step,
  type GrammarAutomaton,
} from '../../lib/action/grammarAutomaton.js';
import { compileAnswerGrammar } from '../../lib/action/grammarCompiler.js';
import { PLANNING_FORMATS, REASONING_SECTIONS, formatCoordinate, type PlanningFormat } from '../../lib/prompt/formats.js';
import { utf8Binary } from '../../lib/tokenizer/byteLevel.js';
import type { QwenTokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { QwenTokenizer as Tokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { NUSCENES_ANSWER, Q7_ANSWER } from '../helpers/impromptuStrings.js';
import { qwenTokenizer, qwenTokenizerDir, randomCoordinate, randomFreeText, referenceEncode, rng } from '../helpers/qwen.js';

function numberDfa(style: 'round2' | 'fixed2'): (s: string) => boolean {
  const dfa = new ByteDfa([{ type: 'number', style }, { type: 'literal', text: ']' }]);
  return (s) => dfa.trace(utf8Binary(`${s}]`)) !== undefined;
}

function answer(format: PlanningFormat, rand: () => number, slow = false): string {
  const spec = PLANNING_FORMATS[format];
  const points = Array.from({ length: spec.waypoints }, () => `[${randomCoordinate(rand, spec.numberStyle)}, ${randomCoordinate(rand, spec.numberStyle)}]`);
  const reasoning = slow ? REASONING_SECTIONS.map((s) => s.open + randomFreeText(rand) + s.close).join('') : '';
  return `${reasoning}${spec.preamble}${points.join(spec.separator)}${spec.closing}`;
}

describe('number patterns', () => {
  it('round2 accepts exactly what Python str(round(v, 2)) prints (|v| < 1000)', () => {
    const ok = numberDfa('round2');
    for (const s of ['0.0', '0.05', '-0.01', '-0.5', '-0.35', '12.3', '999.99', '-999.99', '100.0', '7.0']) expect(ok(s), s).toBe(true);
    for (const s of ['-0.0', '0.50', '0.00', '-0.00', '1234.5', '01.5', '1', '1.', '-', '+1.0', '1.234', '00.1', '-00.1', '.5', '1e-05']) {
      expect(ok(s), s).toBe(false);
    }
    const rand = rng(1);
    for (let i = 0; i < 5000; i++) expect(ok(randomCoordinate(rand, 'round2'))).toBe(true);
  });

  it('fixed2 accepts exactly what f"{v:.2f}" prints (|v| < 1000), -0.00 included', () => {
    const ok = numberDfa('fixed2');
    for (const s of ['0.00', '-0.00', '3.32', '-999.99', '10.50']) expect(ok(s), s).toBe(true);
    for (const s of ['0.0', '1.234', '1000.00', '-0.0', '01.00', '3']) expect(ok(s), s).toBe(false);
    const rand = rng(2);
    for (let i = 0; i < 5000; i++) expect(ok(randomCoordinate(rand, 'fixed2'))).toBe(true);
    expect(ok(formatCoordinate(-0.001, 'fixed2'))).toBe(true);
  });

  it('the grammar text is the formats.ts PLANNING block', () => {
    for (const [format, text] of [['nuscenes', NUSCENES_ANSWER], ['q7', Q7_ANSWER]] as const) {
      const dfa = new ByteDfa(answerElements(planningSpec(format), 'fast'));
      expect(dfa.trace(utf8Binary(text))).toBeDefined();
      expect(dfa.trace(utf8Binary(text.replace('[x, y]: [', '[x, y]:  [')))).toBeUndefined();
      expect(dfa.trace(utf8Binary(text.replace('</PLANNING>', '')))).toBeUndefined();
    }
  });
});

describe('compiled answer grammar', () => {
  let tok: QwenTokenizer;
  let fast: GrammarAutomaton;
  beforeAll(async () => {
    tok = await qwenTokenizer();
    fast = compileAnswerGrammar(tok, { format: 'nuscenes' });
  });
  const canonical = (text: string): number[] => [...referenceEncode(text), tok.specialIds.imEnd];

  it('compiles the 151k vocabulary in under 2 s and caches per tokenizer, format and mode', async () => {
    const fresh = await Tokenizer.load(await qwenTokenizerDir()); // no cached vocabulary index
    const g = compileAnswerGrammar(fresh, { format: 'nuscenes', mode: 'fast' });
    expect(g.compileMs).toBeLessThan(2000);
    expect(compileAnswerGrammar(fresh, { format: 'nuscenes' })).toBe(g);
    expect(compileAnswerGrammar(fresh, { format: 'q7' })).not.toBe(g);
    expect(() => compileAnswerGrammar(fresh, { format: 'waymo' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => compileAnswerGrammar(fresh, { format: 'q7', mode: 'medium' as never })).toThrow(/'fast', 'slow'/);
  });

  it('is flat typed arrays with sorted rows', () => {
    for (const g of [fast, compileAnswerGrammar(tok, { format: 'nuscenes', mode: 'slow' })]) {
      expect(g.transOffsets).toBeInstanceOf(Int32Array);
      expect(g.kind).toBeInstanceOf(Uint8Array);
      expect(g.transOffsets.length).toBe(g.numStates + 1);
      expect(g.forcedOffsets[g.numStates]).toBe(g.forcedTokens.length);
      for (let s = 0; s < g.numStates; s++) {
        for (let i = g.transOffsets[s] + 1; i < g.transOffsets[s + 1]; i++) expect(g.transTokens[i]).toBeGreaterThan(g.transTokens[i - 1]);
        if (g.kind[s] !== STATE_FREE) {
          expect(g.defaultNext[s]).toBe(-1);
          for (let i = g.transOffsets[s]; i < g.transOffsets[s + 1]; i++) expect(g.transNext[i]).toBeGreaterThanOrEqual(0);
        }
      }
      expect(Math.max(...g.transTokens)).toBeLessThan(g.vocabSize);
      expect(g.accepting.reduce((a, b) => a + b, 0)).toBe(1);
    }
  });

  it.each([
    ['nuscenes', 'fast', 300],
    ['q7', 'fast', 150],
    ['nuscenes', 'slow', 150],
    ['q7', 'slow', 60],
  ] as const)('walks the canonical tokens of any %s %s answer, forced runs included', (format, mode, count) => {
    const g = compileAnswerGrammar(tok, { format, mode });
    const rand = rng(format.length * 31 + mode.length);
    const texts = [...Array.from({ length: count }, () => answer(format, rand, mode === 'slow'))];
    if (mode === 'fast') texts.push(format === 'q7' ? Q7_ANSWER : NUSCENES_ANSWER);
    for (const text of texts) {
      const ids = canonical(text);
      expect(tok.encode(text)).toEqual(ids.slice(0, -1));
      expect(() => simulateJumpForward(g, ids), text).not.toThrow();
    }
  });

  it('allows exactly the tokens that keep the text inside the grammar', () => {
    const spec = planningSpec('nuscenes');
    const slow = compileAnswerGrammar(tok, { format: 'nuscenes', mode: 'slow' });
    const open = REASONING_SECTIONS[0].open;
    const cases: [GrammarAutomaton, 'fast' | 'slow', string][] = [
      [fast, 'fast', ''],
      [fast, 'fast', '<PLANNING>Pred'],
      [fast, 'fast', `${spec.preamble}`],
      [fast, 'fast', `${spec.preamble}[`],
      [fast, 'fast', `${spec.preamble}[-0.`],
      [fast, 'fast', `${spec.preamble}[-0.0`],
      [fast, 'fast', `${spec.preamble}[12.3`],
      [fast, 'fast', `${spec.preamble}[1.5, `],
      [fast, 'fast', NUSCENES_ANSWER.slice(0, -3)],
      [fast, 'fast', NUSCENES_ANSWER],
      [slow, 'slow', ''],
      [slow, 'slow', `${open}The road is clear`],
      [slow, 'slow', `${open}The road.\n</Scene`],
      [slow, 'slow', `${open}x\n</Scene Description>`],
    ];
    for (const [g, mode, prefix] of cases) {
      const dfa = new ByteDfa(answerElements(spec, mode));
      const at = dfa.run(dfa.start, utf8Binary(prefix));
      let state = g.start;
      for (const id of referenceEncode(prefix)) state = step(g, state, id);
      expect(state, prefix).toBeGreaterThanOrEqual(0);
      const mask = allowedMask(g, state);
      for (let id = 0; id < tok.vocabSize; id++) {
        const expected = id < tok.textVocabSize ? dfa.run(at, tok.tokenBinary(id)) >= 0 : id === tok.specialIds.imEnd && at === dfa.end;
        if (mask[id] !== (expected ? 1 : 0)) throw new Error(`prefix ${JSON.stringify(prefix)}: token ${id} ${JSON.stringify(tok.decode([id]))} allowed=${mask[id]}`);
      }
      if (g.kind[state] !== STATE_FREE) expect(Array.from(allowedTokens(g, state))).toEqual(Array.from(mask.keys()).filter((id) => mask[id]));
    }
  });

  it('forces the preamble, never a " [" that could still become " [-", and the closing + <|im_end|>', () => {
    const preamble = forcedRun(fast, fast.start);
    expect(tok.decode(preamble)).toBe(PLANNING_FORMATS.nuscenes.preamble.slice(0, -1)); // up to "]:"
    const afterPreamble = fast.forcedEnd[fast.start];
    expect(forcedRun(fast, afterPreamble)).toHaveLength(0);
    const choices = allowedTokens(fast, afterPreamble);
    expect(choices).toContain(tok.encode(' [')[0]);
    expect(choices).toContain(tok.encode(' [-')[0]);
    // "…[11.77, 2.1" then "7": two decimals reached, so the closing is forced with the end token.
    const ids = canonical(NUSCENES_ANSWER);
    const closing = ids.length - 6; // "]</", "PL", "ANN", "ING", ">", <|im_end|>
    let state = fast.start;
    let i = 0;
    while (i < closing) {
      const run = forcedRun(fast, state);
      if (run.length) {
        i += run.length;
        state = fast.forcedEnd[state];
      } else state = step(fast, state, ids[i++]);
    }
    expect(i).toBe(closing);
    expect(tok.decode(ids.slice(i - 1, i))).toBe('7');
    expect(tok.decode(forcedRun(fast, state))).toBe(']</PLANNING><|im_end|>');
    expect(isAccepting(fast, fast.forcedEnd[state])).toBe(true);
  });

  it('splits the A7 nuScenes answer into these choices and {forced runs}', () => {
    const ids = canonical(NUSCENES_ANSWER);
    const parts: string[] = [];
    let state = fast.start;
    for (let i = 0; i < ids.length; ) {
      const run = forcedRun(fast, state);
      if (run.length) {
        parts.push(`{${tok.decode(run)}}`);
        i += run.length;
        state = fast.forcedEnd[state];
      } else {
        parts.push(tok.decode([ids[i]]));
        state = step(fast, state, ids[i++]);
      }
    }
    expect(parts[0]).toBe(`{${PLANNING_FORMATS.nuscenes.preamble.slice(0, -1)}}`);
    expect(parts.slice(1).join('|')).toBe(
      ' [|2|.|1|5|{,}| |0|{.}|0|],| [|3|.|8|,| |0|{.}|0|9|{],}| [|5|.|8|6|{,}| |0|{.}|2|7|{],}| [|7|.|9|3|{,}| |0|{.}|6|6|{],}| ' +
        '[|9|.|9|2|{,}| |1|.|2|8|{],}| [|1|1|.|7|7|{,}| |2|.|1|7|{]</PLANNING><|im_end|>}',
    );
  });

  it('keeps free text free but never lets it end the turn', () => {
    const slow = compileAnswerGrammar(tok, { format: 'nuscenes', mode: 'slow' });
    let state = slow.start;
    for (const id of referenceEncode(`${REASONING_SECTIONS[0].open}Two cars`)) state = step(slow, state, id);
    expect(slow.kind[state]).toBe(STATE_FREE);
    expect(step(slow, state, tok.specialIds.imEnd)).toBe(-1);
    expect(step(slow, state, tok.specialIds.imagePad)).toBe(-1);
    expect(allowedMask(slow, state).reduce((a, b) => a + b, 0)).toBeGreaterThan(150_000);
  });

  it('needs at most 45% of the unconstrained forward passes on nuScenes answers', () => {
    const stats = simulateJumpForward(fast, canonical(NUSCENES_ANSWER));
    expect(stats.forced + stats.free).toBe(stats.tokens);
    expect(stats.forwardPasses / stats.tokens).toBeLessThanOrEqual(0.45);
    const rand = rng(7);
    let passes = 0;
    let tokens = 0;
    for (let i = 0; i < 200; i++) {
      const s = simulateJumpForward(fast, canonical(answer('nuscenes', rand)));
      passes += s.forwardPasses;
      tokens += s.tokens;
    }
    expect(passes / tokens).toBeLessThanOrEqual(0.45);
  });

  it('rejects tokens outside the grammar', () => {
    expect(step(fast, fast.start, tok.encode('Hello')[0])).toBe(-1);
    expect(step(fast, fast.start, tok.specialIds.imEnd)).toBe(-1);
    expect(() => simulateJumpForward(fast, canonical(NUSCENES_ANSWER.replace('2.15', '+2.15')))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => step(fast, fast.numStates, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
