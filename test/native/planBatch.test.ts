// `trt-vla plan` over a manifest / a folder, its predictions piped into `trt-vla eval`, and
// `--record DIR` replayed with `trt-vla replay` (tiny generated model, synthetic images, 1 thread).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');

function cliRun(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: process.env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HISTORY = [
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

let scratch: string;
let model: string;
let manifest: string;
let otherModel: string;

async function writeImage(file: string, shade: number): Promise<void> {
  await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: shade, g: 110, b: 255 - shade } } }).png().toFile(file);
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-batch-'));
  model = await testModel('tiny', 'awq');
  otherModel = await testModel('tiny', 'fp16');
  mkdirSync(path.join(scratch, 'cams'));
  await writeImage(path.join(scratch, 'cams', 'a.png'), 40);
  await writeImage(path.join(scratch, 'cams', 'b.png'), 200);
  writeFileSync(path.join(scratch, 'cams', 'b-history.json'), JSON.stringify(HISTORY.map((h) => ({ ...h, speed: h.speed + 1 }))));
  manifest = path.join(scratch, 'manifest.jsonl');
  writeFileSync(
    manifest,
    [
      JSON.stringify({ id: 'scene-a', images: ['cams/a.png'], history: HISTORY }),
      '',
      JSON.stringify({ id: 'scene-b', images: ['cams/b.png'], historyFile: 'cams/b-history.json' }),
    ].join('\n'),
  );
});

