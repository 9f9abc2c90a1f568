// The CPU LLM engine honours the Edge-LLM tensor contract and computes the Qwen2 decoder correctly:
// against an independent float64 reference, KV-cached decode vs full recompute, chunked vs one-shot
// prefill, batch vs single, 1 vs N threads, and clean errors for bad bindings.
import { beforeAll, describe, expect, it } from 'vitest';

import {
  argmax,
  embedTokens,
  LlmSession,
  loadLlm,
  type NativeEngine,
  textDims,
  textRopeTable,
  type TextDims,
} from '../helpers/engineDriver.js';
import { expectClose } from '../helpers/kernels.js';
import { testModel } from '../helpers/models.js';
import { referenceDecoderLogits } from '../helpers/qwenReference.js';
import { halfToNumber } from '../helpers/safetensors.js';
import { expectCode } from '../helpers/planInputs.js';

// Token ids of a short prompt ("You are a helpful assistant." style ids; any valid ids will do).
const PROMPT = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 785, 3974, 13876];

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxAbs = 0;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
    maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
  }
  return maxErr / maxAbs;
}

function ropeRows(table: Float32Array, headDim: number, positions: number): Float64Array[] {
  return Array.from({ length: positions }, (_, p) => Float64Array.from(table.subarray(p * headDim, (p + 1) * headDim)));
}

function embedRows(embeds: Uint16Array, hidden: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let t = 0; t < embeds.length / hidden; t++) {
    rows.push(Float64Array.from(embeds.subarray(t * hidden, (t + 1) * hidden), halfToNumber));
  }
  return rows;
}

