// Parity between two models of one checkpoint (lib/model/parity.ts, `trt-vla parity`), CPU against CPU:
// the tiny fp16 model against its int4 (AWQ-packed, round-to-nearest) quantization, a model against
// itself, and the fp16 model through the device pipeline (CUDA kernels between the engine calls, what
// the TensorRT backend runs) against the host pipeline, where a CUDA device (or the emulator of
// `npm run test:cuda-emulated`) is present.
//
// Tolerances, measured on these random-weight models (relative error = ||a - b||₂ / ||b||₂):
//   int4 vs fp16 decoder: vision exactly equal (the same fp16 vision tower). Logits rel 0.10-0.38 per
//   position (max-abs ~0.97), bound 0.5: the tiny model has one 128-wide quantization group per weight
//   row, so round-to-nearest int4 moves each weight by ~11% of its spread, and random weights have no
//   margin between the top logits (top-1 agreement measured 83% of prompt positions, 38% of steps;
//   asserted only to be consistent with where the greedy sequences split).
//   a model vs itself, and device vs host pipeline under the emulator: exactly equal.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FrameBuffer, info, loadModel, type LoadModelOptions, type Model, type ParityReport, runParity } from '../../lib/index.js';
import { native, packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const hasDevice = (await info()).backends.cuda.available;
const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
const TEXT = 'Describe the road ahead. <image> What should the car do?';
const LOAD: LoadModelOptions = { backend: 'cpu', threads: 2, maxKvCapacity: 256 };

/** The fp16 model's decoder quantized to int4 (what `trt-vla quantize` does), everything else shared. */
async function quantizedCopy(fp16: string, scratch: string): Promise<string> {
  const dir = path.join(scratch, 'tiny-int4');
  cpSync(fp16, dir, { recursive: true });
  await native().quantizeCheckpoint([path.join(fp16, 'llm', 'model.safetensors')], path.join(dir, 'llm', 'model.safetensors'));
  const configFile = path.join(dir, 'llm', 'config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  config.quantization_config = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm' };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return dir;
}

function fill(frame: FrameBuffer, seed: number): FrameBuffer {
  let s = seed;
  for (let i = 0; i < frame.data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    frame.data[i] = s >>> 24;
  }
  return frame;
}

/** What every report must satisfy, whatever the numbers. */
function checkConsistent(r: ParityReport, steps: number): void {
  expect(r.steps.length).toBeGreaterThan(0);
  expect(r.steps.length).toBeLessThanOrEqual(steps);
  expect(r.prompt.at(-1)!.position).toBe(r.promptTokens - 1);
  // Step 0 is chosen from the last prompt position's logits: the same comparison.
  expect(r.steps[0]!.maxAbs).toBe(r.prompt.at(-1)!.maxAbs);
  for (const s of r.steps) expect(s.token).toBe(s.candidateTop1); // the candidate runs greedily
  const split = r.steps.findIndex((s) => !s.top1Agrees);
  expect(r.splitAt).toBe(split < 0 ? null : split);
  expect(r.summary.prompt.maxAbs).toBe(Math.max(...r.prompt.map((p) => p.maxAbs)));
}

describe('parity, CPU against CPU (tiny)', { timeout: 180_000 }, () => {
  let scratch: string;
  let fp16Dir: string;
  let int4Dir: string;
  let fp16: Model;
  let int4: Model;
  let frame: FrameBuffer;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-parity-'));
    fp16Dir = await testModel('tiny', 'fp16');
    int4Dir = await quantizedCopy(fp16Dir, scratch);
    fp16 = await loadModel(fp16Dir, LOAD);
    int4 = await loadModel(int4Dir, LOAD);
    frame = fill(fp16.allocFrame({ width: 160, height: 120, format: 'rgb8' }), 3);
  });
  afterAll(async () => {
    await int4?.dispose();
    await fp16?.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('a model is at parity with itself: every stage exactly equal, no split', async () => {
    const r = await runParity(fp16, fp16, { text: TEXT, images: [frame], steps: 6 });
    checkConsistent(r, 6);
    expect(r.vision).toHaveLength(1);
    expect(r.summary.vision).toEqual({ maxAbs: 0, relative: 0 });
    expect(r.summary.prompt).toEqual({ maxAbs: 0, relative: 0, top1Agreement: 1 });
    expect(r.summary.steps).toEqual({ maxAbs: 0, relative: 0, top1Agreement: 1 });
    expect(r.splitAt).toBeNull();
    expect(r.prompt.length).toBe(8);
  });

  it('int4 decoder against fp16: the same vision output, logits within the stated tolerance', async () => {
    const r = await runParity(int4, fp16, { text: TEXT, images: [frame], steps: 8, promptPositions: 6 });
    checkConsistent(r, 8);
    expect(r.candidate).toMatchObject({ dir: int4Dir, backend: 'cpu', pipeline: 'host' });
    expect(r.reference).toMatchObject({ dir: fp16Dir, backend: 'cpu', pipeline: 'host' });
    expect(r.summary.vision).toEqual({ maxAbs: 0, relative: 0 }); // the vision tower is not quantized
    // Int4 weights move the logits, by less than half their norm (see the tolerances above).
    expect(r.summary.prompt.relative).toBeGreaterThan(0);
    expect(r.summary.prompt.relative).toBeLessThan(0.5);
    expect(r.summary.steps!.relative).toBeLessThan(0.5);
  });
});

describe.skipIf(!hasDevice)('parity, device pipeline against host pipeline (tiny fp16)', { timeout: 240_000 }, () => {
  it('the same engines through the CUDA pipeline steps: equal logits and tokens', async () => {
    const dir = await testModel('tiny', 'fp16');
    const host = await loadModel(dir, LOAD);
    const device = await loadModel(dir, { ...LOAD, _testing: { devicePipeline: true } } as LoadModelOptions);
    try {
      const frame = fill(host.allocFrame({ width: 160, height: 120, format: 'rgb8' }), 3);
      const r = await runParity(device, host, { text: TEXT, images: [frame], steps: 4, promptPositions: 4 });
      checkConsistent(r, 4);
      expect(r.candidate.pipeline).toBe('device');
      expect(r.summary.vision).toEqual({ maxAbs: 0, relative: 0 });
      // Exact under the emulator (measured: every stage 0); on a GPU the rope table's cosf / sinf may
      // differ by a few ulp.
      expect(r.summary.prompt.relative).toBeLessThan(1e-4);
      expect(r.summary.steps!.relative).toBeLessThan(1e-4);
      expect(r.splitAt).toBeNull();
    } finally {
      await device.dispose();
      await host.dispose();
    }
  });
});

describe('trt-vla parity', { timeout: 180_000 }, () => {
  let scratch: string;
  let image: string;
  let fp16Dir: string;
  let int4Dir: string;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-parity-cli-'));
    image = path.join(scratch, 'front.png');
    await sharp({ create: { width: 200, height: 120, channels: 3, background: { r: 90, g: 120, b: 60 } } }).png().toFile(image);
    fp16Dir = await testModel('tiny', 'fp16');
    int4Dir = await quantizedCopy(fp16Dir, scratch);
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const run = (args: string[]) => spawnSync(process.execPath, [cli, 'parity', ...args, '--threads', '2'], { encoding: 'utf8' });

  it('prints the per-stage report', () => {
    const out = execFileSync(process.execPath, [cli, 'parity', '--model', int4Dir, '--reference', fp16Dir, '--image', image, '--steps', '4', '--threads', '2'], {
      encoding: 'utf8',
    });
    expect(out).toMatch(/^model {6}.*tiny-int4 \(cpu, host pipeline\)$/m);
    expect(out).toMatch(/^prompt {5}\d+ tokens \(\d+ image\), 8 positions compared, [1-4] greedy steps$/m);
    expect(out).toMatch(/^ {2}vision image 0 +0 +0$/m);
    expect(out.match(/^ {2}prompt pos \d+ /gm)).toHaveLength(8);
    expect(out).toMatch(/^ {2}step 0 +\d\.\d\de[-+]\d+ +\d\.\d\de[-+]\d+ {2}(same|differs: \d+ vs \d+) {2}".*"$/m);
    expect(out).toMatch(/^prompt {5}worst max-abs \S+, rel \S+, top-1 agreement \d+%$/m);
    expect(out).toMatch(/^greedy {5}(the same \d+ tokens|split at step \d+: model \d+ ".*", reference \d+ ".*")$/m);
  });

  it('--json prints the report; --fail-above sets the exit code', () => {
    const json = run(['--model', int4Dir, '--reference', fp16Dir, '--image', image, '--steps', '3', '--positions', '2', '--json', '--fail-above', '0']);
    expect(json.status).toBe(3); // int4 logits differ from fp16's
    const report = JSON.parse(json.stdout) as ParityReport;
    expect(report.prompt).toHaveLength(2);
    expect(report.vision[0]).toMatchObject({ image: 0, maxAbs: 0, relative: 0 });
    expect(report.summary.prompt.relative).toBeGreaterThan(0);
    checkConsistent(report, 3);
    expect(run(['--model', fp16Dir, '--reference', fp16Dir, '--steps', '1', '--positions', '1', '--fail-above', '0']).status).toBe(0);
    const missing = run(['--model', fp16Dir]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ERR_INVALID_ARGUMENT.*--reference/);
  });
});
