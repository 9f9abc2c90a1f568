// The verify call of speculative decoding on the CPU LLM engine: an EAGLE-base interface's tree step
// (profile 1, S tokens after the committed KV, one attention_pos_id per token, a packed attention_mask,
// last_token_ids [1, n], logits [1, n, V]) bound exactly as Edge-LLM 0.6.1 binds eagle_base.engine
// (cpp/runtime/llmEngineRunner.cpp:1500-1664; mask packing cpp/kernels/speculative/eagleUtilKernels.cu:
// 100-113; the plugin's mode rule cpp/plugins/attentionPlugin/attentionPlugin.cpp:112-146). Each row's logits
// must be those of decoding the chain token by token - bit for bit, since speculative greedy output must be
// identical to plain greedy output - and the call must not disturb the committed cache.
import { beforeAll, describe, expect, it } from 'vitest';

import { embedTokens, LlmSession, loadLlm, type NativeEngine, textDims, type TextDims } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
import { expectCode } from '../helpers/planInputs.js';

const PROMPT = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 785, 3974, 13876];
const CHAIN = [58, 16, 13, 17, 18, 11, 220, 15];
const VERIFY = 8;

/** Bit-for-bit equality of two typed arrays (toEqual walks 151,936 logits element by element: slow). */
function expectSameBits(actual: ArrayBufferView, expected: ArrayBufferView): void {
  const bytes = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  expect(bytes(actual).equals(bytes(expected)), 'the arrays differ').toBe(true);
}