describe.each(['awq', 'fp16'] as const)('CPU LLM engine (tiny, %s)', (quant) => {
  let dir: string;
  let dims: TextDims;
  let engine: NativeEngine;
  const capacity = 64;

  beforeAll(async () => {
    dir = await testModel('tiny', quant);
    dims = textDims(dir);
    engine = await loadLlm(dir, { maxKvCapacity: capacity, maxInputLength: capacity });
  });

  it('matches an independent float64 reference of the decoder', () => {
    const session = new LlmSession(engine, dims, capacity);
    const embeds = embedTokens(dir, PROMPT, dims.hiddenSize);
    const logits = session.prefill(embeds, PROMPT.length);
    const reference = referenceDecoderLogits(dir, dims, embedRows(embeds, dims.hiddenSize), ropeRows(session.rope, dims.headDim, PROMPT.length));
    // fp32 math vs float64 (and, for int4, int8-quantized activations inside the dot products).
    const tolerance = quant === 'awq' ? 2e-2 : 2e-3;
    expect(maxRelativeError(logits, reference)).toBeLessThan(tolerance);
    expect(argmax(logits)).toBe(argmax(reference));
  });

  it('KV-cached decoding gives the logits of a full recompute, step by step', () => {
    const steps = 6;
    const cached = new LlmSession(engine, dims, capacity);
    let tokens = [...PROMPT];
    let logits = cached.prefill(embedTokens(dir, tokens, dims.hiddenSize), tokens.length);
    for (let step = 0; step < steps; step++) {
      const next = argmax(logits);
      const full = new LlmSession(engine, dims, capacity).prefill(embedTokens(dir, tokens, dims.hiddenSize), tokens.length);
      expect(maxRelativeError(logits, full)).toBeLessThan(1e-4);
      expect(argmax(full)).toBe(next);
      logits = cached.append(embedTokens(dir, [next], dims.hiddenSize), 1, tokens.length);
      tokens = [...tokens, next];
    }
  });

  it('chunked prefill equals one-shot prefill', () => {
    const embeds = embedTokens(dir, PROMPT, dims.hiddenSize);
    const oneShot = new LlmSession(engine, dims, capacity);
    const expected = oneShot.prefill(embeds, PROMPT.length);
    const chunked = new LlmSession(engine, dims, capacity);
    const h = dims.hiddenSize;
    chunked.prefill(embeds.subarray(0, 5 * h), 5);
    chunked.append(embeds.subarray(5 * h, 11 * h), 6, 5);
    const logits = chunked.append(embeds.subarray(11 * h), PROMPT.length - 11, 11);
    expect(maxRelativeError(logits, expected)).toBeLessThan(1e-5);
    // The caches agree too.
    for (let l = 0; l < dims.layers; l++) expect(chunked.kv[l]).toEqual(oneShot.kv[l]);
  });

  it('a batch of two sequences of different lengths equals two single runs', () => {
    const a = PROMPT.slice(0, 9);
    const b = PROMPT;
    const h = dims.hiddenSize;
    const seqLen = b.length;
    const embeds = new Uint16Array(2 * seqLen * h);
    embeds.set(embedTokens(dir, a, h), 0);
    embeds.set(embedTokens(dir, b, h), seqLen * h);
    const batch = new LlmSession(engine, dims, capacity, 2);
    const logits = batch.run(embeds, seqLen, [a.length, b.length], undefined, [a.length - 1, b.length - 1]);
    const single = (ids: number[]) => new LlmSession(engine, dims, capacity).prefill(embedTokens(dir, ids, h), ids.length);
    expect(maxRelativeError(logits.subarray(0, dims.vocabSize), single(a))).toBeLessThan(1e-5);
    expect(maxRelativeError(logits.subarray(dims.vocabSize), single(b))).toBeLessThan(1e-5);
  });

  // 3 threads too: the MLP's 128-column activation groups are then quantized by whichever thread completes
  // them, in orders that 2 threads do not produce (linear.cc forwardSwiGlu).
  it('gives identical greedy output (bit-identical logits) with 1, 2 and 3 threads', async () => {
    const one = await loadLlm(dir, { threads: 1, maxKvCapacity: capacity, maxInputLength: capacity });
    const two = await loadLlm(dir, { threads: 2, maxKvCapacity: capacity, maxInputLength: capacity });
    const three = await loadLlm(dir, { threads: 3, maxKvCapacity: capacity, maxInputLength: capacity });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(three.threads).toBe(3);
    const run = (e: NativeEngine) => {
      const s = new LlmSession(e, dims, capacity);
      let tokens = [...PROMPT];
      let logits = s.prefill(embedTokens(dir, tokens, dims.hiddenSize), tokens.length);
      const all: Float32Array[] = [logits];
      for (let i = 0; i < 5; i++) {
        const next = argmax(logits);
        logits = s.append(embedTokens(dir, [next], dims.hiddenSize), 1, tokens.length);
        tokens = [...tokens, next];
        all.push(logits);
      }
      return { tokens, all };
    };
    const a = run(one);
    for (const other of [run(two), run(three)]) {
      expect(other.tokens).toEqual(a.tokens);
      a.all.forEach((l, i) => expect(other.all[i]).toEqual(l));
    }
    one.dispose();
    two.dispose();
    three.dispose();
  });
});

