import { readFileSync } from 'node:fs';

import { beforeAll, describe, expect, it } from 'vitest';

import { replayDecode } from '../../lib/action/decodeReplay.js';
import { forcedRun, isAccepting, simulateJumpForward, step } from '../../lib/action/grammarAutomaton.js';
import { compileAnswerGrammar } from '../../lib/action/grammarCompiler.js';
import { WaypointDrafter, formatNumberNear } from '../../lib/action/waypointDrafter.js';
import { extrapolateNext, predictYGivenX } from '../../lib/action/waypointExtrapolation.js';
import { drivingRecordsJsonl, generateDrivingRecords, parseDrivingRecords } from '../../lib/bench/drivingRecords.js';
import { answerIds, formatSpeculationReport, runSpeculationReplay } from '../../lib/bench/speculationBench.js';
import type { EgoHistoryEntry } from '../../lib/prompt/egoHistory.js';
import { PLANNING_FORMATS, formatPlanningBlock, type PlanningFormat } from '../../lib/prompt/formats.js';
import type { QwenTokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { NUSCENES_ANSWER } from '../helpers/impromptuStrings.js';
import { qwenTokenizer, randomCoordinate, rng } from '../helpers/qwen.js';

const FIXTURE = new URL('../fixtures/speculation-records.jsonl', import.meta.url);

describe('kinematic prior', () => {
  it('constant velocity: exact linear extrapolation', () => {
    const p = extrapolateNext([{ x: -6, y: 0.9 }, { x: -3, y: 0.45 }, { x: 0, y: 0 }]);
    expect(p.x).toBeCloseTo(3, 12);
    expect(p.y).toBeCloseTo(-0.45, 12);
    expect(extrapolateNext([{ x: -3, y: 0.45 }, { x: 0, y: 0 }])).toEqual({ x: 3, y: -0.45 });
  });

  it('constant acceleration on a straight line: exact', () => {
    const x = (t: number): number => 8 * t + 0.5 * 1.5 * t * t; // 8 m/s, 1.5 m/s²
    const p = extrapolateNext([-1, -0.5, 0].map((t) => ({ x: x(t), y: 0 })));
    expect(p.x).toBeCloseTo(x(0.5), 12);
    expect(p.y).toBe(0);
  });

  it('constant yaw rate at constant speed: the next point on the same arc', () => {
    const radius = 20;
    const omega = 0.3; // rad/s, 6 m/s on a 20 m circle
    // Heading 0 at t = 0, turning left around (0, radius).
    const at = (t: number): { x: number; y: number } => ({ x: radius * Math.sin(omega * t), y: radius * (1 - Math.cos(omega * t)) });
    const path = [-1.5, -1, -0.5, 0].map(at);
    let p = extrapolateNext(path);
    expect(p.x).toBeCloseTo(at(0.5).x, 10);
    expect(p.y).toBeCloseTo(at(0.5).y, 10);
    // Fed its own points it keeps following the circle.
    for (let k = 2; k <= 6; k++) {
      path.push(p);
      p = extrapolateNext(path);
      expect(p.x).toBeCloseTo(at(0.5 * k).x, 9);
      expect(p.y).toBeCloseTo(at(0.5 * k).y, 9);
    }
  });

  it('a stopped car stays, a braking car stops instead of reversing', () => {
    expect(extrapolateNext([{ x: 0, y: 0 }, { x: 0, y: 0 }, { x: 0, y: 0 }])).toEqual({ x: 0, y: 0 });
    expect(extrapolateNext([{ x: -1.5, y: 0 }, { x: -0.3, y: 0 }, { x: 0, y: 0 }])).toEqual({ x: 0, y: 0 });
  });

  it('a single history entry uses its speed, acceleration and lateral acceleration', () => {
    const status: EgoHistoryEntry = { t: 0, x: 0, y: 0, speed: 10, ax: 2, ay: 0 };
    expect(extrapolateNext([{ x: 0, y: 0 }], status)).toEqual({ x: 5.25, y: 0 });
    expect(extrapolateNext([{ x: 0, y: 0 }])).toEqual({ x: 0, y: 0 });
    const turning = extrapolateNext([{ x: 0, y: 0 }], { t: 0, x: 0, y: 0, speed: 10, ay: 2 }); // 0.2 rad/s
    expect(Math.hypot(turning.x, turning.y)).toBeCloseTo(5, 12);
    expect(Math.atan2(turning.y, turning.x)).toBeCloseTo(0.05, 12);
  });

  it('y given a written x follows the predicted heading', () => {
    expect(predictYGivenX({ x: 4, y: 1 }, { x: 2, y: 0 }, 3)).toBeCloseTo(0.5, 12);
    expect(predictYGivenX({ x: 2.05, y: 1 }, { x: 2, y: 0 }, 3)).toBe(1); // too little forward motion
    expect(predictYGivenX({ x: 4, y: 1 }, { x: 2, y: 0 }, 12)).toBe(1); // implausible scale
  });
});

describe('number printing of the drafter', () => {
  it('prints like the answer formats: NumPy round for nuScenes, f"{v:.2f}" for q7', () => {
    const cases: [number, string, string][] = [
      [0.1 + 0.2, '0.3', '0.30'],
      [-0.0, '0.0', '-0.00'],
      [0, '0.0', '0.00'],
      [1e-5, '0.0', '0.00'],
      [-1e-5, '0.0', '-0.00'],
      [-0.004, '0.0', '-0.00'],
      [0.015, '0.02', '0.01'], // 0.015 * 100 is exactly 1.5 (NumPy: to even 2); the exact double is below 0.015
      [2.675, '2.68', '2.67'], // NumPy: 2.675 * 100 is exactly 267.5, to even 268; Python: the double is below 2.675
      [0.125, '0.12', '0.12'], // an exact tie: to even
      [12, '12.0', '12.00'],
      [-7.1, '-7.1', '-7.10'],
      [1234.5, '999.99', '999.99'], // the grammar's cap
    ];
    for (const [v, round2, fixed2] of cases) {
      expect(formatNumberNear(v, '', 'round2'), `round2 ${v}`).toBe(round2);
      expect(formatNumberNear(v, '', 'fixed2'), `fixed2 ${v}`).toBe(fixed2);
    }
  });

  it('continues what the model has written with the nearest number that starts with it', () => {
    expect(formatNumberNear(11.98, '12', 'round2')).toBe('12.0');
    expect(formatNumberNear(11.98, '12.', 'fixed2')).toBe('12.00');
    expect(formatNumberNear(3.47, '3.4', 'round2')).toBe('3.47');
    expect(formatNumberNear(3.47, '3.5', 'round2')).toBe('3.5');
    expect(formatNumberNear(3.47, '3.5', 'fixed2')).toBe('3.50');
    expect(formatNumberNear(9.7, '1', 'round2')).toBe('10.0');
    expect(formatNumberNear(150, '1', 'round2')).toBe('150.0');
    expect(formatNumberNear(0.5, '-', 'round2')).toBe('-0.01'); // "-0.0" is no round2 output
    expect(formatNumberNear(0.5, '-', 'fixed2')).toBe('-0.00');
    expect(formatNumberNear(-2, '', 'round2')).toBe('-2.0');
    expect(formatNumberNear(-2, '0', 'round2')).toBe('0.0');
    expect(formatNumberNear(1, 'x', 'round2')).toBeUndefined();
  });
});

describe('drafts and the Qwen tokenizer', () => {
  let tok: QwenTokenizer;
  beforeAll(async () => {
    tok = await qwenTokenizer();
  });

  const straightHistory = (speed: number, entries: number): EgoHistoryEntry[] =>
    Array.from({ length: entries }, (_, i) => {
      const t = -(entries - 1 - i) * 0.5;
      return { t, x: speed * t, y: 0, speed, ax: 0, ay: 0, vx: speed, vy: 0, steering: 0 };
    });

  for (const format of ['nuscenes', 'q7'] as PlanningFormat[]) {
    it(`${format}: a constant-velocity answer is drafted whole in the first verify call`, () => {
      const spec = PLANNING_FORMATS[format];
      const grammar = compileAnswerGrammar(tok, { format });
      const history = straightHistory(10, 7);
      const answer = formatPlanningBlock(Array.from({ length: spec.waypoints }, (_, i) => ({ x: 5 * (i + 1), y: 0 })), spec);
      const ids = answerIds(tok, answer);
      const drafter = new WaypointDrafter(tok, grammar, { format, history, maxDraft: 1000 });
      const start = forcedRun(grammar, grammar.start);
      const draft = drafter.draft(start, grammar.forcedEnd[grammar.start]!);
      expect([...start, ...draft]).toEqual(ids);
      expect(replayDecode(grammar, ids, 'draft', (c, s) => drafter.draft(c, s))).toMatchObject({ calls: 1, accepted: ids.length - start.length });
      // With the default cap the draft is 5 tokens and, here, always right.
      const capped = new WaypointDrafter(tok, grammar, { format, history });
      const stats = replayDecode(grammar, ids, 'draft', (c, s) => capped.draft(c, s));
      expect(stats.accepted).toBe(stats.drafted);
      expect(stats.drafted).toBeGreaterThan(0);
    });
  }

  it('the first draft prints the history prior exactly as the format does', () => {
    const grammar = compileAnswerGrammar(tok, { format: 'nuscenes' });
    const drafter = new WaypointDrafter(tok, grammar, { format: 'nuscenes', history: straightHistory(4.1, 3), maxDraft: 12 });
    const start = forcedRun(grammar, grammar.start);
    const text = tok.decode(drafter.draft(start, grammar.forcedEnd[grammar.start]!));
    expect(text).toBe(' [2.05, 0.0], ['); // 12 tokens: " [" 2 . 0 5 , " " 0 . 0 "]," " ["
    expect(drafter.predictContinuation(`${PLANNING_FORMATS.nuscenes.preamble}[2.0`)).toBe('5, 0.0], [4.1, 0.0], [6.15, 0.0], [8.2, 0.0], [10.25, 0.0], [12.3, 0.0]</PLANNING>');
    expect(drafter.predictContinuation('<Scene Description>free text')).toBeUndefined();
    expect(drafter.predictContinuation(`${PLANNING_FORMATS.nuscenes.preamble}[2.0, x`)).toBeUndefined();
  });

  it('rejects a bad history or cap, and names the record a replay fails on', () => {
    const grammar = compileAnswerGrammar(tok, { format: 'nuscenes' });
    expect(() => new WaypointDrafter(tok, grammar, { format: 'nuscenes', history: [], maxDraft: 5 })).toThrow(/options\.history/);
    expect(() => new WaypointDrafter(tok, grammar, { format: 'nuscenes', history: straightHistory(1, 2), maxDraft: 2.5 })).toThrow(/options\.maxDraft/);
    expect(new WaypointDrafter(tok, grammar, { format: 'nuscenes', history: straightHistory(1, 2), maxDraft: 0 }).draft(forcedRun(grammar, grammar.start), grammar.forcedEnd[grammar.start]!)).toEqual([]);
    const bad = { format: 'nuscenes' as const, scenario: '', history: straightHistory(1, 2), answer: NUSCENES_ANSWER.replace('2.15', '+2.15') };
    expect(() => runSpeculationReplay(tok, [bad])).toThrow(/nuscenes record 1 \(plain\): token \d+ .* is not allowed/);
  });

  it('every draft at every choice of random answers is admitted by the grammar', () => {
    const rand = rng(16);
    for (const format of ['nuscenes', 'q7'] as PlanningFormat[]) {
      const spec = PLANNING_FORMATS[format];
      const grammar = compileAnswerGrammar(tok, { format });
      for (let n = 0; n < 9; n++) {
        // Answers unrelated to the history (the drafter is mostly wrong) and histories of every kind.
        const speed = n % 3 === 0 ? 0 : 20 * rand();
        const history = straightHistory(speed, 1 + (n % 7)).map((e) => ({ ...e, y: e.t === 0 ? 0 : (rand() - 0.5) * 4 }));
        const answer = `${spec.preamble}${Array.from({ length: spec.waypoints }, () => `[${randomCoordinate(rand, spec.numberStyle)}, ${randomCoordinate(rand, spec.numberStyle)}]`).join(spec.separator)}${spec.closing}`;
        const ids = answerIds(tok, answer);
        const drafter = new WaypointDrafter(tok, grammar, { format, history, maxDraft: 1 + (n % 9) });
        let state = grammar.start;
        let checked = 0;
        for (let i = 0; i < ids.length; i++) {
          const draft = drafter.draft(ids.slice(0, i), state);
          expect(draft.length).toBeLessThanOrEqual(drafter.maxDraft);
          let s = state;
          for (const t of draft) {
            s = step(grammar, s, t);
            expect(s, `${format} ${answer} at ${i}`).toBeGreaterThanOrEqual(0);
          }
          checked += draft.length;
          state = step(grammar, state, ids[i]!);
        }
        expect(isAccepting(grammar, state)).toBe(true);
        expect(checked).toBeGreaterThan(0);
      }
    }
  });

  it('the replay counts session.cc calls, and drafts cut them on realistic records', () => {
    const records = parseDrivingRecords(readFileSync(FIXTURE, 'utf8')).slice(0, 24);
    for (const rec of records) {
      const grammar = compileAnswerGrammar(tok, { format: rec.format });
      const ids = answerIds(tok, rec.answer);
      expect(replayDecode(grammar, ids, 'plain').calls).toBe(ids.length - 1);
      expect(replayDecode(grammar, ids, 'jump-forward').calls).toBe(simulateJumpForward(grammar, ids).forwardPasses + 1);
    }
    const report = runSpeculationReplay(tok, records);
    expect(report.formats.map((f) => f.format)).toEqual(['nuscenes', 'q7']);
    for (const f of report.formats) {
      expect(f.loops.draft.calls).toBeLessThan(f.loops['jump-forward'].calls);
      expect(f.loops['jump-forward'].calls).toBeLessThan(f.loops.plain.calls);
      expect(f.accepted).toBeLessThanOrEqual(f.drafted);
      expect(f.positions.length).toBe(report.maxDraft);
    }
    const text = formatSpeculationReport(report);
    expect(text).toMatch(/14 ms per engine call/);
    expect(text).toMatch(/jump-fwd\+draft/);
  });
});

describe('driving records', () => {
  it('the committed fixture is what the generator writes for seed 16', () => {
    expect(drivingRecordsJsonl(generateDrivingRecords(200, 16))).toBe(readFileSync(FIXTURE, 'utf8'));
  });

  it('cover both formats and every scenario, and round-trip through the parser', () => {
    const records = generateDrivingRecords(200, 16);
    expect(records.filter((r) => r.format === 'q7')).toHaveLength(100);
    expect(new Set(records.map((r) => r.scenario))).toEqual(new Set(['stopped', 'cruise', 'pullAway', 'brake', 'turn', 'laneChange']));
    expect(parseDrivingRecords(drivingRecordsJsonl(records))).toEqual(records);
    expect(drivingRecordsJsonl(generateDrivingRecords(4, 17))).not.toBe(drivingRecordsJsonl(generateDrivingRecords(4, 16)));
    // Urban ranges: under 54 km/h, under 4 m/s² of acceleration either way.
    for (const r of records) {
      for (const e of r.history) {
        expect(e.speed).toBeLessThanOrEqual(15);
        expect(Math.abs(e.ax!)).toBeLessThan(5);
      }
    }
  });

  it('noise knobs change the futures, never the format, and are checked', () => {
    const base = generateDrivingRecords(6, 3);
    const noisy = generateDrivingRecords(6, 3, { waypointNoise: 0.05 });
    // The first record draws the same scenario and history; the noise draws shift the later records.
    expect(noisy[0]!.history).toEqual(base[0]!.history);
    expect(noisy[0]!.answer).not.toBe(base[0]!.answer);
    expect(parseDrivingRecords(drivingRecordsJsonl(noisy))).toEqual(noisy);
    expect(generateDrivingRecords(6, 3, { noiseScale: 4 }).map((r) => r.answer)).not.toEqual(base.map((r) => r.answer));
    expect(() => generateDrivingRecords(1, 3, { waypointNoise: -1 })).toThrow(/waypointNoise/);
    expect(() => generateDrivingRecords(1, 3, { noiseScale: Number.NaN })).toThrow(/noiseScale/);
  });

  it('a bad line is named', () => {
    expect(() => parseDrivingRecords('{"format":"nuscenes","history":[],"answer":""}\n', 'r.jsonl')).toThrow(/r\.jsonl:1\.history/);
    expect(() => parseDrivingRecords('\n{', 'r.jsonl')).toThrow(/r\.jsonl:2/);
    expect(() => parseDrivingRecords('{"format":"waymo"}', 'r.jsonl')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
