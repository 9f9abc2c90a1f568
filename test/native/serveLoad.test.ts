// `trt-vla serve` as a process under load: 200 concurrent /infer calls on loopback against the CLI,
// bounded in count and time. Ends with the queue limit respected, RSS back within 10% of its start,
// no crash, and a graceful SIGTERM that finishes the in-flight plan.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { packageRoot } from '../../lib/native.js';
import { inferBody, ncapCanbus, ncapImages, NeuroNcapClient, pose } from '../helpers/neuroncapClient.js';
import { testModel } from '../helpers/models.js';

const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
const QUEUE = 16;
const BURST = 200;

let child: ChildProcess;
let stderr = '';
let client: NeuroNcapClient;
let exited: Promise<number | null>;

function body(k: number): Record<string, unknown> {
  const x = 2 * k;
  return inferBody({ ego2world: pose(x, 0, 0), canbus: ncapCanbus(x, 0, 0, 4, 0), timestampUs: k * 500_000, images: ncapImages(64, 48, k), width: 64, height: 48 });
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${client.baseUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in /metrics`);
  return Number(m[1]);
}

beforeAll(async () => {
  const model = await testModel();
  child = spawn(process.execPath, [cli, 'serve', '--model', model, '--port', '0', '--threads', '1', '--backend', 'cpu', '--queue', String(QUEUE)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 100_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  client = new NeuroNcapClient(url);
  await client.waitUntilAlive();
}, 120_000);

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

describe('serve under load', () => {
  it(`answers ${BURST} concurrent /infer calls within the queue limit, without growing or crashing`, { timeout: 180_000 }, async () => {
    await client.reset();
    for (let k = 0; k < 10; k++) await client.runModel(body(k)); // warm-up: grammar, allocator, JIT
    const rssStart = await metric('process_resident_memory_bytes');

    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: BURST }, async (_, i) => {
        const r = await fetch(`${client.baseUrl}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body(10 + i)),
          signal: AbortSignal.timeout(120_000),
        });
        const json = (await r.json()) as { trajectory?: number[][]; error?: { code: string } };
        return { status: r.status, retryAfter: r.headers.get('retry-after'), json };
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    expect(ok.length + busy.length).toBe(BURST);
    expect(ok.length).toBeGreaterThanOrEqual(QUEUE);
    for (const a of ok) expect(a.json.trajectory).toHaveLength(6);
    for (const a of busy) {
      expect(a.retryAfter).toBe('1');
      expect(a.json.error?.code).toBe('queue_full');
    }
    expect(await metric('trt_vla_queue_depth_max')).toBeLessThanOrEqual(QUEUE);
    expect(await metric('trt_vla_queue_depth')).toBe(0);
    expect(await metric('trt_vla_requests_rejected_total{reason="queue_full"}')).toBe(busy.length);

    // Memory comes back: RSS within 10% of the warm start (allow the allocator a moment).
    let rssEnd = await metric('process_resident_memory_bytes');
    for (let i = 0; i < 10 && rssEnd > rssStart * 1.1; i++) {
      await new Promise((r) => setTimeout(r, 500));
      rssEnd = await metric('process_resident_memory_bytes');
    }
    console.log(
      `load: ${BURST} concurrent /infer in ${seconds.toFixed(1)} s: ${ok.length} planned, ${busy.length} refused (503, queue ${QUEUE}); ` +
        `RSS ${(rssStart / 2 ** 20).toFixed(0)} → ${(rssEnd / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(rssEnd).toBeLessThanOrEqual(rssStart * 1.1);
    expect(child.exitCode).toBeNull();
    await client.runModel(body(1000)); // still planning
  });

  it('shuts down gracefully on SIGTERM: admitted plans are answered, then the process exits 0', { timeout: 60_000 }, async () => {
    const inflight = Array.from({ length: 4 }, (_, i) =>
      client.post('/infer', body(2000 + i)).then(
        async (r) => ({ status: r.status, json: (await r.json()) as { trajectory?: number[][] } }),
        () => ({ status: 0, json: {} as { trajectory?: number[][] } }),
      ),
    );
    let admitted = 0;
    const deadline = Date.now() + 20_000;
    while (admitted < 2 && Date.now() < deadline) admitted = await metric('trt_vla_queue_depth');
    expect(admitted, 'two of the four plans admitted at once').toBeGreaterThanOrEqual(2);
    child.kill('SIGTERM');
    const answers = await Promise.all(inflight);
    const ok = answers.filter((a) => a.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(admitted);
    for (const a of ok) expect(a.json.trajectory).toHaveLength(6);
    expect(await exited).toBe(0);
    expect(stderr).toContain('SIGTERM: finishing in-flight requests');
    expect(stderr).toContain('trt-vla serve: stopped');
    await expect(fetch(`${client.baseUrl}/alive`)).rejects.toThrow();
  });
});