// The int8 LM head (LmHeadPrecision, llm_engine.h) against the head as stored, on the tiny AWQ model
// (random weights: hidden 128, the full 151,936-token vocabulary, the head tied to the fp16 embedding).
describe('CPU LLM engine int8 LM head', () => {
  let dir: string;
  let dims: TextDims;
  let fp16: NativeEngine;
  let q8: NativeEngine;
  const capacity = 64;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    fp16 = await loadLlm(dir, { maxKvCapacity: capacity, maxInputLength: capacity, lmHead: 'fp16' });
    q8 = await loadLlm(dir, { maxKvCapacity: capacity, maxInputLength: capacity, lmHead: 'auto' });
  });

  it("'auto' picks int8 for an int4 model and the stored head otherwise; weightBytes counts the head in use", async () => {
    expect(fp16.lmHead).toBe('fp16');
    expect(q8.lmHead).toBe('q8');
    // int8 values plus one fp16 scale per 32: 17/16 bytes per weight instead of 2 (151,936 rows are whole tiles).
    const weights = dims.vocabSize * dims.hiddenSize;
    expect(fp16.weightBytes - q8.weightBytes).toBe(2 * weights - (17 / 16) * weights);
    const dense = await testModel('tiny', 'fp16');
    const auto = await loadLlm(dense, { maxKvCapacity: 16, maxInputLength: 16, lmHead: 'auto' });
    const forced = await loadLlm(dense, { maxKvCapacity: 16, maxInputLength: 16, lmHead: 'q8' });
    expect([auto.lmHead, forced.lmHead]).toEqual(['fp16', 'q8']);
    expect(auto.weightBytes - forced.weightBytes).toBe(2 * weights - (17 / 16) * weights);
    auto.dispose();
    forced.dispose();
    await expect(loadLlm(dense, { lmHead: 'q4' as 'q8' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /lmHead must be/ });
  });

  it('keeps every logit close to the fp16 head and agrees on greedy tokens', () => {
    // Each logit is w_r . h with both w_r and h rounded to int8 in blocks of 32: per side a relative
    // NMSE of (d^2 / 12) / E[v^2] ~ 2.3e-5 for Gaussian values (d = max of 32 / 127), 5e-5 for both,
    // i.e. an error of ~0.7% of the logits' RMS. Bounds: NMSE 2e-4 over the vocabulary, and the largest
    // error below 3% of the largest logit (the largest of 151,936 errors is ~5 of their sigmas, the
    // largest logit ~5 of the logits' sigmas, so ~0.7% expected). Both heads see the same tokens (the
    // fp16 head's greedy ones), so a step compares the heads, not two diverged continuations; the
    // greedy token must agree wherever the fp16 head's top two are further apart than that 3% bound
    // (random weights make near-ties: 0.24% apart at one step of this model).
    const run = (engine: NativeEngine, forced?: number[]) => {
      const session = new LlmSession(engine, dims, capacity);
      let tokens = [...PROMPT];
      let logits = session.prefill(embedTokens(dir, tokens, dims.hiddenSize), tokens.length);
      const all = [logits];
      for (let step = 0; step < 8; step++) {
        const next = forced ? forced[PROMPT.length + step]! : argmax(logits);
        logits = session.append(embedTokens(dir, [next], dims.hiddenSize), 1, tokens.length);
        tokens = [...tokens, next];
        all.push(logits);
      }
      return { tokens, all };
    };
    const exact = run(fp16);
    const int8 = run(q8, exact.tokens);
    let decided = 0;
    exact.all.forEach((logits, step) => {
      expectClose(int8.all[step]!, logits, 2e-4, `step ${step}`);
      expect(maxRelativeError(int8.all[step]!, logits), `step ${step}`).toBeLessThan(3e-2);
      const sorted = Float32Array.from(logits).sort().reverse();
      const largest = Math.max(sorted[0]!, -sorted[sorted.length - 1]!);
      if (sorted[0]! - sorted[1]! <= 3e-2 * largest) return;
      decided++;
      expect(argmax(int8.all[step]!), `step ${step}`).toBe(argmax(logits));
    });
    expect(decided, 'steps with a clear greedy token').toBeGreaterThanOrEqual(3);
  });
});

