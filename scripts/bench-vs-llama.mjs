#!/usr/bin/env node
// Our CPU LLM engine against llama.cpp (as bundled in node-llama-cpp, its prebuilt CPU binary; or, with
// --llama native, a llama.cpp built from source for this machine) on the same decoder shapes with seeded
// random weights:
//
//   npm run bench:vs-llama [-- --shapes tiny,0.5b,3b --threads N --prefill 128 --decode 32 --rounds 3 --lm-head auto|fp16|q8 --llama prebuilt|native --json]
//
// --llama native runs the llama-bench binary of a llama.cpp build named by TRT_VLA_LLAMA_CPP_DIR (its
// build directory, holding bin/llama-bench; building it stays outside this repository). Its source can
// be the one node-llama-cpp ships (`git clone node_modules/node-llama-cpp/llama/gitRelease.bundle
// llama.cpp`) or any checkout of github.com/ggml-org/llama.cpp; e.g.
//   cmake -S llama.cpp -B llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF
//   cmake --build llama.cpp/build --target llama-bench
//   TRT_VLA_LLAMA_CPP_DIR=$PWD/llama.cpp/build npm run bench:vs-llama -- --llama native --shapes 3b --threads 2
// on the same GGUF. Per round it times, in separate llama-bench processes (-r 1, after llama-bench's
// own untimed warm-up run), a prefill of --prefill tokens (-p N -n 0) and --decode single-token steps at
// context depth N (-p 0 -n M -d N), which is what our side times; llama-bench computes the logits but
// picks no token. The report names llama-bench's build commit and number, its CPU and backends.
//
// Per shape, both engines are loaded side by side with the same thread count. Each round runs, on
// each side, a fresh prefill of --prefill tokens (logits of the last token) and then --decode
// single-token steps continuing that sequence; rounds alternate which side goes first. Reported per
// side: prefill tok/s (tokens / prefill time) and decode tok/s (steps / their summed time), best and
// median over rounds, and the ratio ours / llama.cpp of each; plus the weight bytes one decode step
// streams on each side. Absolute numbers on a shared machine are noise; compare the ratios of one run.
//
// Our side: the generated AWQ model of the preset (int4, group 128, fp16 scales and zeros; the tied LM
// head held as LoadModelOptions.lmHead 'auto' makes it: int8 in 32-blocks where the hidden size allows,
// as llama.cpp's Q8_0 / Q6_K head, else fp16) in ~/.cache/trt-vla/models, driven through the tensor contract like bench:engine (random
// fp16 embeddings as input: the embedding lookup is host work outside the engine; the next token is
// picked greedily from the logits, in JS, inside the timed step). llama.cpp's side:
// a qwen2 GGUF with the same shapes written by lib/bench/qwen2Gguf.ts (Q4_0 linear layers, Q6_K or
// Q8_0 tied embedding as llama-quantize would choose, F32 norms and biases; random token ids as input)
// in ~/.cache/trt-vla/models/gguf, evaluated with node-llama-cpp's evaluate() loop (last-token logits
// and a greedy pick of the next token, as ours).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { LlamaLogLevel, getLlama } from 'node-llama-cpp';

import { ggmlTypeName } from '../dist/bench/gguf.js';
import { tokenEmbeddingType, writeQwen2Gguf } from '../dist/bench/qwen2Gguf.js';
import { PRESET_DIMS } from '../dist/model/presets.js';
import { native } from '../dist/native.js';
import { ensureModel, modelCache, openCpuLlm, randomHalf } from './lib/llmDriver.mjs';