describe.each(['awq', 'fp16'] as const)('CPU LLM engine verify call (tiny, %s)', (quant) => {
  let dir: string;
  let dims: TextDims;
  let engine: NativeEngine;
  const capacity = 64;

  beforeAll(async () => {
    dir = await testModel('tiny', quant);
    dims = textDims(dir);
    engine = await loadLlm(dir, { maxKvCapacity: capacity, maxInputLength: capacity, maxBatch: 1, maxVerifyTreeSize: VERIFY, lmHead: 'auto' });
  });

  const row = (logits: Float32Array, i: number) => logits.subarray(i * dims.vocabSize, (i + 1) * dims.vocabSize);
  const prefilled = () => {
    const s = new LlmSession(engine, dims, capacity);
    s.prefill(embedTokens(dir, PROMPT, dims.hiddenSize), PROMPT.length);
    return s;
  };

  it('gives every chain row the logits of decoding the chain token by token, bit for bit, and the same cache', () => {
    const stepwise = prefilled();
    const expected = CHAIN.map((id, i) => stepwise.append(embedTokens(dir, [id], dims.hiddenSize), 1, PROMPT.length + i).slice());
    const verified = prefilled();
    const logits = verified.verify(embedTokens(dir, CHAIN, dims.hiddenSize), CHAIN.length, PROMPT.length);
    expect(logits.length).toBe(CHAIN.length * dims.vocabSize);
    CHAIN.forEach((_, i) => expectSameBits(row(logits, i), expected[i]));
    // K/V of chain token j sit at committed + j, as decode steps put them.
    for (let l = 0; l < dims.layers; l++) expectSameBits(verified.kv[l]!, stepwise.kv[l]!);
  });

  it('computes only the rows last_token_ids selects, in its order', () => {
    const all = prefilled().verify(embedTokens(dir, CHAIN, dims.hiddenSize), CHAIN.length, PROMPT.length);
    const some = prefilled().verify(embedTokens(dir, CHAIN, dims.hiddenSize), CHAIN.length, PROMPT.length, { selected: [7, 2, 3] });
    expect(some.length).toBe(3 * dims.vocabSize);
    expectSameBits(row(some, 0), row(all, 7));
    expectSameBits(row(some, 1), row(all, 2));
    expectSameBits(row(some, 2), row(all, 3));
  });

  it('a rejected draft leaves nothing behind: the next call overwrites its KV slots', () => {
    // Verify [a, b, c, d]; suppose only a, b were accepted: the next chain starts at committed + 2.
    const s = prefilled();
    s.verify(embedTokens(dir, [58, 16, 99, 100], dims.hiddenSize), 4, PROMPT.length);
    const next = s.verify(embedTokens(dir, [13, 17], dims.hiddenSize), 2, PROMPT.length + 2);
    const reference = prefilled();
    const direct = reference.verify(embedTokens(dir, [58, 16, 13, 17], dims.hiddenSize), 4, PROMPT.length);
    expectSameBits(row(next, 0), row(direct, 2));
    expectSameBits(row(next, 1), row(direct, 3));
  });

  it('attends along a tree: a branch gives the logits of its own path', () => {
    // Nodes: 0 root, 1 and 2 children of 0, 3 child of 2 (Edge-LLM's topological order, ancestors first).
    const tree = [58, 16, 17, 18];
    const mask = [
      [true],
      [true, true],
      [true, false, true],
      [true, false, true, true],
    ];
    const logits = prefilled().verify(embedTokens(dir, tree, dims.hiddenSize), tree.length, PROMPT.length, { mask });
    const path = (ids: number[]) => {
      const s = prefilled();
      return ids.map((id, i) => s.append(embedTokens(dir, [id], dims.hiddenSize), 1, PROMPT.length + i).slice());
    };
    const left = path([58, 16]);
    const right = path([58, 17, 18]);
    expectSameBits(row(logits, 1), left[1]!);
    expectSameBits(row(logits, 2), right[1]!);
    expectSameBits(row(logits, 3), right[2]!);
  });

  it('refuses malformed verify calls with clear errors', () => {
    const s = prefilled();
    const h = dims.hiddenSize;
    const embeds = embedTokens(dir, CHAIN, h);
    const positions = CHAIN.map((_, i) => PROMPT.length + i);
    const words = 1;
    const mask = Int32Array.from(CHAIN.map((_, i) => (1 << (i + 1)) - 1));
    const tree = { positions, mask, maskWords: words };
    const all = CHAIN.map((_, i) => i);
    // context_lengths must be committed + S.
    expectCode(() => s.run(embeds, CHAIN.length, [CHAIN.length], [PROMPT.length], all, 1, tree), 'ERR_INVALID_ARGUMENT', /tree decoding: context_lengths/);
    // A selected row outside the chain.
    expectCode(() => s.run(embeds, CHAIN.length, [PROMPT.length + CHAIN.length], [PROMPT.length], [0, CHAIN.length], 1, tree), 'ERR_INVALID_ARGUMENT', /last_token_ids\[0, 1\] = 8/);
    // A position id beyond the rope table.
    const far = { ...tree, positions: positions.map((p, i) => (i === 3 ? capacity : p)) };
    expectCode(() => s.run(embeds, CHAIN.length, [PROMPT.length + CHAIN.length], [PROMPT.length], all, 1, far), 'ERR_INVALID_ARGUMENT', /attention_pos_id\[0, 3\] = 64/);
    // More tokens than the engine verifies: outside profile 1.
    expectCode(() => s.verify(embedTokens(dir, [...CHAIN, 5], h), VERIFY + 1, PROMPT.length), 'ERR_INVALID_ARGUMENT', /outside profile 1/);
    // Several logits rows outside tree decoding (chunked prefill in profile 0 selects one).
    expectCode(() => s.run(embeds, CHAIN.length, [CHAIN.length], [PROMPT.length], [0, 1], 0), 'ERR_INVALID_ARGUMENT', /last_token_ids/);
  });
});

describe('CPU LLM engine without the EAGLE-base interface', () => {
  it('has no verify call: one logits row per sequence', async () => {
    const dir = await testModel('tiny', 'awq');
    const dims = textDims(dir);
    const engine = await loadLlm(dir, { maxKvCapacity: 64, maxInputLength: 64, maxBatch: 1 });
    expect(engine.tensors().some((t) => t.name === 'attention_pos_id')).toBe(false);
    expect(engine.profileShapes('last_token_ids', 1).max).toEqual([1, 1]);
    const s = new LlmSession(engine, dims, 64);
    s.prefill(embedTokens(dir, PROMPT, dims.hiddenSize), PROMPT.length);
    expectCode(() => s.run(embedTokens(dir, [1, 2], dims.hiddenSize), 2, [2], [PROMPT.length], [0, 1], 0), 'ERR_INVALID_ARGUMENT', /last_token_ids/);
  });
});
