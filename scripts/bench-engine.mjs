#!/usr/bin/env node
// CPU LLM engine benchmark: `npm run bench:engine [-- --shape 3b-shape|0.5b-shape --verify 6 --threads N --prefill 128 --decode 32 --rounds 3 --lm-head auto|fp16|q8 --model DIR --json]`.
//
// On the 3b-shape AWQ model (Qwen2.5-VL-3B's decoder dimensions, seeded random int4 weights; generated
// into ~/.cache/trt-vla/models on first use, about 2.5 GB), drives the CPU LLM engine through its tensor
// contract exactly as the pipeline does and reports:
//   prefill tok/s   a fresh prefill of --prefill tokens, divided by its time
//   decode tok/s    one token per step after a --context-token prompt, 1 / median step time
//   weight GB/s     bytes of weights one decode step reads (int4 + scales + zeros + the LM head: int8
//                   by default for an int4 body, fp16 with --lm-head fp16)
//                   divided by the step time: the effective weight bandwidth
//   read GB/s       the machine's read bandwidth with the same threads, probed by this run before and
//                   after every block of 8 decode steps, and the decode's share of it: for each block,
//                   its median step's weight GB/s over the higher of the two probes around it (the
//                   neighbours of a shared machine change the bandwidth from second to second, so a
//                   probe minutes away says little); the median over the blocks
//   verify          speculative decoding's verify call (--verify N tokens, default 6; 0: off) at the same
//                   positions as the decode steps, interleaved with them: its median time over the decode
//                   step's, with every logit and with the few rows a grammar asks for (16 digit-like ids)
// Absolute numbers on a shared machine are noise; compare numbers of one run.
//
// --simd avx2,avx512 compares kernel levels in one run: each round runs this benchmark once per level in
// a child process (TRT_VLA_SIMD=<level>, --rounds 1), alternating the levels, and reports each level's
// best prefill and median decode over the rounds and their ratios to the first level.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { native } from '../dist/native.js';
import { ensureModel, openCpuLlm, randomHalf, readBandwidth as probeReadBandwidth } from './lib/llmDriver.mjs';

const { values } = parseArgs({
  options: {
    threads: { type: 'string' },
    prefill: { type: 'string', default: '128' },
    context: { type: 'string', default: '64' },
    decode: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    model: { type: 'string' },
    shape: { type: 'string', default: '3b-shape' },
    'lm-head': { type: 'string', default: 'auto' },
    verify: { type: 'string', default: '6' },
    json: { type: 'boolean', default: false },
    simd: { type: 'string' },
  },
});
if (values.simd) {
  await compareLevels(values.simd.split(','));
  process.exit(0);
}
const threads = Number(values.threads ?? os.availableParallelism?.() ?? os.cpus().length);
const prefillTokens = Number(values.prefill);
const contextTokens = Number(values.context);
const decodeSteps = Number(values.decode);
const rounds = Number(values.rounds);
const verifyTokens = Number(values.verify);
const log = (...args) => {
  if (!values.json) console.log(...args);
};

const dir = values.model ?? (await ensureModel(values.shape, { log }));
const engine = await openCpuLlm({
  dir,
  threads,
  maxInputLength: Math.max(prefillTokens, contextTokens),
  capacity: Math.max(prefillTokens, contextTokens + decodeSteps + verifyTokens) + 1,
  lmHead: values['lm-head'],
  verifyTokens,
});
const { hidden: H, layers, step } = engine;
const readBandwidth = () => probeReadBandwidth(threads);

const median = (s) => [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)];
const best = (s) => Math.min(...s);