describe('CPU LLM engine contract', () => {
  let dir: string;
  let dims: TextDims;
  let engine: NativeEngine;
  const capacity = 32;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    engine = await loadLlm(dir, { maxKvCapacity: capacity, maxInputLength: 16, maxBatch: 2 });
  });

  it('exposes the Edge-LLM 0.6 I/O tensors', () => {
    const t = Object.fromEntries(engine.tensors().map((x) => [x.name, x]));
    const { hiddenSize: H, kvHeads, headDim: D, vocabSize } = dims;
    expect(t.inputs_embeds).toEqual({ name: 'inputs_embeds', dtype: 'float16', shape: [-1, -1, H], mode: 'input' });
    expect(t.context_lengths).toMatchObject({ dtype: 'int32', shape: [-1], mode: 'input' });
    expect(t.last_token_ids).toMatchObject({ dtype: 'int64', shape: [-1, 1], mode: 'input' });
    expect(t.kvcache_start_index).toMatchObject({ dtype: 'int32', shape: [-1], mode: 'input' });
    // Dim 1 dynamic as in Edge-LLM's export; the profiles pin it to the capacity.
    expect(t.rope_rotary_cos_sin).toMatchObject({ dtype: 'float32', shape: [-1, -1, D], mode: 'input' });
    expect(engine.profileShapes('rope_rotary_cos_sin', 1)).toEqual({ min: [1, capacity, D], opt: [2, capacity, D], max: [2, capacity, D] });
    // Rank 3 [B, num_tokens, V], as Edge-LLM's engines.
    expect(t.logits).toMatchObject({ dtype: 'float32', shape: [-1, -1, vocabSize], mode: 'output' });
    for (let l = 0; l < dims.layers; l++) {
      expect(t[`past_key_values_${l}`]).toMatchObject({ dtype: 'float16', shape: [-1, 2, kvHeads, -1, D], mode: 'input' });
      expect(t[`present_key_values_${l}`]).toMatchObject({ dtype: 'float16', shape: [-1, 2, kvHeads, -1, D], mode: 'output' });
    }
    expect(engine.tensors()).toHaveLength(6 + 2 * dims.layers);
  });

  it('has the prefill and decode profiles of llm_build', () => {
    const H = dims.hiddenSize;
    expect(engine.profileShapes('inputs_embeds', 0)).toEqual({ min: [1, 1, H], opt: [2, 8, H], max: [2, 16, H] });
    expect(engine.profileShapes('inputs_embeds', 1)).toEqual({ min: [1, 1, H], opt: [2, 1, H], max: [2, 1, H] });
    expect(engine.profileShapes('kvcache_start_index', 0)).toEqual({ min: [0], opt: [2], max: [2] });
    expect(engine.profileShapes('kvcache_start_index', 1)).toEqual({ min: [1], opt: [2], max: [2] });
    expect(engine.profileShapes('past_key_values_0', 1)).toEqual({
      min: [1, 2, dims.kvHeads, 0, dims.headDim],
      opt: [2, 2, dims.kvHeads, capacity, dims.headDim],
      max: [2, 2, dims.kvHeads, capacity, dims.headDim],
    });
  });

  it('rejects shapes outside the profile and bad index values', () => {
    const s = new LlmSession(engine, dims, capacity);
    const ctx = s.context;
    const h = dims.hiddenSize;
    ctx.setOptimizationProfile(1);
    expectCode(() => ctx.setInputShape('inputs_embeds', [1, 2, h]), 'ERR_INVALID_ARGUMENT', /outside profile 1/);
    expectCode(() => ctx.setInputShape('inputs_embeds', [1, 2]), 'ERR_INVALID_ARGUMENT', /rank/);
    expectCode(() => ctx.setInputShape('nope', [1]), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.setTensorAddress('logits', new Int32Array(4)), 'ERR_INVALID_ARGUMENT', /float32/);
    const embeds = embedTokens(dir, PROMPT.slice(0, 4), h);
    // last_token_ids beyond the new tokens
    expectCode(() => s.run(embeds, 4, [4], undefined, [4]), 'ERR_INVALID_ARGUMENT', /last_token_ids/);
    // context length larger than S
    expectCode(() => s.run(embeds, 4, [5], undefined, [0]), 'ERR_INVALID_ARGUMENT', /context_lengths/);
    // decode whose context length disagrees with the start index
    s.prefill(embeds, 4);
    expectCode(() => s.run(embeds.subarray(0, h), 1, [7], [4], [0]), 'ERR_INVALID_ARGUMENT', /context_lengths/);
    // writing past the cache capacity
    expectCode(() => s.run(embeds.subarray(0, h), 1, [capacity + 1], [capacity], [0]), 'ERR_INVALID_ARGUMENT', /cache/);
  });

  it('refuses to run with unbound or too small tensors', () => {
    const s = new LlmSession(engine, dims, capacity);
    const embeds = embedTokens(dir, PROMPT.slice(0, 4), dims.hiddenSize);
    s.run(embeds, 4, [4], undefined, [3]);
    // Rebind logits with an array that is too small.
    s.context.setTensorAddress('logits', new Float32Array(10));
    expectCode(() => s.context.enqueue(), 'ERR_INVALID_ARGUMENT', /logits.*needs/);
    const fresh = engine.createContext();
    expectCode(() => fresh.enqueue(), 'ERR_INVALID_ARGUMENT', /no memory|no shape/);
  });

  it('refuses a malformed binding with TrtVlaError before the engine computes anything', () => {
    // Through the JS driver (whose own memory-safety checks come first); the engine-side check shared
    // with TensorRT's enqueueV3 path is driven directly in engineCheck.test.ts (checkBindings).
    const s = new LlmSession(engine, dims, capacity);
    const embeds = embedTokens(dir, PROMPT.slice(0, 4), dims.hiddenSize);
    s.run(embeds, 4, [4], undefined, [3]);
    const kvBefore = s.kv.map((kv) => kv.slice());
    const logits = new Float32Array(dims.vocabSize).fill(Number.NaN);
    const ctx = s.context;
    ctx.setTensorAddress('logits', logits);
    // The prefill's shapes do not carry over into the decode profile.
    ctx.setOptimizationProfile(1);
    expectCode(() => ctx.enqueue(), 'ERR_INVALID_ARGUMENT', /inputs_embeds' has no shape/);
    // A decode step with every shape set but one tensor never given an address.
    const fresh = new LlmSession(engine, dims, capacity);
    const c = fresh.context;
    c.setOptimizationProfile(1);
    c.setInputShape('inputs_embeds', [1, 1, dims.hiddenSize]);
    for (const n of ['context_lengths', 'kvcache_start_index']) c.setInputShape(n, [1]);
    c.setInputShape('last_token_ids', [1, 1]);
    c.setInputShape('rope_rotary_cos_sin', [1, capacity, dims.headDim]);
    for (let l = 0; l < dims.layers; l++) c.setInputShape(`past_key_values_${l}`, [1, 2, dims.kvHeads, capacity, dims.headDim]);
    expectCode(() => c.enqueue(), 'ERR_INVALID_ARGUMENT', /tensor '.*' has no (address|memory)/);
    expect(s.kv).toEqual(kvBefore);
    expect(logits.every((v) => Number.isNaN(v))).toBe(true);
  });

  it('writes K and V into the bound cache at the token positions', () => {
    const s = new LlmSession(engine, dims, capacity);
    const before = s.kv.map((kv) => kv.slice());
    s.prefill(embedTokens(dir, PROMPT.slice(0, 3), dims.hiddenSize), 3);
    const { kvHeads, headDim: D } = dims;
    for (let l = 0; l < dims.layers; l++) {
      for (let half = 0; half < 2; half++) {
        for (let g = 0; g < kvHeads; g++) {
          const base = ((half * kvHeads + g) * capacity) * D;
          const written = s.kv[l]!.subarray(base, base + 3 * D);
          const untouched = s.kv[l]!.subarray(base + 3 * D, base + capacity * D);
          expect(written.some((v) => v !== 0)).toBe(true);
          expect(untouched).toEqual(before[l]!.subarray(base + 3 * D, base + capacity * D));
        }
      }
    }
  });

  it('applies the rope table rows of the token positions', () => {
    const h = dims.hiddenSize;
    const embeds = embedTokens(dir, PROMPT.slice(0, 6), h);
    // Shifting every position by 5 through the table changes the result; equal tables agree.
    const plain = new LlmSession(engine, dims, capacity).prefill(embeds, 6);
    const shifted = new LlmSession(engine, dims, capacity, 1, textRopeTable(capacity, dims.headDim, 1e6, 5)).prefill(embeds, 6);
    expect(maxRelativeError(shifted, plain)).toBeGreaterThan(1e-4);
  });
});
