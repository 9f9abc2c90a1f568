#!/usr/bin/env node
// Speculation replay: `npm run bench:speculation -- --records FILE.jsonl [--max-draft 5] [--call-ms 14]
// [--extra-row-ms 0.5] [--json]`, or write synthetic records: `-- --generate 200 --seed 16 [--noise 1] [--waypoint-noise 0] --out FILE.jsonl`.
//
// For each record (ego history, answer text) counts the engine calls of the plain, jump-forward and
// jump-forward + kinematic-draft decode loops for a model that writes exactly that answer, and prints
// calls per generated token, draft acceptance per position and a modelled AGX Orin decode time
// (lib/bench/speculationBench.ts). No model runs: it needs only dist/ (npm run build:ts).
//
// With `--engine PRESET|DIR [--plans 12] [--threads N]` it also runs the real CPU engine: the model loaded
// twice in one process, speculation off and on (--max-draft), the same plans alternating between the
// two, and reports decode time, engine calls per token and draft acceptance of both, their ratios, and
// that the tokens were identical. Two passes: the random weights as they are (drafts rarely right: this
// measures what verify calls cost), and the same weights with a logit bias (the tests-only hook) towards
// each record's answer, a stand-in for a trained model whose waypoints follow kinematics.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    records: { type: 'string' },
    'max-draft': { type: 'string', default: '5' },
    'call-ms': { type: 'string', default: '14' },
    'extra-row-ms': { type: 'string', default: '0.5' },
    json: { type: 'boolean', default: false },
    generate: { type: 'string' },
    seed: { type: 'string', default: '16' },
    noise: { type: 'string', default: '1' },
    'waypoint-noise': { type: 'string', default: '0' },
    out: { type: 'string' },
    engine: { type: 'string' },
    plans: { type: 'string', default: '12' },
    threads: { type: 'string' },
  },
});