log(`CPU LLM engine, ${path.basename(dir)}: ${layers} layers, hidden ${H}, ${(engine.weightBytes / 1e9).toFixed(2)} GB of weights per token (LM head ${engine.lmHead}), ${threads} threads`);
const probes = [readBandwidth()];
const blockShares = []; // per block of decode steps: weight GB/s of its median step / the higher adjacent probe
const kBlock = 8;
const prefillSeconds = [];
const decodeSeconds = [];
const prefillEmbeds = randomHalf(prefillTokens * H, 1);
const contextEmbeds = randomHalf(contextTokens * H, 2);
const tokenEmbeds = Array.from({ length: decodeSteps }, (_, i) => randomHalf(H, 100 + i));
const chainEmbeds = verifyTokens > 0 ? randomHalf(verifyTokens * H, 7) : undefined;
// A grammar's few rows (the digits and punctuation of a waypoint answer): 16 ids.
const grammarRows = [11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 58, 60, 220, 481];
const verify = { full: [], decodeFull: [], rows: [], decodeRows: [] };
step(randomHalf(8 * H, 3), 8, -1); // warm-up: first touch of the mapped weights
for (let round = 0; round < rounds; round++) {
  prefillSeconds.push(step(prefillEmbeds, prefillTokens, -1));
  step(contextEmbeds, contextTokens, -1);
  let blockStart = decodeSeconds.length;
  for (let i = 0; i < decodeSteps; i++) {
    decodeSeconds.push(step(tokenEmbeds[i], 1, contextTokens + i));
    if (decodeSeconds.length - blockStart === kBlock || i === decodeSteps - 1) {
      const block = decodeSeconds.slice(blockStart);
      probes.push(readBandwidth());
      blockShares.push(engine.weightBytes / median(block) / 1e9 / Math.max(probes.at(-1), probes.at(-2)));
      blockStart = decodeSeconds.length;
    }
    if (!chainEmbeds) continue;
    // The verify call at the next position, then a decode step there again (the pair alternates, so
    // both see the same machine); the same with only the grammar's rows.
    verify.full.push(engine.verify(chainEmbeds, verifyTokens, contextTokens + i + 1));
    verify.decodeFull.push(step(tokenEmbeds[i], 1, contextTokens + i + 1));
    engine.outputRows(grammarRows);
    verify.rows.push(engine.verify(chainEmbeds, verifyTokens, contextTokens + i + 1));
    verify.decodeRows.push(step(tokenEmbeds[i], 1, contextTokens + i + 1));
    engine.outputRows([]);
    step(tokenEmbeds[i], 1, contextTokens + i); // restore this position's cache entry
  }
}
const readGBs = median(probes);

const decodeStep = median(decodeSeconds);
const result = {
  model: path.basename(dir),
  simd: (await native().runtimeInfo()).cpu.simd,
  threads,
  weightBytes: engine.weightBytes,
  lmHead: engine.lmHead,
  prefill: { tokens: prefillTokens, tokensPerSecond: prefillTokens / best(prefillSeconds), medianTokensPerSecond: prefillTokens / median(prefillSeconds) },
  decode: {
    contextTokens,
    steps: decodeSeconds.length,
    tokensPerSecond: 1 / decodeStep,
    bestTokensPerSecond: 1 / best(decodeSeconds),
    weightGBs: engine.weightBytes / decodeStep / 1e9,
  },
  readGBs,
  readGBsRange: [Math.min(...probes), Math.max(...probes)],
  decodeShareOfReadBandwidth: median(blockShares),
  decodeShareRange: [Math.min(...blockShares), Math.max(...blockShares)],
  verify:
    verifyTokens > 0
      ? {
          tokens: verifyTokens,
          allLogits: { verifyMs: median(verify.full) * 1e3, decodeMs: median(verify.decodeFull) * 1e3, ratio: median(verify.full) / median(verify.decodeFull) },
          grammarRows: { rows: grammarRows.length, verifyMs: median(verify.rows) * 1e3, decodeMs: median(verify.decodeRows) * 1e3, ratio: median(verify.rows) / median(verify.decodeRows) },
        }
      : undefined,
};
engine.dispose();

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x, d = 1) => x.toFixed(d);
  log(`kernels  ${result.simd}`);
  log(`prefill  ${f(result.prefill.tokensPerSecond)} tok/s best, ${f(result.prefill.medianTokensPerSecond)} median (${prefillTokens} tokens, ${rounds} runs)`);
  log(`decode   ${f(result.decode.tokensPerSecond)} tok/s median, ${f(result.decode.bestTokensPerSecond)} best (${result.decode.steps} steps after ${contextTokens} tokens)`);
  if (result.verify) {
    const v = result.verify;
    log(`verify   ${v.tokens} tokens in one call = ${f(v.allLogits.ratio, 2)}x a decode step with every logit (${f(v.allLogits.verifyMs, 2)} vs ${f(v.allLogits.decodeMs, 2)} ms), ${f(v.grammarRows.ratio, 2)}x with a grammar's ${v.grammarRows.rows} rows (${f(v.grammarRows.verifyMs, 2)} vs ${f(v.grammarRows.decodeMs, 2)} ms)`);
  }
  const pct = (x) => `${f(x * 100, 0)}%`;
  log(
    `weights  ${f(result.decode.weightGBs)} GB/s effective in decode = ${pct(result.decodeShareOfReadBandwidth)} of the read bandwidth probed around each block of ${kBlock} steps (median of ${blockShares.length} blocks, ${pct(result.decodeShareRange[0])}-${pct(result.decodeShareRange[1])}; probes ${f(result.readGBsRange[0])}-${f(result.readGBsRange[1])} GB/s, median ${f(readGBs)}, ${threads} threads)`,
  );
}

