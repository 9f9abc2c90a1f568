#!/usr/bin/env node
// CPU LLM engine benchmark: `npm run bench:engine [-- --threads N --prefill 128 --decode 32 --rounds 3 --model DIR --json]`.
//
// On the 3b-shape AWQ model (Qwen2.5-VL-3B's decoder dimensions, seeded random int4 weights; generated
// into ~/.cache/trt-vla/models on first use, about 2.5 GB), drives the CPU LLM engine through its tensor
// contract exactly as the pipeline does and reports:
//   prefill tok/s   a fresh prefill of --prefill tokens, divided by its time
//   decode tok/s    one token per step after a --context-token prompt, 1 / median step time
//   weight GB/s     bytes of weights one decode step reads (int4 + scales + zeros + the fp16 LM head)
//                   divided by the step time: the effective weight bandwidth
//   read GB/s       the machine's read bandwidth with the same threads, measured by this run (the
//                   best of a probe before and after), and the decode's share of it
// Absolute numbers on a shared machine are noise; compare numbers of one run.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { makeModel } from '../dist/model/generate.js';
import { native } from '../dist/native.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string' },
    prefill: { type: 'string', default: '128' },
    context: { type: 'string', default: '64' },
    decode: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    model: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const testing = native().testing;
const threads = Number(values.threads ?? os.availableParallelism?.() ?? os.cpus().length);
const prefillTokens = Number(values.prefill);
const contextTokens = Number(values.context);
const decodeSteps = Number(values.decode);
const rounds = Number(values.rounds);
const log = (...args) => {
  if (!values.json) console.log(...args);
};

const dir = values.model ?? path.join(os.homedir(), '.cache', 'trt-vla', 'models', '3b-shape-awq-seed1');
if (!existsSync(path.join(dir, 'llm', 'config.json'))) {
  log(`generating the 3b-shape AWQ model into ${dir} (once; a few minutes)...`);
  mkdirSync(dir, { recursive: true });
  await makeModel({ preset: '3b-shape', quant: 'awq', out: dir, seed: 1 });
}
const llmDir = path.join(dir, 'llm');
const config = JSON.parse(readFileSync(path.join(llmDir, 'config.json'), 'utf8'));
const H = config.hidden_size;
const layers = config.num_hidden_layers;
const kvHeads = config.num_key_value_heads;
const headDim = config.head_dim ?? H / config.num_attention_heads;
const capacity = Math.max(prefillTokens, contextTokens + decodeSteps) + 1;

const engine = await testing.loadCpuLlmEngine({
  config: JSON.stringify(config),
  configName: 'llm/config.json',
  weightFiles: [path.join(llmDir, 'model.safetensors')],
  embeddingFile: path.join(llmDir, 'embedding.safetensors'),
  limits: { maxBatch: 1, maxInputLength: Math.max(prefillTokens, contextTokens), maxKvCapacity: capacity },
  threads,
});
const ctx = engine.createContext();

// Inputs: random fp16 embeddings of a plausible scale (|x| ~ 0.02, like Qwen's embedding rows), a RoPE
// table of 1-D positions, the KV cache per layer.
function randomHalf(count, seed) {
  const out = new Uint16Array(count);
  let s = seed >>> 0;
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f32[0] = ((s >>> 8) / 2 ** 24 - 0.5) * 0.04;
    const x = u32[0];
    // float32 -> float16 by truncation (fine for benchmark inputs)
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    out[i] = exp <= 0 ? sign : sign | (exp << 10) | ((x >>> 13) & 0x3ff);
  }
  return out;
}
const rope = new Float32Array(capacity * headDim);
for (let p = 0; p < capacity; p++) {
  for (let i = 0; i < headDim / 2; i++) {
    const angle = p / 1e6 ** ((2 * i) / headDim);
    rope[p * headDim + i] = Math.cos(angle);
    rope[p * headDim + headDim / 2 + i] = Math.sin(angle);
  }
}
const kv = Array.from({ length: layers }, () => new Uint16Array(2 * kvHeads * capacity * headDim));
const logits = new Float32Array(config.vocab_size);
const dummy = new Int32Array(1);

