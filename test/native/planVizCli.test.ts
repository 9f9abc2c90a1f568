// `trt-vla plan --viz` on the tiny model: the format the extension names, --calibration in each of
// its shapes, and every bad --viz / --calibration found before the model loads (usage error, exit 2).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { NUSCENES_CAM_FRONT } from '../../lib/bench/cameraProjection.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
const runStatus = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: process.env, timeout: 120_000 });

let scratch: string;
let image: string;
let history: string;
let model: string;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-viz-cli-'));
  image = path.join(scratch, 'front.jpg');
  // A nuScenes-sized frame: the default calibration applies unscaled.
  await sharp({ create: { width: 1600, height: 900, channels: 3, background: { r: 90, g: 90, b: 95 } } }).jpeg().toFile(image);
  history = path.join(scratch, 'history.json');
  writeFileSync(
    history,
    JSON.stringify([
      { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
      { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
      { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
    ]),
  );
  model = await testModel('tiny', 'awq');
});

describe('trt-vla plan --viz', () => {
  it('writes an SVG with the camera image and both panels when the file ends in .svg, projecting with --calibration', async () => {
    const calibration = path.join(scratch, 'calib.json');
    writeFileSync(calibration, JSON.stringify({ camera2image: { CAM_FRONT: NUSCENES_CAM_FRONT.camera2image }, camera2ego: { CAM_FRONT: NUSCENES_CAM_FRONT.camera2ego }, imageSize: [1600, 900] }));
    const out = path.join(scratch, 'plan.svg');
    const r = runStatus(['plan', '--model', model, '--image', image, '--history', history, '--viz', out, '--calibration', calibration]);
    expect(r.status, r.stderr).toBe(0);
    const svg = readFileSync(out, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain(`calibration ${calibration}`);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('svg');
    expect([meta.width, meta.height]).toEqual([Math.round((1600 * 640) / 900) + 480, 640]);
  });

  it('writes a JPEG for .jpg with the default nuScenes calibration', async () => {
    const out = path.join(scratch, 'plan.jpg');
    const r = runStatus(['plan', '--model', model, '--image', image, '--history', history, '--viz', out]);
    expect(r.status, r.stderr).toBe(0);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.height).toBe(640);
  });

  it('a bad --viz extension or --calibration is a usage error before the model loads', () => {
    const bad = path.join(scratch, 'bad.json');
    writeFileSync(bad, JSON.stringify({ camera2image: [[1, 0, 0]], camera2ego: NUSCENES_CAM_FRONT.camera2ego }));
    const base = ['plan', '--model', model, '--image', image, '--history', history];
    for (const [args, problem] of [
      [['--viz', path.join(scratch, 'plan.gif')], /^trt-vla plan: --viz .*plan\.gif: the extension names no picture format \(use \.png, \.jpg, \.jpeg, \.webp, \.svg\)$/],
      [['--viz', path.join(scratch, 'p.png'), '--calibration', bad], /^trt-vla plan: --calibration .*bad\.json: camera2image \(camera_intrinsic\) is not a 3x3 matrix/],
      [['--viz', path.join(scratch, 'p.png'), '--calibration', path.join(scratch, 'missing.json')], /^trt-vla plan: --calibration .*missing\.json: no such file/],
      [['--calibration', bad], /^trt-vla plan: --calibration only applies with --viz$/],
    ] as const) {
      const started = performance.now();
      const r = runStatus([...base, ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(problem);
      expect(r.stderr).toMatch(/^Usage: trt-vla plan --model DIR/m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  });
});