describe('trt-vla plan --manifest / --dir', () => {
  let predictions: string;
  let record: string;

  beforeAll(() => {
    predictions = path.join(scratch, 'pred.jsonl');
    record = path.join(scratch, 'rec');
    const r = cliRun(['plan', '--model', model, '--threads', '1', '--manifest', manifest, '--out', predictions, '--record', record]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 of 2 records planned -> .*pred\.jsonl; recorded in .*rec/);
  });

  it('writes one prediction line per record, with its id, that eval reads directly', () => {
    const lines = readFileSync(predictions, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['scene-a', 'scene-b']);
    for (const line of lines) {
      expect(line.waypoints).toHaveLength(6);
      expect(line.answer).toMatch(/^<PLANNING>/);
      expect(line.complete).toBe(true);
    }
    // Ground truth = the predictions shifted 1 m left: L2 exactly 1 at every step.
    const gt = path.join(scratch, 'gt.jsonl');
    writeFileSync(gt, lines.map((l) => JSON.stringify({ id: l.id, waypoints: l.waypoints.map(([x, y]: number[]) => [x, y! + 1]) })).join('\n'));
    const scored = cliRun(['eval', '--pred', predictions, '--gt', gt, '--json']);
    expect(scored.status, scored.stderr).toBe(0);
    const report = JSON.parse(scored.stdout);
    expect(report.samples.evaluated).toBe(2);
    expect(report.unscored).toEqual([]);
    for (const v of report.l2.perStep) expect(v).toBeCloseTo(1, 6);
    // A ground-truth id the batch did not plan is named, the rest still scored.
    writeFileSync(gt, `${readFileSync(gt, 'utf8')}\n${JSON.stringify({ id: 'scene-c', waypoints: lines[0].waypoints })}\n`);
    const partial = cliRun(['eval', '--pred', predictions, '--gt', gt]);
    expect(partial.status).toBe(3);
    expect(partial.stdout).toMatch(/^open-loop evaluation: 2 of 2 samples scored$/m);
    expect(partial.stdout).toMatch(/gt\.jsonl:3 \(id "scene-c"\): no prediction with this id$/m);
  });

  it('--record keeps each plan\'s inputs and outputs; replay re-runs them with identical tokens', () => {
    const run = JSON.parse(readFileSync(path.join(record, 'run.json'), 'utf8'));
    expect(run).toMatchObject({ version: 1, command: 'plan', model: { dir: path.resolve(model) } });
    expect(run.model.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(readdirSync(record).sort()).toEqual(['0000', '0001', 'run.json']);
    expect(readdirSync(path.join(record, '0001')).sort()).toEqual(['image-0.png', 'request.json', 'result.json']);
    expect(readFileSync(path.join(record, '0001', 'image-0.png'))).toEqual(readFileSync(path.join(scratch, 'cams', 'b.png')));
    const request = JSON.parse(readFileSync(path.join(record, '0001', 'request.json'), 'utf8'));
    expect(request).toMatchObject({ id: 'scene-b', images: ['image-0.png'], format: 'nuscenes', mode: 'fast', constrained: true });
    expect(request.history[0].speed).toBe(5);
    expect(request.sampling).toHaveProperty('temperature');
    const result = JSON.parse(readFileSync(path.join(record, '0001', 'result.json'), 'utf8'));
    expect(result.tokens.length).toBeGreaterThan(10);
    expect(result.waypoints).toHaveLength(6);
    expect(result.timings.endToEndMs).toBeGreaterThan(0);

    const same = cliRun(['replay', record, '--threads', '1', '--json']);
    expect(same.status, same.stderr).toBe(0);
    const summary = JSON.parse(same.stdout);
    expect(summary.tokenMismatches).toBe(0);
    expect(summary.waypointMaxDiff).toBe(0);
    expect(summary.plans.map((p: { id: string }) => p.id)).toEqual(['scene-a', 'scene-b']);
    expect(summary.medianTimingRatio).toBeGreaterThan(0);
    expect(summary.models.sameFingerprint).toBe(true);

    // A changed recorded token is a mismatch: exit 3, unless --allow-diff.
    const file = path.join(record, '0001', 'result.json');
    const tampered = JSON.parse(readFileSync(file, 'utf8'));
    tampered.tokens[3] += 1;
    writeFileSync(file, JSON.stringify(tampered));
    const differs = cliRun(['replay', record, '--threads', '1']);
    expect(differs.status, differs.stderr).toBe(3);
    expect(differs.stdout).toMatch(/^ {2}0001 scene-b +tokens DIFFER from #3 /m);
    expect(differs.stdout).toMatch(/^ {2}0000 scene-a +tokens identical/m);
    expect(differs.stdout).toMatch(/2 plans: 1 with different tokens, waypoint max diff 0\.0000 m/);

    // Another model folder (fp16 weights instead of int4): a different description, and tokens that
    // may differ (here also the tampered record's); --allow-diff accepts them, still reporting them.
    const other = cliRun(['replay', record, '--threads', '1', '--model', otherModel, '--allow-diff', '--json']);
    expect(other.status, other.stderr).toBe(0);
    const otherSummary = JSON.parse(other.stdout);
    expect(otherSummary.models.sameFingerprint).toBe(false);
    expect(otherSummary.models.replayed.dir).toBe(path.resolve(otherModel));
    expect(otherSummary.plans).toHaveLength(2);
    expect(otherSummary.tokenMismatches).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('--dir plans one subfolder per record into stdout; a single plan records too', () => {
    const folder = path.join(scratch, 'folder');
    for (const [name, image] of [['x1', 'a.png'], ['x2', 'b.png']] as const) {
      mkdirSync(path.join(folder, name), { recursive: true });
      writeFileSync(path.join(folder, name, '0-front.png'), readFileSync(path.join(scratch, 'cams', image)));
      writeFileSync(path.join(folder, name, 'history.json'), JSON.stringify(HISTORY));
    }
    const r = cliRun(['plan', '--model', model, '--threads', '1', '--dir', folder]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['x1', 'x2']);
    // Same image and history as scene-a of the manifest: the same plan.
    const first = JSON.parse(readFileSync(path.join(scratch, 'pred.jsonl'), 'utf8').split('\n')[0]!);
    expect(lines[0].waypoints).toEqual(first.waypoints);

    const single = path.join(scratch, 'single-rec');
    const one = cliRun(['plan', '--model', model, '--threads', '1', '--image', path.join(scratch, 'cams', 'a.png'), '--history', path.join(folder, 'x1', 'history.json'), '--record', single]);
    expect(one.status, one.stderr).toBe(0);
    expect(existsSync(path.join(single, '0000', 'result.json'))).toBe(true);
    expect(cliRun(['replay', single, '--threads', '1']).status).toBe(0);
  }, 120_000);

  it('bench --record keeps the measured plans (frames as PNG), and replay reproduces them', () => {
    const rec = path.join(scratch, 'bench-rec');
    const r = cliRun(['bench', '--model', model, '--threads', '1', '--frames', '2', '--warmup', '0', '--width', '64', '--height', '48', '--record', rec]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^record .*bench-rec$/m);
    expect(JSON.parse(readFileSync(path.join(rec, 'run.json'), 'utf8')).command).toBe('bench');
    expect(readdirSync(path.join(rec, '0001')).sort()).toEqual(['image-0.png', 'request.json', 'result.json']);
    const replayed = cliRun(['replay', rec, '--threads', '1']);
    expect(replayed.status, replayed.stdout + replayed.stderr).toBe(0);
    expect(replayed.stdout).toMatch(/2 plans: 0 with different tokens, waypoint max diff 0\.0000 m/);
  });

  it('rejects bad batches before the model loads and names a record whose plan fails', () => {
    const usage = (args: string[], problem: RegExp) => {
      const r = cliRun(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(problem);
    };
    usage(['plan', '--model', model, '--manifest', manifest, '--image', 'x.png'], /--image is for a single plan/);
    usage(['plan', '--model', model, '--manifest', manifest, '--dir', scratch], /give --manifest or --dir, not both/);
    usage(['plan', '--model', model, '--manifest', manifest, '--record', scratch], /--record .*: the folder is not empty/);
    usage(['plan', '--model', model, '--image', 'x.png', '--history', 'h.json', '--out', 'p.jsonl'], /--out needs --manifest or --dir/);
    usage(['replay'], /a record folder is required/);
    usage(['replay', path.join(scratch, 'nope')], /nope: not a folder/);

    // A record folder that is not one fails before the model loads, naming what is wrong.
    const forged = path.join(scratch, 'forged');
    mkdirSync(path.join(forged, '0000'), { recursive: true });
    writeFileSync(path.join(forged, 'run.json'), JSON.stringify({ version: 1, command: 'plan', model: { dir: model } }));
    writeFileSync(path.join(forged, '0000', 'request.json'), JSON.stringify({ images: ['../../etc/passwd'], history: HISTORY, format: 'nuscenes', mode: 'fast' }));
    writeFileSync(path.join(forged, '0000', 'result.json'), JSON.stringify({ tokens: [1], waypoints: [], timings: { endToEndMs: 1 } }));
    const forgedRun = cliRun(['replay', forged]);
    expect(forgedRun.status).toBe(1);
    expect(forgedRun.stderr).toMatch(/^trt-vla replay: ERR_INVALID_ARGUMENT: .*forged\/0000: not a recorded plan \(request\.json "images" must list file names in the folder\)$/m);
    expect(forgedRun.stderr).not.toMatch(/loading the model/);

    const bad = path.join(scratch, 'bad.jsonl');
    writeFileSync(bad, [JSON.stringify({ id: 'a', images: ['cams/a.png'], history: HISTORY }), JSON.stringify({ id: 'b', images: ['cams/missing.png'], history: HISTORY })].join('\n'));
    const r = cliRun(['plan', '--model', path.join(scratch, 'no-model-here'), '--manifest', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^trt-vla plan: ERR_INVALID_ARGUMENT: .*bad\.jsonl:2: image .*missing\.png is not a readable file$/m);
    writeFileSync(bad, [JSON.stringify({ id: 'a', images: ['cams/a.png'], history: HISTORY }), JSON.stringify({ id: 'a', images: ['cams/b.png'], history: [] })].join('\n'));
    expect(cliRun(['plan', '--model', model, '--manifest', bad]).stderr).toMatch(/bad\.jsonl:2: .*history/);

    // A history without a field its record's prompt prints fails before the model loads, naming the
    // line, the field, the prompt and the wording that would take it; --status-wording none takes it.
    const { ax: _ax, ...noAx } = HISTORY[0]!;
    writeFileSync(bad, [JSON.stringify({ id: 'a', images: ['cams/a.png'], history: [noAx, ...HISTORY.slice(1)] }), JSON.stringify({ id: 'b', images: ['cams/b.png'], history: HISTORY })].join('\n'));
    const unfit = cliRun(['plan', '--model', path.join(scratch, 'no-model-here'), '--manifest', bad]);
    expect(unfit.status).toBe(1);
    expect(unfit.stderr).toMatch(
      /^trt-vla plan: ERR_INVALID_ARGUMENT: .*bad\.jsonl:1: history\[0\] \(t = -1\) has no 'ax' .*the nuscenes prompt \(format 'nuscenes', statusWording 'speed', the default\).*--status-wording none\)$/m,
    );
    expect(unfit.stderr).not.toMatch(/loading the model/);
    const positionsOnly = cliRun(['plan', '--model', model, '--threads', '1', '--max-tokens', '4', '--status-wording', 'none', '--manifest', bad]);
    expect(positionsOnly.stderr).toMatch(/2 of 2 records planned/);

    // A record that fails while planning is named with its error; the others are still written (exit 1).
    writeFileSync(bad, [JSON.stringify({ id: 'a', images: ['cams/a.png', 'cams/b.png'], history: HISTORY }), JSON.stringify({ id: 'b', images: ['cams/b.png'], history: HISTORY })].join('\n'));
    const failing = cliRun(['plan', '--model', model, '--threads', '1', '--manifest', bad]);
    expect(failing.status).toBe(1);
    expect(failing.stderr).toMatch(/^trt-vla plan: record "a" \(.*bad\.jsonl:1\) failed: ERR_INVALID_ARGUMENT: .*1 frame\(s\) for the nuscenes prompt/m);
    expect(failing.stderr).toMatch(/1 of 2 records planned/);
    expect(failing.stdout.trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['b']);
  });
});