function step(embeds, count, start) {
  const decode = start >= 0 && count === 1;
  ctx.setOptimizationProfile(decode ? 1 : 0);
  ctx.setInputShape('inputs_embeds', [1, count, H]);
  ctx.setTensorAddress('inputs_embeds', embeds);
  ctx.setInputShape('context_lengths', [1]);
  ctx.setTensorAddress('context_lengths', Int32Array.of(decode ? start + 1 : count));
  ctx.setInputShape('last_token_ids', [1, 1]);
  ctx.setTensorAddress('last_token_ids', BigInt64Array.of(BigInt(count - 1)));
  ctx.setInputShape('kvcache_start_index', start < 0 ? [0] : [1]);
  ctx.setTensorAddress('kvcache_start_index', start < 0 ? dummy : Int32Array.of(start));
  ctx.setInputShape('rope_rotary_cos_sin', [1, capacity, headDim]);
  ctx.setTensorAddress('rope_rotary_cos_sin', rope);
  for (let l = 0; l < layers; l++) {
    ctx.setInputShape(`past_key_values_${l}`, [1, 2, kvHeads, capacity, headDim]);
    ctx.setTensorAddress(`past_key_values_${l}`, kv[l]);
    ctx.setTensorAddress(`present_key_values_${l}`, kv[l]);
  }
  ctx.setTensorAddress('logits', logits);
  const t0 = process.hrtime.bigint();
  ctx.enqueue();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const v of [logits[0], logits[logits.length - 1]]) if (!Number.isFinite(v)) throw new Error('non-finite logits');
  return seconds;
}

function readBandwidth() {
  const r = testing.readBandwidth({ megabytes: 512, threads, reps: 5 });
  return r.bytes / Math.min(...r.seconds) / 1e9;
}

const median = (s) => [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)];
const best = (s) => Math.min(...s);

log(`CPU LLM engine, ${path.basename(dir)}: ${layers} layers, hidden ${H}, ${(engine.weightBytes / 1e9).toFixed(2)} GB of weights per token, ${threads} threads`);
const bwBefore = readBandwidth();
const prefillSeconds = [];
const decodeSeconds = [];
const prefillEmbeds = randomHalf(prefillTokens * H, 1);
const contextEmbeds = randomHalf(contextTokens * H, 2);
const tokenEmbeds = Array.from({ length: decodeSteps }, (_, i) => randomHalf(H, 100 + i));
step(randomHalf(8 * H, 3), 8, -1); // warm-up: first touch of the mapped weights
for (let round = 0; round < rounds; round++) {
  prefillSeconds.push(step(prefillEmbeds, prefillTokens, -1));
  step(contextEmbeds, contextTokens, -1);
  for (let i = 0; i < decodeSteps; i++) decodeSeconds.push(step(tokenEmbeds[i], 1, contextTokens + i));
}
const bwAfter = readBandwidth();
const readGBs = Math.max(bwBefore, bwAfter);

const decodeStep = median(decodeSeconds);
const result = {
  model: path.basename(dir),
  threads,
  weightBytes: engine.weightBytes,
  prefill: { tokens: prefillTokens, tokensPerSecond: prefillTokens / best(prefillSeconds), medianTokensPerSecond: prefillTokens / median(prefillSeconds) },
  decode: {
    contextTokens,
    steps: decodeSeconds.length,
    tokensPerSecond: 1 / decodeStep,
    bestTokensPerSecond: 1 / best(decodeSeconds),
    weightGBs: engine.weightBytes / decodeStep / 1e9,
  },
  readGBs,
  decodeShareOfReadBandwidth: engine.weightBytes / decodeStep / 1e9 / readGBs,
};
engine.dispose();

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x, d = 1) => x.toFixed(d);
  log(`prefill  ${f(result.prefill.tokensPerSecond)} tok/s best, ${f(result.prefill.medianTokensPerSecond)} median (${prefillTokens} tokens, ${rounds} runs)`);
  log(`decode   ${f(result.decode.tokensPerSecond)} tok/s median, ${f(result.decode.bestTokensPerSecond)} best (${result.decode.steps} steps after ${contextTokens} tokens)`);
  log(`weights  ${f(result.decode.weightGBs)} GB/s effective in decode = ${f(result.decodeShareOfReadBandwidth * 100, 0)}% of the ${f(readGBs)} GB/s read bandwidth measured with ${threads} threads`);
}
