// `trt-vla serve` as NeuroNCAP's model node, driven the way NeuroNCAP's client drives it
// (test/helpers/neuroncapClient.ts cites the client's source lines it follows).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model } from '../../lib/index.js';
import { createPlannerServer, type InferRecord, type PlannerServer } from '../../lib/serve/index.js';
import { inferBody, ncapCanbus, ncapImages, NeuroNcapClient, pose } from '../helpers/neuroncapClient.js';
import { testModel } from '../helpers/models.js';
import { patternImage, torchSaveUint8 } from '../helpers/torchSave.js';

const W = 48;
const H = 32;
const STEPS = 20;
const DT = 0.5;

let model: Model;
let server: PlannerServer;
let client: NeuroNcapClient;
const records: InferRecord[] = [];

beforeAll(async () => {
  // One CPU thread: the tiny model plans in a few ms, and 2-core CI machines stay responsive.
  model = await loadModel(await testModel(), { backend: 'cpu', threads: 1 });
  server = await createPlannerServer(model, { port: 0, onInfer: (r) => records.push(r), log: () => undefined });
  const { url } = await server.listen();
  client = new NeuroNcapClient(url);
  await client.waitUntilAlive();
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

/** Run 1: straight at 4 m/s heading 30°. Run 2: a left arc, 5 m/s at 0.2 rad/s, from heading -60°. */
function runPose(run: number, k: number): { x: number; y: number; yaw: number; speed: number; yawRate: number } {
  if (run === 0) {
    const yaw = Math.PI / 6;
    return { x: 300 + 4 * DT * k * Math.cos(yaw), y: 1200 + 4 * DT * k * Math.sin(yaw), yaw, speed: 4, yawRate: 0 };
  }
  const v = 5;
  const w = 0.2;
  const r = v / w;
  const yaw0 = -Math.PI / 3;
  const yaw = yaw0 + w * DT * k;
  // Centre of the circle on the left of the start pose.
  const cx = 50 - r * Math.sin(yaw0);
  const cy = 80 + r * Math.cos(yaw0);
  return { x: cx + r * Math.sin(yaw), y: cy - r * Math.cos(yaw), yaw, speed: v, yawRate: w };
}

/** Hand-computed ego-frame position of the pose k steps back (closed forms of the two motions). */
function expectedPast(run: number, stepsBack: number): [number, number] {
  if (run === 0) return [-4 * DT * stepsBack, 0];
  const r = 5 / 0.2;
  const theta = 0.2 * DT * stepsBack;
  return [-r * Math.sin(theta), r * (1 - Math.cos(theta))];
}

describe('NeuroNCAP model node', () => {
  it('answers /alive with true', async () => {
    const r = await fetch(`${client.baseUrl}/alive`);
    expect(r.status).toBe(200);
    expect(await r.json()).toBe(true);
  });

  it('drives two runs of 20 steps: 6-point answers, history in the current ego frame, reset between runs', async () => {
    for (let run = 0; run < 2; run++) {
      expect(await client.reset()).toBe(true);
      const before = records.length;
      for (let k = 0; k < STEPS; k++) {
        const p = runPose(run, k);
        const out = await client.runModel(
          inferBody({
            ego2world: pose(p.x, p.y, p.yaw),
            canbus: ncapCanbus(p.x, p.y, p.yaw, p.speed, p.yawRate, 0.25 * run, -0.5),
            timestampUs: 1_533_000_000_000_000 + run * 100_000_000 + k * 500_000,
            images: ncapImages(W, H, k),
            width: W,
            height: H,
          }),
        );
        expect(out.aux_outputs).toEqual({});
        expect(out.trajectory).toHaveLength(6);
        for (const point of out.trajectory) {
          expect(point).toHaveLength(2);
          expect(point.every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
        }
        const record = records[records.length - 1]!;
        expect(record.failed, record.error).toBe(false);
        expect(record.trajectory).toEqual(out.trajectory);
        // Reset semantics: the first step of each run has no past; then up to 7 entries (3 s).
        const n = Math.min(k + 1, 7);
        expect(record.history.map((e) => e.t)).toEqual(Array.from({ length: n }, (_, i) => -(n - 1 - i) * DT || 0));
        record.history.forEach((entry, i) => {
          const [ex, ey] = expectedPast(run, n - 1 - i);
          expect(entry.x).toBeCloseTo(ex, 6);
          expect(entry.y).toBeCloseTo(ey, 6);
          expect(entry.speed).toBeCloseTo(p.speed, 12);
          expect(entry.ax).toBe(0.25 * run);
          expect(entry.ay).toBe(-0.5);
        });
        // The decoded front frame is CAM_FRONT's pixels (seed step*8 + 0).
        expect(Buffer.from(record.front!.data).equals(Buffer.from(patternImage(W, H, k * 8)))).toBe(true);
      }
      expect(records.length - before).toBe(STEPS);
    }
    // The training prompt prints the straight run's past at exactly -2 m per step (round to 2 decimals).
    const straight = records[6]!.promptText;
    expect(straight).toContain('(t-3.0s) [-12.0, 0.0], Acceleration: X 0.0, Y -0.5 m/s^2, Velocity: 4.0 m/s, Steering angle: 0.0');
    expect(straight).toContain('(t-0.0s) [0.0, 0.0]');
    // The arc: 25·(1 − cos 0.1) = 0.1249 → 0.12 m to the left one step back.
    expect(records[STEPS + 1]!.promptText).toContain('(t-0.5s) [-2.5, 0.12]');
  });

  it('answers malformed requests with 4xx JSON errors and stable codes, and keeps serving', async () => {
    const good = inferBody({ ego2world: pose(0, 0, 0), canbus: ncapCanbus(0, 0, 0, 1, 0), timestampUs: 1, images: ncapImages(W, H, 0), width: W, height: H });
    const cases: [unknown, number, string][] = [
      [{ ...good, images: { CAM_FRONT: Buffer.from('hello').toString('base64') } }, 400, 'invalid_request'],
      [{ ...good, images: { CAM_FRONT_LEFT: (good.images as Record<string, string>).CAM_FRONT_LEFT } }, 400, 'invalid_request'],
      [{ ...good, images: { CAM_FRONT: '***' } }, 400, 'invalid_request'],
      [{ ...good, images: { CAM_FRONT: torchSaveUint8([2, 2, 3], new Uint8Array(11)).toString('base64') } }, 400, 'invalid_request'],
      [{ ...good, canbus: [1, 2, 3] }, 400, 'invalid_request_body'],
      [{ ...good, ego2world: [[1, 0, 0]] }, 400, 'invalid_request_body'],
      [{ ...good, command: 7 }, 400, 'invalid_request_body'],
      [{ ...good, timestamp: '12' }, 400, 'invalid_request_body'],
    ];
    for (const [body, status, code] of cases) {
      const r = await client.post('/infer', body);
      const json = (await r.json()) as { error: { code: string; message: string } };
      expect([r.status, json.error.code], json.error.message).toEqual([status, code]);
    }
    const bad = await fetch(`${client.baseUrl}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"images":' });
    expect([bad.status, ((await bad.json()) as { error: { code: string } }).error.code]).toEqual([400, 'invalid_json']);
    const text = await fetch(`${client.baseUrl}/infer`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect([text.status, ((await text.json()) as { error: { code: string } }).error.code]).toEqual([415, 'unsupported_media_type']);
    const missing = await fetch(`${client.baseUrl}/nope`);
    expect([missing.status, ((await missing.json()) as { error: { code: string } }).error.code]).toEqual([404, 'not_found']);
    // Still serving, and the bad requests did not touch the run's history.
    const before = records.length;
    await client.runModel(good);
    expect(records.length).toBe(before + 1);
    const metrics = await (await fetch(`${client.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^trt_vla_plans_total\{endpoint="infer"\} 41$/m);
    expect(metrics).toMatch(/^trt_vla_requests_rejected_total\{reason="bad_request"\} 4$/m);
    expect(metrics).toMatch(/^trt_vla_stage_seconds_count\{stage="vision",endpoint="infer"\} 41$/m);
    expect(metrics).toMatch(/^trt_vla_queue_depth 0$/m);
  });

  it('honours the body limit (413) and refuses a non-loopback host without a token', async () => {
    const small = await createPlannerServer(model, { port: 0, bodyLimit: 4096, log: () => undefined });
    try {
      const { url } = await small.listen();
      const r = await new NeuroNcapClient(url).post('/infer', inferBody({ ego2world: pose(0, 0, 0), canbus: ncapCanbus(0, 0, 0, 1, 0), timestampUs: 1, images: ncapImages(W, H, 0), width: W, height: H }));
      expect([r.status, ((await r.json()) as { error: { code: string } }).error.code]).toEqual([413, 'body_too_large']);
    } finally {
      await small.close();
    }
    await expect(createPlannerServer(model, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/non-loopback host 0\.0\.0\.0 without a bearer token/);
    const guarded = await createPlannerServer(model, { host: '127.0.0.1', port: 0, token: 's3cret', log: () => undefined });
    try {
      const { url } = await guarded.listen();
      const denied = await fetch(`${url}/alive`);
      expect([denied.status, ((await denied.json()) as { error: { code: string } }).error.code]).toEqual([401, 'unauthorized']);
      expect((await fetch(`${url}/alive`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${url}/alive`, { headers: { authorization: 'Bearer s3cre7' } })).status).toBe(401);
      expect((await fetch(`${url}/alive?token=s3cret`)).status).toBe(200); // the live page's EventSource sends no headers
    } finally {
      await guarded.close();
    }
  });

  it('q7 format: front, front-right and front-left views, the first 6 of 10 waypoints', async () => {
    const seen: InferRecord[] = [];
    const node = await createPlannerServer(model, { port: 0, format: 'q7', onInfer: (r) => seen.push(r), log: () => undefined });
    try {
      const c = new NeuroNcapClient((await node.listen()).url);
      await c.reset();
      for (let k = 0; k < 2; k++) {
        const p = runPose(0, k);
        const out = await c.runModel(
          inferBody({ ego2world: pose(p.x, p.y, p.yaw), canbus: ncapCanbus(p.x, p.y, p.yaw, 4, 0), timestampUs: k * 500_000, images: ncapImages(W, H, k), width: W, height: H }),
        );
        expect(out.trajectory).toHaveLength(6);
        expect(seen[k]!.failed, seen[k]!.error).toBe(false);
      }
      expect(seen[1]!.promptText).toContain('(1) front view (which you should focus on with the most attention) <image>, (2) front right view <image>');
      expect(seen[1]!.promptText).toContain('(t-0.5s) [-2.00, 0.00], Acceleration: X 0.00, Y 0.00 m/s^2, Velocity: X 4.00, Y 0.00 m/s');
      const waypoints = [...seen[1]!.answerText.matchAll(/\[(-?[\d.]+), (-?[\d.]+)\]/g)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(waypoints).toHaveLength(10);
      expect(seen[1]!.trajectory).toEqual(waypoints.slice(0, 6));
      const missing = await c.post('/infer', { ...inferBody({ ego2world: pose(0, 0, 0), canbus: ncapCanbus(0, 0, 0, 1, 0), timestampUs: 1, images: ncapImages(W, H, 0), width: W, height: H }), images: { CAM_FRONT: ncapImages(W, H, 0).CAM_FRONT } });
      expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/CAM_FRONT_RIGHT is missing/);
    } finally {
      await node.close();
    }
  });

  it('impromptu-ncap profile: prompts like Impromptu\'s node, brakes with six zeros when nothing parses', async () => {
    const seen: InferRecord[] = [];
    const node = await createPlannerServer(model, { port: 0, profile: 'impromptu-ncap', onInfer: (r) => seen.push(r), log: () => undefined });
    try {
      const { url } = await node.listen();
      const c = new NeuroNcapClient(url);
      await c.reset();
      for (let k = 0; k < 3; k++) {
        const p = runPose(0, k);
        const out = await c.runModel(
          inferBody({ ego2world: pose(p.x, p.y, p.yaw), canbus: ncapCanbus(p.x, p.y, p.yaw, 4, 0), timestampUs: k * 500_000, images: ncapImages(W, H, k), width: W, height: H }),
        );
        expect(out.trajectory).toHaveLength(6);
        if (seen[k]!.failed) expect(out.trajectory).toEqual(Array.from({ length: 6 }, () => [0, 0]));
      }
      const last = seen[2]!;
      expect(last.promptText).toContain('recorded over the last 1.0 seconds (at 0.5-second intervals).');
      expect(last.promptText).toMatch(
        /\[x, y\]:\.\(t-1\.0s\) \[-4\.0, -?0\.0\], Acceleration: X 0\.00, Y 0\.00 m\/s\^2, Velocity: 4\.00 m\/s , \(t-0\.5s\) \[-2\.0, -?0\.0\], Acceleration: X 0\.00, Y 0\.00 m\/s\^2, Velocity: 4\.00 m\/s , \(t-0\.0s\) \[0\.0, 0\.0\], Acceleration: X 0\.00, Y 0\.00 m\/s\^2, Velocity: 4\.00 m\/s$/,
      );
      expect(last.promptText.endsWith('Velocity: 4.00 m/s')).toBe(true);
      // The random-weight model's free text holds no "[x, y]" pairs (or ids beyond the tokenizer):
      // each failure is answered with zeros, counted and explained.
      const failures = seen.filter((r) => r.failed);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain(`trt_vla_plan_failures_total{endpoint="infer"} ${failures.length}`);
      for (const r of failures) expect(r.error).toMatch(/^ERR_[A-Z_]+: ./);
    } finally {
      await node.close();
    }
  });
});