async function compareLevels(levels) {
  const rounds = Number(values.rounds);
  const dir = values.model ?? (await ensureModel(values.shape, { log: console.log }));
  const script = new URL(import.meta.url).pathname;
  const args = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--simd') && all[i - 1] !== '--simd' && !a.startsWith('--rounds') && all[i - 1] !== '--rounds');
  const runs = Object.fromEntries(levels.map((l) => [l, []]));
  for (let round = 0; round < rounds; round++) {
    for (const level of levels) {
      const child = spawnSync(process.execPath, [script, ...args, '--model', dir, '--rounds', '1', '--json'], {
        env: { ...process.env, TRT_VLA_SIMD: level },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (child.status !== 0) throw new Error(`bench-engine (TRT_VLA_SIMD=${level}) failed:\n${child.stderr}`);
      const r = JSON.parse(child.stdout);
      if (r.simd !== level) console.warn(`note: TRT_VLA_SIMD=${level} ran the ${r.simd} kernels`);
      runs[level].push(r);
    }
  }
  const summary = levels.map((level) => {
    const rs = runs[level];
    return {
      level,
      kernels: rs[0].simd,
      prefillTokensPerSecond: Math.max(...rs.map((r) => r.prefill.tokensPerSecond)),
      decodeTokensPerSecond: [...rs.map((r) => r.decode.tokensPerSecond)].sort((a, b) => a - b)[Math.floor(rs.length / 2)],
      decodeShareOfReadBandwidth: Math.max(...rs.map((r) => r.decodeShareOfReadBandwidth)),
    };
  });
  if (values.json) {
    console.log(JSON.stringify({ model: path.basename(dir), rounds, summary, runs }, null, 2));
    return;
  }
  const base = summary[0];
  console.log(`CPU LLM engine, ${path.basename(dir)}, ${rounds} alternating round(s) per level (best prefill, median of the rounds' decode medians)`);
  for (const s of summary) {
    console.log(
      `${s.level.padEnd(8)} (${s.kernels} kernels)  prefill ${s.prefillTokensPerSecond.toFixed(1).padStart(7)} tok/s (${(s.prefillTokensPerSecond / base.prefillTokensPerSecond).toFixed(2)}x)` +
        `  decode ${s.decodeTokensPerSecond.toFixed(1).padStart(6)} tok/s (${(s.decodeTokensPerSecond / base.decodeTokensPerSecond).toFixed(2)}x), ${(s.decodeShareOfReadBandwidth * 100).toFixed(0)}% of read bandwidth`,
    );
  }
}