const SHAPES = {
  tiny: 'tiny',
  '0.5b': '0.5b-shape',
  '3b': '3b-shape',
};

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: Object.keys(SHAPES).join(',') },
    threads: { type: 'string' },
    prefill: { type: 'string', default: '128' },
    decode: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'lm-head': { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
    llama: { type: 'string', default: 'prebuilt' },
  },
});
if (!['prebuilt', 'native'].includes(values.llama)) throw new Error(`--llama: expected prebuilt or native, got '${values.llama}'`);
const nativeLlama = values.llama === 'native';
const llamaBench = nativeLlama ? findLlamaBench() : undefined;
const shapes = values.shapes.split(',').map((s) => s.trim());
for (const s of shapes) if (!SHAPES[s]) throw new Error(`--shapes: unknown shape '${s}' (expected ${Object.keys(SHAPES).join(', ')})`);
const threads = Number(values.threads ?? os.availableParallelism?.() ?? os.cpus().length);
const N = Number(values.prefill);
const M = Number(values.decode);
const rounds = Number(values.rounds);
const seed = Number(values.seed);
for (const [name, v] of Object.entries({ threads, prefill: N, decode: M, rounds })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer, got ${v}`);
}
const log = (...args) => {
  if (!values.json) console.log(...args);
};

const require = createRequire(import.meta.url);
const median = (s) => [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)];
const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));

// ---- versions and configuration, stated in every output ----
const build = native().buildInfo();
function gitRevision() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: path.dirname(new URL(import.meta.url).pathname), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return build.gitRevision;
  }
}
// The version of an installed package (whose exports may hide its package.json).
function packageVersion(name) {
  let dir = path.dirname(require.resolve(name));
  while (!existsSync(path.join(dir, 'package.json')) || JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
    if (path.dirname(dir) === dir) return 'unknown';
    dir = path.dirname(dir);
  }
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}
// The llama-bench binary of the llama.cpp build in TRT_VLA_LLAMA_CPP_DIR (--llama native).
function findLlamaBench() {
  const dir = process.env.TRT_VLA_LLAMA_CPP_DIR;
  if (!dir) throw new Error('--llama native: set TRT_VLA_LLAMA_CPP_DIR to a llama.cpp build directory (one holding bin/llama-bench)');
  const candidates = [path.join(dir, 'bin', 'llama-bench'), path.join(dir, 'build', 'bin', 'llama-bench'), path.join(dir, 'llama-bench')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`--llama native: no llama-bench in TRT_VLA_LLAMA_CPP_DIR (looked for ${candidates.join(', ')}); build its llama-bench target`);
  return found;
}
// One llama-bench run: the JSON record of its single test (-r 1 repetition).
function runLlamaBench(ggufFile, args) {
  const out = execFileSync(llamaBench, ['-m', ggufFile, '-t', String(threads), '-r', '1', '-o', 'json', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const records = JSON.parse(out);
  if (!Array.isArray(records) || records.length !== 1) throw new Error(`llama-bench ${args.join(' ')}: expected one test record, got ${out.slice(0, 200)}`);
  return records[0];
}

// llama.cpp's log lines that say how it runs (mmap, repacking, flash attention, KV type).
const llamaFacts = new Set();
const llama = nativeLlama ? undefined : await getLlama({
  gpu: false,
  build: 'never', // the prebuilt binary or an error: never a source build
  skipDownload: true,
  maxThreads: threads,
  logLevel: LlamaLogLevel.info,
  logger: (level, message) => {
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`llama.cpp: ${message}`);
    for (const re of [/Flash Attention (enabled|disabled)/, /CPU_REPACK model buffer size = +[\d.]+ MiB/, /K \(\w+\)/, /load_mode = \w+/]) {
      const m = message.match(re);
      if (m) llamaFacts.add(m[0].replace(/ +/g, ' '));
    }
  },
});
const config = {
  threads,
  shapes,
  prefillTokens: N,
  decodeSteps: M,
  rounds,
  seed,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cpus: os.availableParallelism?.() ?? os.cpus().length,
  node: process.version,
  trtVla: { version: build.version, git: gitRevision(), simd: build.simd, compiler: build.compiler },
  nodeLlamaCpp: packageVersion('node-llama-cpp'),
  llamaCpp: nativeLlama
    ? { source: 'native', llamaBench }
    : { source: 'prebuilt', release: llama.llamaCppRelease.release, buildType: llama.buildType, gpu: llama.gpu, systemInfo: llama.systemInfo.trim() },
};
log(`bench:vs-llama  threads ${threads} (both sides), shapes ${shapes.join(',')}, prefill N=${N}, decode M=${M}, ${rounds} rounds alternating`);
const llamaSide = nativeLlama
  ? `llama.cpp built from source: ${llamaBench}`
  : `node-llama-cpp ${config.nodeLlamaCpp}, llama.cpp ${config.llamaCpp.release} (${config.llamaCpp.buildType}, gpu ${config.llamaCpp.gpu})`;
log(`  trt-vla ${config.trtVla.version} @ ${config.trtVla.git} (${config.trtVla.simd}); ${llamaSide}; ${config.cpu}, ${config.cpus} CPUs; node ${process.version}`);

// ---- one shape ----
async function ensureGguf(preset, ourDir) {
  const dir = path.join(modelCache, 'gguf');
  const file = path.join(dir, `qwen2-${preset}-q4_0-seed${seed}.gguf`);
  if (!existsSync(file)) {
    log(`  writing the ${preset} qwen2 GGUF into ${file} (once)...`);
    mkdirSync(dir, { recursive: true });
    const tokenizer = JSON.parse(readFileSync(path.join(ourDir, 'llm', 'tokenizer.json'), 'utf8'));
    await writeQwen2Gguf(file, { dims: PRESET_DIMS[preset].text, tokenizer, seed, name: `trt-vla random qwen2 ${preset}` });
  }
  return file;
}

function randomTokens(count, s) {
  let x = s >>> 0;
  return Array.from({ length: count }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % 151643; // BPE ids (not the special tokens)
  });
}

// Runs one round and adds its CPU share: this process's CPU time / (wall time x threads). Both
// engines run in this process, so a share well below 1 means other processes took the cores (or,
// for short steps, that the engine left them idle between steps).
// llama-bench runs in child processes, whose CPU time this process does not see: its rounds have no share.
async function measured(round, { inProcess = true } = {}) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = await round();
  const wallMicros = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  return { ...result, cpuShare: inProcess ? (cpu.user + cpu.system) / (wallMicros * threads) : null };
}

function summary(s, weightBytes) {
  const prefill = s.map((x) => N / x.prefill);
  const decode = s.map((x) => M / x.decode);
  const shares = s.map((x) => x.cpuShare);
  return {
    prefill: { best: Math.max(...prefill), median: median(prefill), all: prefill },
    decode: { best: Math.max(...decode), median: median(decode), all: decode },
    cpuShare: { min: shares.includes(null) ? null : Math.min(...shares), all: shares },
    weightBytesPerToken: weightBytes,
  };
}

// --llama native: llama.cpp's side is llama-bench on the same GGUF, a prefill and a decode run per round.
async function benchShapeNative({ shape, preset, t, ourDir, ggufFile, loadBefore, ours, oursRound }) {
  let facts;
  const llamaRound = () => {
    const prefill = runLlamaBench(ggufFile, ['-p', String(N), '-n', '0']);
    const decode = runLlamaBench(ggufFile, ['-p', '0', '-n', String(M), '-d', String(N)]);
    facts = prefill;
    return { prefill: prefill.avg_ns / 1e9, decode: decode.avg_ns / 1e9 };
  };
  oursRound(); // warm-up (llama-bench warms up inside each run)
  const samples = { ours: [], llama: [] };
  for (let r = 0; r < rounds; r++) {
    const pair = [
      async () => samples.ours.push(await measured(oursRound)),
      async () => samples.llama.push(await measured(llamaRound, { inProcess: false })),
    ];
    if (r % 2 === 1) pair.reverse();
    for (const run of pair) await run();
  }
  const oursResult = summary(samples.ours, ours.weightBytes);
  const llamaResult = summary(samples.llama, facts.model_size);
  for (const key of ['build_commit', 'build_number', 'cpu_info', 'backends', 'flash_attn', 'type_k', 'n_batch', 'n_ubatch']) {
    llamaFacts.add(`${key} ${facts[key]}`);
  }
  const result = {
    shape,
    preset,
    dims: { hidden: t.hiddenSize, intermediate: t.intermediateSize, layers: t.layers, heads: t.heads, kvHeads: t.kvHeads, headDim: t.headDim, vocab: t.vocabSize },
    ours: { ...oursResult, weights: `AWQ int4 g128 (fp16 scales + zeros), ${ours.lmHead === 'q8' ? 'int8 (32-blocks, fp16 scales)' : ours.lmHead} tied LM head`, model: ourDir },
    llama: { ...llamaResult, weights: `Q4_0 linear layers, ${ggmlTypeName(tokenEmbeddingType(t.hiddenSize))} tied token_embd / LM head`, model: ggufFile, llamaBench, nBatch: facts.n_batch, nUbatch: facts.n_ubatch },
    ratio: {
      prefill: { best: oursResult.prefill.best / llamaResult.prefill.best, median: oursResult.prefill.median / llamaResult.prefill.median },
      decode: { best: oursResult.decode.best / llamaResult.decode.best, median: oursResult.decode.median / llamaResult.decode.median },
    },
    loadAverage: { before: loadBefore, after: load() },
  };
  ours.dispose();
  return result;
}

async function benchShape(shape) {
  const preset = SHAPES[shape];
  const t = PRESET_DIMS[preset].text;
  const ourDir = await ensureModel(preset, { seed, log });
  const ggufFile = await ensureGguf(preset, ourDir);
  const loadBefore = load();

  // Ours.
  const ours = await openCpuLlm({ dir: ourDir, threads, maxInputLength: N, capacity: N + M + 1, lmHead: values['lm-head'] });
  const H = ours.hidden;
  const prefillEmbeds = randomHalf(N * H, 1);
  const stepEmbeds = Array.from({ length: M }, (_, i) => randomHalf(H, 100 + i));
  // Each engine call plus the greedy pick of the next token (what llama.cpp's side does too).
  const oursStep = (embeds, count, start) => ours.step(embeds, count, start) + ours.greedy().seconds;
  const oursRound = () => {
    const prefill = oursStep(prefillEmbeds, N, -1);
    let decode = 0;
    for (let i = 0; i < M; i++) decode += oursStep(stepEmbeds[i], 1, N + i);
    return { prefill, decode };
  };

  if (nativeLlama) return benchShapeNative({ shape, preset, t, ourDir, ggufFile, loadBefore, ours, oursRound });

  // llama.cpp: same context size and a batch that holds the whole prefill (n_ubatch = n_batch).
  const model = await llama.loadModel({ modelPath: ggufFile });
  const context = await model.createContext({ contextSize: N + M + 1, batchSize: N, threads: { ideal: threads, min: threads }, sequences: 1 });
  const sequence = context.getSequence();
  const prompt = randomTokens(N, 1);
  const stepTokens = randomTokens(M, 2);
  // evaluate() is node-llama-cpp's generation loop: it evaluates the given tokens, computes the logits
  // of the last one and picks the next token greedily (temperature 0); a token passed to next()
  // replaces the pick, so both sides decode the same fixed sequence. (It keeps one sampler for the
  // whole sequence; controlledEvaluate() makes one per call, which cost the tiny shape ~2x per step.)
  const llamaRound = async () => {
    await sequence.clearHistory();
    const generator = sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true });
    try {
      let t0 = process.hrtime.bigint();
      let out = await generator.next();
      const prefill = Number(process.hrtime.bigint() - t0) / 1e9;
      let decode = 0;
      for (let i = 0; i < M; i++) {
        if (out.done) throw new Error('llama.cpp stopped generating');
        t0 = process.hrtime.bigint();
        out = await generator.next(stepTokens[i]);
        decode += Number(process.hrtime.bigint() - t0) / 1e9;
      }
      return { prefill, decode };
    } finally {
      await generator.return();
    }
  };

  // Warm-up (first touch of the mapped weights, llama.cpp's graph allocation), then the rounds.
  oursRound();
  await llamaRound();
  const samples = { ours: [], llama: [] };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      samples.ours.push(await measured(oursRound));
      samples.llama.push(await measured(llamaRound));
    } else {
      samples.llama.push(await measured(llamaRound));
      samples.ours.push(await measured(oursRound));
    }
  }
  const oursResult = summary(samples.ours, ours.weightBytes);
  const llamaResult = summary(samples.llama, model.size);
  const result = {
    shape,
    preset,
    dims: { hidden: t.hiddenSize, intermediate: t.intermediateSize, layers: t.layers, heads: t.heads, kvHeads: t.kvHeads, headDim: t.headDim, vocab: t.vocabSize },
    ours: { ...oursResult, weights: `AWQ int4 g128 (fp16 scales + zeros), ${ours.lmHead === 'q8' ? 'int8 (32-blocks, fp16 scales)' : ours.lmHead} tied LM head`, model: ourDir },
    llama: { ...llamaResult, weights: `Q4_0 linear layers, ${ggmlTypeName(tokenEmbeddingType(t.hiddenSize))} tied token_embd / LM head`, model: ggufFile, contextSize: context.contextSize, batchSize: context.batchSize },
    ratio: {
      prefill: { best: oursResult.prefill.best / llamaResult.prefill.best, median: oursResult.prefill.median / llamaResult.prefill.median },
      decode: { best: oursResult.decode.best / llamaResult.decode.best, median: oursResult.decode.median / llamaResult.decode.median },
    },
    loadAverage: { before: loadBefore, after: load() },
  };
  await context.dispose();
  await model.dispose();
  ours.dispose();
  return result;
}

const results = [];
for (const shape of shapes) {
  const r = await benchShape(shape);
  results.push(r);
  const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const d = r.dims;
  log(`\n${r.shape} (${r.preset}: hidden ${d.hidden}, ffn ${d.intermediate}, ${d.layers} layers, ${d.heads}/${d.kvHeads} heads x ${d.headDim}, vocab ${d.vocab})`);
  log(`  side         prefill tok/s best / median   decode tok/s best / median   weights per token`);
  for (const [name, s] of [['ours', r.ours], ['llama.cpp', r.llama]]) {
    log(`  ${name.padEnd(11)}  ${`${f(s.prefill.best)} / ${f(s.prefill.median)}`.padEnd(30)}${`${f(s.decode.best)} / ${f(s.decode.median)}`.padEnd(29)}${(s.weightBytesPerToken / 1e6).toFixed(1)} MB (${s.weights})`);
  }
  log(`  ours/llama   ${`${r.ratio.prefill.best.toFixed(2)}x / ${r.ratio.prefill.median.toFixed(2)}x`.padEnd(30)}${`${r.ratio.decode.best.toFixed(2)}x / ${r.ratio.decode.median.toFixed(2)}x`}`);
  const share = (x) => (x === null ? 'n/a (child process)' : x.toFixed(2));
  log(`  cpu share    ours ${share(r.ours.cpuShare.min)}, llama.cpp ${share(r.llama.cpuShare.min)} (lowest round: CPU time / (wall x threads))`);
  log(`  load average ${r.loadAverage.before.join(' ')} before, ${r.loadAverage.after.join(' ')} after`);
}
config.llamaCpp.facts = [...llamaFacts];
log(`\nllama.cpp: ${config.llamaCpp.facts.join('; ')}`);
await llama?.dispose();

if (values.json) console.log(JSON.stringify({ config, results }, null, 2));
