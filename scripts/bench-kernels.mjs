#!/usr/bin/env node
// Kernel benchmark: `npm run bench:kernels [-- --threads 1,2 --reps 15 --rounds 2 --level best --only q4gemv,lmhead]`.
// --level takes a list (e.g. avx2,avx512): every case then runs at each level, alternating case by case
// like the thread counts, and each level gets its own table plus the ratio of the last level to the first.
//
// Runs the CPU matmul kernels over a ThreadPool on Qwen2.5-VL-3B-shaped matrices (through the addon's
// test hooks, testing.bench*) and reports, per thread count:
//   GB/s    bytes of weights streamed per second (int4 nibbles + fp16 scales + zero points; int8 values +
//           fp16 block scales; fp16 rows)
//   GMAC/s  multiply-accumulates per second
//   %BW     GB/s as a share of the read bandwidth measured by this same run with as many threads
//           (a probe before and after the cases; the higher of the two)
// Times are the best and the median of the repetitions; weights rotate through enough copies to exceed
// the L3 cache (a decode step streams ~2 GB), so GEMV numbers are DRAM numbers. Thread counts alternate
// case by case, and --rounds repeats the whole list (best and median over all rounds), so that a noisy
// neighbour hurts every column alike; compare numbers within one run only.
import { parseArgs } from 'node:util';

import { testingAddon } from '../dist/native.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '1' },
    level: { type: 'string', default: 'best' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const threadCounts = values.threads.split(',').map(Number);
const reps = Number(values.reps);
const levels = values.level.split(',');
const testing = testingAddon(); // the test addon: npm run build:native builds it
const usableLevels = testing.simdLevels();
for (const level of levels) {
  if (level !== 'best' && !usableLevels.includes(level)) {
    console.error(`bench:kernels: level '${level}' is not usable on this CPU / build (usable: ${usableLevels.join(', ')})`);
    process.exit(2);
  }
}

const cases = [
  { id: 'q4gemv', name: 'Q4 GEMV 11008x2048 (gate/up)', kind: 'q4', rows: 11008, cols: 2048, tokens: 1 },
  { id: 'q4gemv', name: 'Q4 GEMV 2048x11008 (down)', kind: 'q4', rows: 2048, cols: 11008, tokens: 1 },
  { id: 'q4gemv', name: 'Q4 GEMV 2048x2048 (q/o)', kind: 'q4', rows: 2048, cols: 2048, tokens: 1 },
  // Speculative verification's few-token calls: the same weights for 2-8 tokens (the cost per call
  // against the GEMV above is what a verify call adds over a decode step).
  ...[2, 4, 6, 8].map((tokens) => ({ id: 'q4few', name: `Q4 ${tokens} tokens 11008x2048 (gate/up)`, kind: 'q4', rows: 11008, cols: 2048, tokens })),
  { id: 'lmhead', name: 'fp16 GEMV 151936x2048 (LM head)', kind: 'dense', type: 'f16', rows: 151936, cols: 2048, tokens: 1, reps: 6 },
  { id: 'lmhead', name: 'Q8 GEMV 151936x2048 (LM head)', kind: 'q8', rows: 151936, cols: 2048, tokens: 1, reps: 6 },
  { id: 'q8gemm', name: 'Q8 GEMM 151936x2048, 4 tokens', kind: 'q8', rows: 151936, cols: 2048, tokens: 4, reps: 3 },
  { id: 'q4gemm', name: 'Q4 GEMM 2048x2048, 64 tokens', kind: 'q4', rows: 2048, cols: 2048, tokens: 64 },
  { id: 'q4gemm', name: 'Q4 GEMM 2048x2048, 256 tokens', kind: 'q4', rows: 2048, cols: 2048, tokens: 256, reps: 5 },
  { id: 'q4gemm', name: 'Q4 GEMM 11008x2048, 64 tokens', kind: 'q4', rows: 11008, cols: 2048, tokens: 64, reps: 5 },
  { id: 'q4gemm', name: 'Q4 GEMM 11008x2048, 256 tokens', kind: 'q4', rows: 11008, cols: 2048, tokens: 256, reps: 3 },
  { id: 'densegemm', name: 'fp16 GEMM 2048x2048, 64 tokens', kind: 'dense', type: 'f16', rows: 2048, cols: 2048, tokens: 64, reps: 5 },
].filter((c) => !values.only || values.only.split(',').includes(c.id));

const best = (s) => Math.min(...s);
const median = (s) => [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)];

