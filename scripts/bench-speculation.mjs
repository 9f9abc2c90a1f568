#!/usr/bin/env node
// Speculation replay: `npm run bench:speculation -- --records FILE.jsonl [--max-draft 5] [--call-ms 14]
// [--extra-row-ms 0.5] [--json]`, or write synthetic records: `-- --generate 200 --seed 16 [--noise 1] [--waypoint-noise 0] --out FILE.jsonl`.
//
// For each record (ego history, answer text) counts the engine calls of the plain, jump-forward and
// jump-forward + kinematic-draft decode loops for a model that writes exactly that answer, and prints
// calls per generated token, draft acceptance per position and a modelled AGX Orin decode time
// (lib/bench/speculationBench.ts). No model runs: it needs only dist/ (npm run build:ts).
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
if (!values.records) {
  console.error('usage: npm run bench:speculation -- --records FILE.jsonl [--max-draft N] [--json]');
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