const number = (name) => {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} must be a non-negative number, got ${values[name]}`);
    process.exit(2);
  }
  return v;
};

const records = await import('../dist/bench/drivingRecords.js');

if (values.generate !== undefined) {
  if (!values.out) {
    console.error('--generate needs --out FILE.jsonl');
    process.exit(2);
  }
  const text = records.drivingRecordsJsonl(records.generateDrivingRecords(number('generate'), number('seed'), { noiseScale: number('noise'), waypointNoise: number('waypoint-noise') }));
  writeFileSync(values.out, text);
  console.log(`wrote ${values.out} (${text.length} bytes)`);
  process.exit(0);
}
if (values.engine !== undefined) {
  await engineRun();
  process.exit(0);
}
if (!values.records) {
  console.error('usage: npm run bench:speculation -- --records FILE.jsonl [--max-draft N] [--json] | --engine PRESET|DIR [--plans N]');
  process.exit(2);
}

const { writeQwen25VLTokenizerFiles } = await import('../dist/tokenizer/qwenFiles.js');
const { QwenTokenizer } = await import('../dist/tokenizer/QwenTokenizer.js');
const { runSpeculationReplay, formatSpeculationReport } = await import('../dist/bench/speculationBench.js');

const dir = mkdtempSync(join(tmpdir(), 'trt-vla-speculation-'));
let tokenizer;
try {
  await writeQwen25VLTokenizerFiles(dir);
  tokenizer = await QwenTokenizer.load(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
let report;
try {
  const parsed = records.parseDrivingRecords(readFileSync(values.records, 'utf8'), values.records);
  report = runSpeculationReplay(tokenizer, parsed, {
    maxDraft: number('max-draft'),
    latency: { callMs: number('call-ms'), extraRowMs: number('extra-row-ms') },
  });
} catch (err) {
  console.error(`bench:speculation: ${err.message}`);
  process.exit(1);
}
process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatSpeculationReport(report));

async function engineRun() {
  const { existsSync } = await import('node:fs');
  const { loadModel } = await import('../dist/index.js');
  const { ensureModel } = await import('./lib/llmDriver.mjs');
  const dir = existsSync(values.engine) ? values.engine : await ensureModel(values.engine, { log: (m) => console.error(m) });
  const plans = number('plans');
  const maxDraft = number('max-draft');
  const threads = values.threads === undefined ? undefined : number('threads');
  const recs = values.records
    ? records.parseDrivingRecords(readFileSync(values.records, 'utf8'), values.records).slice(0, plans)
    : records.generateDrivingRecords(plans, number('seed'));
  const off = await loadModel(dir, { speculation: 'off', threads });
  const on = await loadModel(dir, { speculation: { maxDraft }, threads });
  const { encodeAnswer } = await answerEncoder();
  const frame = off.allocFrame({ width: 448, height: 252, format: 'rgb8' });
  for (let i = 0; i < frame.data.length; i++) frame.data[i] = (i * 2654435761) >>> 24;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const out = { model: dir, description: on.description.speculation, threads: on.description.threads, runs: [] };
  console.log(`bench:speculation --engine ${values.engine}: ${recs.length} plans per pass, speculation ${on.description.speculation.reason}, ${on.description.threads} threads`);
  for (const biased of [false, true]) {
    const stats = { off: { decode: [], total: [], passes: 0 }, on: { decode: [], total: [], passes: 0, drafted: 0, accepted: 0 }, tokens: 0, identical: 0 };
    for (const [i, r] of recs.entries()) {
      const request = {
        images: [frame],
        format: r.format,
        history: r.history,
        ...(biased && { _testingBias: { tokens: Int32Array.from(encodeAnswer(r.answer)), value: 8 } }),
      };
      // Alternate which model goes first, so both see the same machine.
      const order = i % 2 === 0 ? [['off', off], ['on', on]] : [['on', on], ['off', off]];
      const results = {};
      for (const [name, model] of order) results[name] = await model.plan(request);
      for (const name of ['off', 'on']) {
        stats[name].decode.push(results[name].timings.decodeMs);
        stats[name].total.push(results[name].timings.totalMs);
        stats[name].passes += results[name].timings.forwardPasses;
      }
      stats.on.drafted += results.on.timings.draftedTokens;
      stats.on.accepted += results.on.timings.acceptedDraftTokens;
      stats.tokens += results.off.tokens.length;
      if (results.off.tokens.join() === results.on.tokens.join()) stats.identical++;
    }
    const run = {
      weights: biased ? 'biased towards the records\' answers' : 'random',
      plans: recs.length,
      identicalTokens: stats.identical,
      decodeMs: { off: median(stats.off.decode), on: median(stats.on.decode), ratio: median(stats.on.decode) / median(stats.off.decode) },
      planMs: { off: median(stats.off.total), on: median(stats.on.total), ratio: median(stats.on.total) / median(stats.off.total) },
      callsPerToken: { off: stats.off.passes / stats.tokens, on: stats.on.passes / stats.tokens },
      draftAcceptance: stats.on.drafted ? stats.on.accepted / stats.on.drafted : 0,
    };
    out.runs.push(run);
    const f = (x, d = 2) => x.toFixed(d);
    console.log(
      `  ${run.weights.padEnd(38)} decode ${f(run.decodeMs.on, 0)} / ${f(run.decodeMs.off, 0)} ms = ${f(run.decodeMs.ratio)}x, ` +
        `plan ${f(run.planMs.on, 0)} / ${f(run.planMs.off, 0)} ms = ${f(run.planMs.ratio)}x (on / off, medians); ` +
        `calls per token ${f(run.callsPerToken.on, 3)} / ${f(run.callsPerToken.off, 3)}; ${f(run.draftAcceptance * 100, 1)}% of drafts accepted; ` +
        `tokens identical in ${run.identicalTokens}/${run.plans}`,
    );
  }
  if (values.json) console.log(JSON.stringify(out, null, 2));
  await off.dispose();
  await on.dispose();
}

// The answer's canonical tokens and the end-of-turn token, with the Qwen tokenizer the package ships.
async function answerEncoder() {
  const { writeQwen25VLTokenizerFiles } = await import('../dist/tokenizer/qwenFiles.js');
  const { QwenTokenizer } = await import('../dist/tokenizer/QwenTokenizer.js');
  const tmp = mkdtempSync(join(tmpdir(), 'trt-vla-speculation-'));
  try {
    await writeQwen25VLTokenizerFiles(tmp);
    const tokenizer = await QwenTokenizer.load(tmp);
    const imEnd = 151645;
    return { encodeAnswer: (text) => [...tokenizer.encode(text), imEnd] };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