function bandwidth(threads) {
  const r = testing.readBandwidth({ megabytes: 512, threads, reps: 5 });
  return r.bytes / best(r.seconds) / 1e9;
}

const readBw = {};
for (const t of threadCounts) readBw[t] = bandwidth(t);

const rounds = Number(values.rounds);
const samples = levels.map(() => cases.map(() => Object.fromEntries(threadCounts.map((t) => [t, { seconds: [], result: undefined }]))));
for (let round = 0; round < rounds; round++) {
  cases.forEach((c, i) => {
    for (const threads of threadCounts) {
      levels.forEach((level, l) => {
        const opts = { rows: c.rows, cols: c.cols, tokens: c.tokens, threads, reps: c.reps ?? reps, level, type: c.type };
        const bench = { q4: testing.benchQ4, q8: testing.benchQ8, dense: testing.benchDense }[c.kind];
        const r = bench(opts);
        samples[l][i][threads].seconds.push(...r.seconds);
        samples[l][i][threads].result = r;
      });
    }
  });
}
const tables = levels.map((level, l) => ({ level, rows: tableRows(samples[l]) }));
function tableRows(levelSamples) {
  return cases.map((c, i) => rowOf(c, levelSamples[i]));
}
function rowOf(c, caseSamples) {
  const row = { case: c.name };
  for (const threads of threadCounts) {
    const { seconds, result } = caseSamples[threads];
    const b = best(seconds);
    row[threads] = {
      ms: b * 1e3,
      medianMs: median(seconds) * 1e3,
      gbs: result.weightBytes / b / 1e9,
      gmacs: result.macs / b / 1e9,
    };
  }
  return row;
}
// The probe again at the end: if it moved, the machine was busy during the run.
const readBwAfter = {};
for (const t of threadCounts) readBwAfter[t] = bandwidth(t);

if (values.json) {
  const out = tables.length === 1 ? { level: tables[0].level, readBw, readBwAfter, rows: tables[0].rows } : { levels, readBw, readBwAfter, tables };
  console.log(JSON.stringify(out, null, 2));
} else {
  for (const { level, rows } of tables) {
    rows.forEach((row, i) => printRow(row, i === 0, level));
    console.log('');
  }
  if (tables.length > 1) printRatios(tables[0], tables[tables.length - 1]);
  for (const t of threadCounts) {
    console.log(`read bandwidth, ${t} thread(s): ${readBw[t].toFixed(1)} GB/s before, ${readBwAfter[t].toFixed(1)} GB/s after`);
  }
}

function printRow(row, first, level) {
  if (first) {
    const bw = threadCounts.map((t) => `${t}T ${Math.max(readBw[t], readBwAfter[t]).toFixed(1)} GB/s`).join(', ');
    console.log(`kernels: level ${level}; ${rounds} round(s); read bandwidth (best of before / after) ${bw}; %BW is against it`);
    console.log(
      ['case'.padEnd(34), ...threadCounts.map((t) => `${t}T: ms (median)     GB/s  %BW  GMAC/s`.padStart(40))].join(''),
    );
  }
  const cells = threadCounts.map((t) => {
    const v = row[t];
    const pct = ((100 * v.gbs) / Math.max(readBw[t], readBwAfter[t])).toFixed(0);
    return `${v.ms.toFixed(2).padStart(9)} (${v.medianMs.toFixed(2).padStart(8)}) ${v.gbs.toFixed(1).padStart(7)} ${pct.padStart(4)} ${v.gmacs.toFixed(1).padStart(7)}`.padStart(40);
  });
  console.log([row.case.padEnd(34), ...cells].join(''));
}

// Best time of the first level over the last's, per case and thread count (> 1: the last is faster).
function printRatios(first, last) {
  console.log(`speed of ${last.level} over ${first.level} (best times)`);
  console.log(['case'.padEnd(34), ...threadCounts.map((t) => `${t}T`.padStart(8))].join(''));
  first.rows.forEach((row, i) => {
    const cells = threadCounts.map((t) => `${(row[t].ms / last.rows[i][t].ms).toFixed(2)}x`.padStart(8));
    console.log([row.case.padEnd(34), ...cells].join(''));
  });
  console.log('');
}
