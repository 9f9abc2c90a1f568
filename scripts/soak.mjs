#!/usr/bin/env node
// Soak: many plans on the tiny demo model, looking for what a short test cannot see: memory that grows
// with every plan, an event loop that stalls, an abort or a stream that leaves something behind.
//
//   npm run soak -- [--plans 2000] [--model DIR] [--warmup 300] [--max-slope-mb 8]
//
// Two plans are in flight at all times (the model's session pool), frames come from a frame pool and
// are refilled per plan, every 10th plan is streamed (planStream) and every 25th is aborted at a random
// moment. RSS is reported every 100 plans with the worst event-loop gap so far; the run fails when RSS
// grows faster than --max-slope-mb per 1000 plans after the warm-up (a least-squares line through the
// samples), or when a plan fails in any way other than the abort it was given.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadModel, TrtVlaError } = await import(path.join(root, 'dist', 'index.js'));

function parseArgs(argv) {
  const options = { plans: 2000, warmup: 300, maxSlopeMb: 8, model: undefined };
  const number = (flag, value, min) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) usage(`${flag} needs a whole number of at least ${min}, got ${value ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--plans') options.plans = number(flag, argv[++i], 100);
    else if (flag === '--warmup') options.warmup = number(flag, argv[++i], 0);
    else if (flag === '--max-slope-mb') options.maxSlopeMb = number(flag, argv[++i], 0);
    else if (flag === '--model') options.model = argv[++i] ?? usage('--model needs a folder');
    else usage(`unknown argument ${flag}`);
  }
  if (options.warmup + 300 > options.plans) usage('--plans must exceed --warmup by at least 300 to measure a slope');
  return options;
}

function usage(problem) {
  console.error(`soak: ${problem}\nUsage: npm run soak -- [--plans N] [--model DIR] [--warmup N] [--max-slope-mb MB]`);
  process.exit(2);
}

/** The tiny demo model, generated once into the temp folder (as `trt-vla make-model --preset tiny`). */
async function demoModel() {
  const dir = path.join(os.tmpdir(), 'trt-vla-soak-model-tiny-awq-seed7');
  const { existsSync, renameSync, rmSync, writeFileSync } = await import('node:fs');
  if (existsSync(path.join(dir, '.complete'))) return dir;
  const { makeModel } = await import(path.join(root, 'dist', 'model', 'generate.js'));
  const staging = `${dir}.staging-${process.pid}`;
  mkdirSync(path.dirname(dir), { recursive: true });
  await makeModel({ preset: 'tiny', quant: 'awq', out: staging, seed: 7 });
  writeFileSync(path.join(staging, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return dir;
}

const HISTORY = [
  { t: -1.5, x: -6.02, y: 0.11, ax: 0.12, ay: -0.03, vx: 4.01, speed: 4.02, steering: 0.5 },
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const options = parseArgs(process.argv.slice(2));
const dir = options.model ?? (await demoModel());
const model = await loadModel(dir, { concurrency: 2 });
const pool = model.createFramePool({ width: 320, height: 180, format: 'rgb8', size: 4 });
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();

let started = 0;
let finished = 0;
const counts = { planned: 0, streamed: 0, aborted: 0, abortedLate: 0 };
const failures = [];
const samples = [];
const t0 = performance.now();
const mb = (bytes) => bytes / (1024 * 1024);

function fill(frame, seed) {
  const data = frame.data;
  let s = seed >>> 0;
  // A few bands of changing colour: different pixels every plan at a cost small next to the plan.
  for (let i = 0; i < data.length; i += 64) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data.fill(s >>> 24, i, Math.min(i + 64, data.length));
  }
}

async function onePlan(index) {
  const frame = await pool.acquire();
  try {
    fill(frame, index);
    const request = { images: [frame], history: HISTORY };
    const abort = index % 25 === 24 ? new AbortController() : undefined;
    if (abort) setTimeout(() => abort.abort(new Error('soak abort')), Math.floor(Math.random() * 30));
    const signal = abort?.signal;
    try {
      if (index % 10 === 9) {
        let done = false;
        for await (const event of model.planStream({ ...request, signal })) if (event.type === 'done') done = true;
        if (!done) throw new Error('planStream ended without a done event');
        counts.streamed++;
      } else {
        const plan = await model.plan({ ...request, signal });
        if (plan.waypoints === undefined) throw new Error('a plan without waypoints');
        counts.planned++;
      }
      if (abort) counts.abortedLate++; // finished before the abort arrived
    } catch (err) {
      if (abort && err instanceof TrtVlaError && err.code === 'ABORT_ERR') counts.aborted++;
      else throw err;
    }
  } finally {
    frame.release();
  }
}

async function worker() {
  while (started < options.plans) {
    const index = started++;
    try {
      await onePlan(index);
    } catch (err) {
      failures.push(`plan ${index}: ${err instanceof Error ? `${err.name} ${err.code ?? ''} ${err.message}` : String(err)}`);
      if (failures.length > 10) throw new Error(`soak: too many failures:\n${failures.join('\n')}`);
    }
    finished++;
    if (finished % 100 === 0) {
      const rss = mb(process.memoryUsage().rss);
      const heap = mb(process.memoryUsage().heapUsed);
      samples.push({ x: finished, y: rss });
      const seconds = (performance.now() - t0) / 1000;
      console.log(
        `plans ${String(finished).padStart(5)}  rss ${rss.toFixed(1).padStart(7)} MB  heap ${heap.toFixed(1).padStart(6)} MB  ` +
          `${(finished / seconds).toFixed(1).padStart(5)} plans/s  worst event-loop gap ${(loop.max / 1e6).toFixed(1)} ms`,
      );
    }
  }
}

await Promise.all([worker(), worker()]);
loop.disable();
await model.dispose();

const measured = samples.filter((s) => s.x > options.warmup);
const perThousand = slope(measured) * 1000;
const seconds = (performance.now() - t0) / 1000;
console.log('');
console.log(`soak: ${finished} plans in ${seconds.toFixed(0)} s (${counts.planned} planned, ${counts.streamed} streamed, ${counts.aborted} aborted, ${counts.abortedLate} finished before their abort)`);
console.log(`soak: RSS ${samples[0]?.y.toFixed(1)} MB at 100 plans, ${samples.at(-1)?.y.toFixed(1)} MB at ${finished}; slope after ${options.warmup} plans ${perThousand.toFixed(2)} MB per 1000 plans (limit ${options.maxSlopeMb})`);
console.log(`soak: worst event-loop gap ${(loop.max / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms`);
let ok = true;
if (failures.length > 0) {
  console.error(`soak: FAILED: ${failures.length} plan(s) failed:\n${failures.join('\n')}`);
  ok = false;
}
if (perThousand > options.maxSlopeMb) {
  console.error(`soak: FAILED: RSS grows ${perThousand.toFixed(2)} MB per 1000 plans after warm-up (limit ${options.maxSlopeMb})`);
  ok = false;
}
process.exit(ok ? 0 : 1);
