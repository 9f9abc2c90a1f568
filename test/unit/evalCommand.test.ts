/** The eval record formats and the `trt-vla eval` command, on fixture files written by the test. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { evalCommand } from '../../lib/cli/eval.js';
import { joinRecords, parseGroundTruthRecord, parseJsonLines, parsePredictionRecord } from '../../lib/metrics/records.js';
import { formatPlanningBlock, PLANNING_FORMATS } from '../../lib/prompt/formats.js';

const GT_LINE = (id: string, extra = {}) => JSON.stringify({ id, waypoints: [[2, 0], [4, 0], [6, 0], [8, 0], [10, 0], [12, 0]], ...extra });

describe('eval records', () => {
  it('reads points as [x, y] or { x, y } and requires exactly one of waypoints / text', () => {
    expect(parsePredictionRecord({ id: 7, waypoints: [[1, 2], { x: 3, y: 4 }] }, 'p:1')).toEqual({
      id: '7',
      waypoints: [{ x: 1, y: 2 }, { x: 3, y: 4 }],
    });
    expect(parsePredictionRecord({ id: 'a', text: '<PLANNING>' }, 'p:1')).toEqual({ id: 'a', text: '<PLANNING>' });
    expect(() => parsePredictionRecord({ id: 'a' }, 'p:2')).toThrow('Expected exactly one of "waypoints" or "text" in p:2 (id a)');
    expect(() => parsePredictionRecord({ id: 'a', waypoints: [[1]] }, 'p:3')).toThrow(
      'Expected a point [x, y] or { x, y } for p:3.waypoints[0] but received an array of length 1',
    );
    expect(() => parseGroundTruthRecord({ id: 'g', waypoints: [[1, 0]], mask: [1, 1] }, 'g:1')).toThrow(/for g:1.mask/);
    expect(() => parseGroundTruthRecord({ id: 'g', waypoints: [[1, 0]], boxes: [[{ x: 1, y: 0, length: 4, width: 2 }]] }, 'g:1')).toThrow(
      'Expected a finite number for g:1.boxes[0][0].yaw but received undefined',
    );
    expect(() => parseJsonLines('{"id": 1}\n\n{oops', 'f.jsonl')).toThrow(/^f\.jsonl:3: not valid JSON/);
    expect(parseJsonLines('{"id": 1}\n\n{"id": 2}\n', 'f')).toEqual([{ line: 1, value: { id: 1 } }, { line: 3, value: { id: 2 } }]);
  });

  it('parses text answers in the format the step count implies and counts deviations', () => {
    const truths = [parseGroundTruthRecord(JSON.parse(GT_LINE('a')), 'g:1')];
    const text = formatPlanningBlock(truths[0]!.waypoints, PLANNING_FORMATS.nuscenes);
    const joined = joinRecords([{ id: 'a', text: text.replace('[4.0, 0.0]', '[4.00, 0.0]') }, { id: 'extra', waypoints: [] }], truths);
    expect(joined.samples[0]!.predicted).toEqual(truths[0]!.waypoints.map((p, i) => ({ t: 0.5 * (i + 1), ...p })));
    expect([joined.textPredictions, joined.textWithDiagnostics, joined.unmatchedPredictions]).toEqual([1, 1, 1]);
    expect(() => joinRecords([], truths)).toThrow('No prediction for 1 ground-truth id(s): "a"');
    expect(() => joinRecords([{ id: 'a', waypoints: [] }, { id: 'a', waypoints: [] }], truths)).toThrow('Duplicate prediction id "a"');
  });
});

describe('trt-vla eval', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trt-vla-eval-'));
    // Sample a: a text answer 1 m to the left at every step, and it runs into a car at step 6.
    const left = [[2, 1], [4, 1], [6, 1], [8, 1], [10, 1], [12, 1]].map(([x, y]) => ({ x: x!, y: y! }));
    const boxes = Array.from({ length: 6 }, (_, t) => (t === 5 ? [{ x: 12.5, y: 2.2, length: 4, width: 2, yaw: 0 }] : []));
    await writeFile(
      join(dir, 'pred.jsonl'),
      [
        JSON.stringify({ id: 'a', text: formatPlanningBlock(left, PLANNING_FORMATS.nuscenes) }),
        JSON.stringify({ id: 'b', waypoints: [[2, 0], [4, 0], [6, 0], [8, 0], [10, 0], [12, 0]] }),
        JSON.stringify({ id: 'c', waypoints: [] }),
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'gt.jsonl'),
      [GT_LINE('a', { boxes }), GT_LINE('b', { boxes: Array(6).fill([]) }), GT_LINE('c', { mask: [1, 1, 1, 1, 0, 0] })].join('\n') + '\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      const code = await evalCommand.run(argv);
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  }

  it('prints the horizon table: L2 0.5 m at every horizon, collision only at 3.0 s', async () => {
    const { code, out } = await run(['--pred', join(dir, 'pred.jsonl'), '--gt', join(dir, 'gt.jsonl')]);
    expect(code).toBe(0);
    // Per step L2 = mean(1, 0) = 0.5; collision per step = [0, 0, 0, 0, 0, 1/2] → 3s = 8.333 %, Avg 2.778 %.
    expect(out.split('\n')).toEqual([
      'open-loop evaluation: 2 of 3 samples scored, 1 skipped (incomplete ground truth)',
      'text answers: 1 parsed, 0 deviating from the exact format',
      '',
      'metric                 1s       2s       3s      Avg',
      'L2 (m)             0.5000   0.5000   0.5000   0.5000',
      'collision (%)       0.000    0.000    8.333    2.778',
      '',
      'per step             0.5s     1.0s     1.5s     2.0s     2.5s     3.0s',
      'L2 (m)             0.5000   0.5000   0.5000   0.5000   0.5000   0.5000',
      'collision (%)       0.000    0.000    0.000    0.000    0.000   50.000',
    ]);
  });

  it('prints the full report with --json', async () => {
    const { code, out } = await run(['--pred', join(dir, 'pred.jsonl'), '--gt', join(dir, 'gt.jsonl'), '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.samples).toEqual({ total: 3, evaluated: 2, skippedIncompleteGroundTruth: 1, paddedPredictions: 0, withBoxes: 2 });
    expect(report.l2.horizons).toEqual({ '1s': 0.5, '2s': 0.5, '3s': 0.5 });
    expect(report.collision.perStep).toEqual([0, 0, 0, 0, 0, 0.5]);
    expect(report.records).toEqual({ unmatchedPredictions: 0, textPredictions: 1, textWithDiagnostics: 0 });
  });

  it('is registered in the trt-vla entry point (dist/, built by `npm test`)', () => {
    const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const out = execFileSync(process.execPath, [cli, 'eval', '--pred', join(dir, 'pred.jsonl'), '--gt', join(dir, 'gt.jsonl'), '--json'], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out).l2.average).toBe(0.5);
  });

  it('scores what it can and names every record it could not score, and why (exit 3)', async () => {
    const pred = join(dir, 'mixed-pred.jsonl');
    const gt = join(dir, 'mixed-gt.jsonl');
    const six = [[2, 0], [4, 0], [6, 0], [8, 0], [10, 0], [12, 0]];
    await writeFile(
      pred,
      [
        JSON.stringify({ id: 'ok', waypoints: six }),
        '{not json',
        JSON.stringify({ id: 'both', waypoints: six, text: '<PLANNING>' }),
        JSON.stringify({ id: 'long', waypoints: [...six, [14, 0]] }),
        JSON.stringify({ id: 'dup', waypoints: six }),
        JSON.stringify({ id: 'dup', waypoints: six }),
        JSON.stringify({ id: 'stray', waypoints: six }),
        JSON.stringify({ id: 'short-gt', waypoints: six }),
      ].join('\n'),
    );
    await writeFile(
      gt,
      [
        GT_LINE('ok'),
        GT_LINE('both'),
        GT_LINE('long'),
        GT_LINE('dup'),
        GT_LINE('nopred'),
        JSON.stringify({ id: 'short-gt', waypoints: [[1, 0]] }),
        JSON.stringify({ id: 'bad', waypoints: 'x' }),
      ].join('\n'),
    );
    const { code, out } = await run(['--pred', pred, '--gt', gt]);
    expect(code).toBe(3);
    expect(out).toMatch(/^open-loop evaluation: 1 of 1 samples scored$/m);
    const listed = out.split('\n').filter((l) => l.startsWith('  ') && l.includes('.jsonl:'));
    const reasons = Object.fromEntries(listed.map((l) => [l.trim().split(': ')[0]!.replace(/^.*\//, ''), l.slice(l.indexOf(': ') + 2)]));
    expect(reasons).toEqual({
      'mixed-pred.jsonl:2': expect.stringMatching(/^not valid JSON/),
      'mixed-pred.jsonl:3 (id "both")': expect.stringMatching(/^malformed prediction: Expected exactly one of "waypoints" or "text"/),
      'mixed-pred.jsonl:4 (id "long")': '7 waypoints but the ground truth has 6',
      'mixed-pred.jsonl:5 (id "dup")': 'duplicate prediction id (2 records share it)',
      'mixed-pred.jsonl:6 (id "dup")': 'duplicate prediction id (2 records share it)',
      'mixed-pred.jsonl:7 (id "stray")': 'no ground truth with this id',
      'mixed-gt.jsonl:7 (id "bad")': expect.stringMatching(/^malformed ground truth: Expected an array of points/),
      'mixed-gt.jsonl:2 (id "both")': 'no prediction with this id',
      'mixed-gt.jsonl:4 (id "dup")': 'no prediction with this id',
      'mixed-gt.jsonl:5 (id "nopred")': 'no prediction with this id',
      'mixed-gt.jsonl:6 (id "short-gt")': expect.stringMatching(/^ground truth has 1 waypoints but ok \(.*mixed-gt\.jsonl:1\) has 6$/),
    });
    expect(out).toMatch(/^11 records not scored:$/m);
    const json = JSON.parse((await run(['--pred', pred, '--gt', gt, '--json'])).out);
    expect(json.unscored).toHaveLength(11);
    expect(json.unscored).toContainEqual({ id: 'stray', where: pred + ':7', reason: 'no ground truth with this id' });
    expect(json.records.unmatchedPredictions).toBe(1);
    // Nothing scorable is a failure, which names the first reasons.
    await writeFile(join(dir, 'none-pred.jsonl'), JSON.stringify({ id: 'zzz', waypoints: six }));
    await expect(run(['--pred', join(dir, 'none-pred.jsonl'), '--gt', gt])).rejects.toThrow(/^No record could be scored \(\d+ left out: .*malformed ground truth/);
  });

  it('explains missing arguments and bad input', async () => {
    // Usage errors are UsageErrors, which the entry point prints as one line plus the usage (exit 2).
    await expect(run(['--pred', join(dir, 'pred.jsonl')])).rejects.toThrow(/--pred and --gt are required/);
    await expect(run(['--pred', join(dir, 'nope.jsonl'), '--gt', join(dir, 'gt.jsonl')])).rejects.toThrow(/--pred .*nope\.jsonl: no such file/);
    await expect(run(['--pred', join(dir, 'pred.jsonl'), '--gt', join(dir, 'gt.jsonl'), '--format', 'x'])).rejects.toThrow(
      "Expected one of 'nuscenes', 'q7' for --format",
    );
    expect((await run(['--help'])).out).toMatch(/^Usage: trt-vla eval --pred FILE --gt FILE/);
  });
});
