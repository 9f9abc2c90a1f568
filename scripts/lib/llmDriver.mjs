// Drives the CPU LLM engine through the addon's test hook on the Edge-LLM tensor contract, exactly as
// the pipeline does (fp16 inputs_embeds, a RoPE cos/sin table, one KV tensor per layer, fp32 logits of
// the last token). Shared by bench-engine.mjs and bench-vs-llama.mjs; benchmarks only, not an API.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeModel } from '../../dist/model/generate.js';
import { native, testingAddon } from '../../dist/native.js';

/** Where the benchmarks keep generated models: ~/.cache/trt-vla/models. */
export const modelCache = path.join(os.homedir(), '.cache', 'trt-vla', 'models');

/** The generated AWQ model of `preset` (e.g. '3b-shape'), generating it on first use. */
export async function ensureModel(preset, { seed = 1, dir = path.join(modelCache, `${preset}-awq-seed${seed}`), log = () => {} } = {}) {
  if (!existsSync(path.join(dir, 'llm', 'config.json'))) {
    log(`generating the ${preset} AWQ model into ${dir} (once)...`);
    mkdirSync(dir, { recursive: true });
    await makeModel({ preset, quant: 'awq', out: dir, seed });
  }
  return dir;
}

/** `count` fp16 values, uniform in +-0.02 (the scale of Qwen's embedding rows), from an LCG seed. */
export function randomHalf(count, seed) {
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

/**
 * Loads the model's LLM into the CPU engine. `maxInputLength`: the longest prefill; `capacity`: KV
 * cache positions. Returns the engine's facts and `step(embeds, count, start)`, which runs one
 * engine call and returns its seconds: `start < 0` is a fresh prefill of `count` tokens, otherwise
 * `count` = 1 token is decoded at position `start`. `lmHead`: the LM head's storage ('auto' | 'fp16' |
 * 'q8', as LoadModelOptions.lmHead).
 */
export async function openCpuLlm({ dir, threads, maxInputLength, capacity, lmHead = 'auto', verifyTokens = 0 }) {
  const testing = testingAddon();
  const llmDir = path.join(dir, 'llm');
  const config = JSON.parse(readFileSync(path.join(llmDir, 'config.json'), 'utf8'));
  const H = config.hidden_size;
  const layers = config.num_hidden_layers;
  const kvHeads = config.num_key_value_heads;
  const headDim = config.head_dim ?? H / config.num_attention_heads;

  const engine = await testing.loadCpuLlmEngine({
    config: JSON.stringify(config),
    configName: 'llm/config.json',
    weightFiles: [path.join(llmDir, 'model.safetensors')],
    embeddingFile: path.join(llmDir, 'embedding.safetensors'),
    limits: { maxBatch: 1, maxInputLength, maxKvCapacity: capacity, maxVerifyTreeSize: verifyTokens },
    threads,
    lmHead,
  });
  const ctx = engine.createContext();

  // A RoPE table of 1-D positions and the KV cache per layer.
  const rope = new Float32Array(capacity * headDim);
  for (let p = 0; p < capacity; p++) {
    for (let i = 0; i < headDim / 2; i++) {
      const angle = p / config.rope_theta ** ((2 * i) / headDim);
      rope[p * headDim + i] = Math.cos(angle);
      rope[p * headDim + headDim / 2 + i] = Math.sin(angle);
    }
  }
  const kv = Array.from({ length: layers }, () => new Uint16Array(2 * kvHeads * capacity * headDim));
  const logits = new Float32Array(config.vocab_size * Math.max(1, verifyTokens));
  const dummy = new Int32Array(1);
  const hiddenStates = verifyTokens > 0 ? new Uint16Array(Math.max(maxInputLength, verifyTokens) * 3 * H) : undefined;

  // The EAGLE-base tensors (verifyTokens > 0): dummies outside a verify call, as Edge-LLM binds them.
  function bindTree(tree, count) {
    if (!hiddenStates) return;
    ctx.setInputShape('attention_mask', tree ? [1, count, tree.words] : [1, 1, 1]);
    ctx.setTensorAddress('attention_mask', tree ? tree.mask : dummy);
    ctx.setInputShape('attention_pos_id', tree ? [1, count] : [1, 1]);
    ctx.setTensorAddress('attention_pos_id', tree ? tree.positions : dummy);
    ctx.setTensorAddress('hidden_states', hiddenStates.subarray(0, count * 3 * H));
  }

  function step(embeds, count, start, tree) {
    const decode = start >= 0 && count === 1;
    ctx.setOptimizationProfile(decode || tree ? 1 : 0);
    ctx.setInputShape('inputs_embeds', [1, count, H]);
    ctx.setTensorAddress('inputs_embeds', embeds);
    ctx.setInputShape('context_lengths', [1]);
    ctx.setTensorAddress('context_lengths', Int32Array.of(decode || tree ? start + count : count));
    const selected = tree ? BigInt64Array.from({ length: count }, (_, i) => BigInt(i)) : BigInt64Array.of(BigInt(count - 1));
    ctx.setInputShape('last_token_ids', [1, selected.length]);
    ctx.setTensorAddress('last_token_ids', selected);
    bindTree(tree, count);
    ctx.setInputShape('kvcache_start_index', start < 0 ? [0] : [1]);
    ctx.setTensorAddress('kvcache_start_index', start < 0 ? dummy : Int32Array.of(start));
    ctx.setInputShape('rope_rotary_cos_sin', [1, capacity, headDim]);
    ctx.setTensorAddress('rope_rotary_cos_sin', rope);
    for (let l = 0; l < layers; l++) {
      ctx.setInputShape(`past_key_values_${l}`, [1, 2, kvHeads, capacity, headDim]);
      ctx.setTensorAddress(`past_key_values_${l}`, kv[l]);
      ctx.setTensorAddress(`present_key_values_${l}`, kv[l]);
    }
    ctx.setTensorAddress('logits', logits.subarray(0, selected.length * config.vocab_size));
    const t0 = process.hrtime.bigint();
    ctx.enqueue();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const v of [logits[0], logits[logits.length - 1]]) if (!Number.isFinite(v)) throw new Error('non-finite logits');
    return seconds;
  }

  // A speculative verify call (needs verifyTokens >= count): `count` tokens after `start` cached ones as
  // a linear chain, logits of every row, as the session binds it (native/vla/session.cc runVerify).
  function verify(embeds, count, start) {
    const words = Math.ceil(count / 32);
    const mask = new Int32Array(count * words);
    for (let i = 0; i < count; i++) for (let j = 0; j <= i; j++) mask[i * words + (j >> 5)] |= 1 << (j & 31);
    const positions = Int32Array.from({ length: count }, (_, i) => start + i);
    return step(embeds, count, start, { mask, positions, words });
  }

  // Only these logits rows from now on (a grammar's allowed tokens); an empty list: all rows again.
  function outputRows(rows) {
    ctx.setOutputRows('logits', Int32Array.from(rows));
  }

  // The greedy next token of the last step's logits, and the seconds it took to find it.
  function greedy() {
    const t0 = process.hrtime.bigint();
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return { token: best, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  }

  return {
    config,
    hidden: H,
    layers,
    /** Weight bytes one decode step streams (int4 + scales + zeros + the LM head as held). */
    weightBytes: engine.weightBytes,
    /** The LM head's storage as loaded: 'q8', 'fp16', ... */
    lmHead: engine.lmHead,
    step,
    verify,
    outputRows,
    greedy,
    dispose: () => engine.dispose(),
  };
}

/** The machine's read bandwidth (GB/s) with `threads`, from the addon's probe: best of `reps`. */
export function readBandwidth(threads, { megabytes = 512, reps = 5 } = {}) {
  const r = testingAddon().readBandwidth({ megabytes, threads, reps });
  return r.bytes / Math.min(...r.seconds) / 1e9;
}
