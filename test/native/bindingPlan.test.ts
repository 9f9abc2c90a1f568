// The binding plan: what the host pipeline gives an engine per phase, recorded on the CPU engines
// (native/engine/recording_engine.h). A TensorRT engine gets exactly these calls, so this is where the
// Edge-LLM runtime rules are checked without a GPU: the prefill profile with a zero-size
// kvcache_start_index bound to a non-null dummy, the decode profile with one token, chunked prefill,
// the KV cache bound at one address as past and present, every tensor bound before each enqueue.
import { beforeAll, describe, expect, it } from 'vitest';

import { compileAnswerGrammar } from '../../lib/action/grammarCompiler.js';
import { allocFrame } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { nativeLoadSpec } from '../../lib/model/modelConfig.js';
import { native, type NativeModel } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';
import { textDims } from '../helpers/engineDriver.js';
import { qwenTokenizer } from '../helpers/qwen.js';

interface BindingEvent {
  engine: 'llm' | 'visual';
  kind: 'profile' | 'shape' | 'address' | 'outputRows' | 'enqueue';
  name?: string;
  dims?: number[];
  address?: bigint;
  profile?: number;
}

/** One enqueue with the calls before it. */
interface Step {
  engine: string;
  profile: number | undefined;
  shapes: Map<string, number[]>;
  addresses: Map<string, bigint>;
}

function steps(events: BindingEvent[]): Step[] {
  const out: Step[] = [];
  const current = new Map<string, Step>();
  const fresh = (engine: string, profile?: number): Step => ({ engine, profile, shapes: new Map(), addresses: new Map() });
  for (const e of events) {
    const s = current.get(e.engine) ?? fresh(e.engine);
    current.set(e.engine, s);
    if (e.kind === 'profile') s.profile = e.profile;
    if (e.kind === 'shape') s.shapes.set(e.name!, e.dims!);
    if (e.kind === 'address') s.addresses.set(e.name!, e.address!);
    if (e.kind === 'enqueue') {
      out.push(s);
      current.set(e.engine, fresh(e.engine, s.profile));
    }
  }
  return out;
}

const LLM_INPUTS = ['inputs_embeds', 'context_lengths', 'last_token_ids', 'kvcache_start_index', 'rope_rotary_cos_sin'];
// native/vla/session.cc kDecodeStepsBelow: forced runs shorter than this are fed as decode steps.
const DECODE_STEPS_BELOW = 2;

type Handle = NativeModel & { takeBindingLog(): BindingEvent[] };

describe('binding plan (recorded on the CPU engines)', () => {
  let dir: string;
  let handle: Handle;
  let dims: ReturnType<typeof textDims>;
  const CAP = 128;
  const CHUNK = 16;
  const load = async (testing: object, cap = CAP): Promise<Handle> => {
    const spec = nativeLoadSpec(resolveModelFiles(dir), {
      backend: 'cpu',
      limits: { maxKvCapacity: cap, maxInputLength: CHUNK, maxImageTokens: 256, maxImageTokensPerImage: 256 },
      regularization: false,
      imagePad: 151655,
      visionStart: 151652,
    });
    return (await native().loadModel({ ...spec, testing: { recordBindings: true, ...testing } })) as Handle;
  };

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    handle = await load({});
  });

  it('binds the vision engine, then prefills in chunks on profile 0 and decodes on profile 1', async () => {
    const frame = allocFrame({ width: 56, height: 56, format: 'rgb8' });
    const [grid] = handle.imageGrids([{ width: 56, height: 56 }]);
    const imageTokens = (grid![1] * grid![2]) / 4;
    const prompt = [151644, 872, 198, 151652, ...Array<number>(imageTokens).fill(151655), 151653, ...Array.from({ length: 20 }, (_, i) => 100 + i)];
    const session = handle.createSession();
    handle.takeBindingLog();
    const result = await session.generate({ inputIds: Int32Array.from(prompt), images: [frame._native], maxNewTokens: 4, requestId: 1, usePrefixCache: false }, () => {});
    const all = steps(handle.takeBindingLog());
    session.dispose();

    const vision = all.filter((s) => s.engine === 'visual');
    expect(vision).toHaveLength(1);
    expect(vision[0]!.profile).toBe(0);
    expect(vision[0]!.shapes.get('input')).toEqual([grid![1] * grid![2], 1176]);
    for (const name of ['input', 'rotary_pos_emb', 'cu_seqlens', 'max_seqlen_carrier', 'cu_window_seqlens', 'window_index', 'reverse_window_index', 'output']) {
      expect(vision[0]!.addresses.get(name), name).toBeGreaterThan(0n);
    }

    const llm = all.filter((s) => s.engine === 'llm');
    const chunks = Math.ceil(prompt.length / CHUNK);
    expect(llm).toHaveLength(chunks + result.forwardPasses);
    const kvAddresses = new Set<bigint>();
    llm.forEach((step, i) => {
      const prefill = i < chunks;
      const count = prefill ? Math.min(CHUNK, prompt.length - i * CHUNK) : 1;
      expect(step.profile, `step ${i}`).toBe(prefill ? 0 : 1);
      expect(step.shapes.get('inputs_embeds')).toEqual([1, count, dims.hiddenSize]);
      expect(step.shapes.get('context_lengths')).toEqual([1]);
      expect(step.shapes.get('last_token_ids')).toEqual([1, 1]);
      // Fresh prefill: an empty start index, still at a real address; later calls: the committed length.
      expect(step.shapes.get('kvcache_start_index')).toEqual(i === 0 ? [0] : [1]);
      expect(step.shapes.get('rope_rotary_cos_sin')).toEqual([1, CAP, dims.headDim]);
      for (const name of [...LLM_INPUTS, 'logits']) expect(step.addresses.get(name), name).toBeGreaterThan(0n);
      for (let l = 0; l < dims.layers; l++) {
        expect(step.shapes.get(`past_key_values_${l}`)).toEqual([1, 2, dims.kvHeads, CAP, dims.headDim]);
        const past = step.addresses.get(`past_key_values_${l}`)!;
        expect(step.addresses.get(`present_key_values_${l}`)).toBe(past);
        kvAddresses.add(past);
      }
    });
    // One KV buffer per layer, the same in every step.
    expect(kvAddresses.size).toBe(dims.layers);
    // Every decode step reads its token from one fixed buffer, so one CUDA graph serves them all.
    const decodeEmbeds = new Set(llm.filter((s) => s.profile === 1).map((s) => s.addresses.get('inputs_embeds')));
    expect(decodeEmbeds.size).toBe(1);
  });

  it('decodes a one-token last prompt chunk from the same fixed buffer as every decode step', async () => {
    const prompt = Array.from({ length: 2 * CHUNK + 1 }, (_, i) => 100 + i);
    const session = handle.createSession();
    handle.takeBindingLog();
    await session.generate({ inputIds: Int32Array.from(prompt), maxNewTokens: 3, requestId: 3, usePrefixCache: false }, () => {});
    const llm = steps(handle.takeBindingLog()).filter((s) => s.engine === 'llm');
    session.dispose();
    expect(llm.map((s) => s.profile)).toEqual([0, 0, 1, 1, 1]);
    expect(llm[2]!.shapes.get('inputs_embeds')).toEqual([1, 1, dims.hiddenSize]);
    expect(llm[2]!.shapes.get('kvcache_start_index')).toEqual([1]);
    expect(new Set(llm.slice(2).map((s) => s.addresses.get('inputs_embeds'))).size).toBe(1);
    // ... and not a row of the prompt buffer (whose address would differ with every prefix length).
    expect(llm[2]!.addresses.get('inputs_embeds')).not.toBe(llm[0]!.addresses.get('inputs_embeds'));
  });

  it('feeds forced runs shorter than the threshold as decode steps, longer ones in one chunked call, with the same tokens', async () => {
    const grammar = new (native().GrammarHandle)(compileAnswerGrammar(await qwenTokenizer(), { format: 'nuscenes', mode: 'fast' }));
    const prompt = Int32Array.from([151644, 872, 198, ...Array.from({ length: 12 }, (_, i) => 300 + i), 151645, 198, 151644, 77091, 198]);
    const run = async (h: Handle) => {
      const session = h.createSession();
      h.takeBindingLog();
      const r = await session.generate({ inputIds: prompt, maxNewTokens: 120, requestId: 4, usePrefixCache: false, grammar }, () => {});
      const llm = steps(h.takeBindingLog()).filter((s) => s.engine === 'llm');
      session.dispose();
      h.dispose();
      return { tokens: Array.from(r.tokens), forced: r.forcedTokens, afterPrompt: llm.slice(Math.ceil(prompt.length / CHUNK)) };
    };
    const chunked = await run(await load({}, 1024));
    const stepped = await run(await load({ decodeStepsBelow: 1 << 20 }, 1024));
    // A threshold between the two: runs of 2..4 tokens as decode steps, longer ones chunked.
    const mixed = await run(await load({ decodeStepsBelow: 5 }, 1024));
    expect(mixed.tokens).toEqual(chunked.tokens);
    const mixedSizes = mixed.afterPrompt.map((s) => [s.profile, s.shapes.get('inputs_embeds')![1]] as const);
    for (const [profile, tokens] of mixedSizes) expect(profile === 1 ? tokens === 1 : tokens! >= 5, `${profile}:${tokens}`).toBe(true);
    expect(mixed.afterPrompt.length).toBeGreaterThan(chunked.afterPrompt.length);
    expect(chunked.forced).toBeGreaterThan(0);
    // Greedy output does not depend on how forced tokens are fed.
    expect(stepped.tokens).toEqual(chunked.tokens);
    // Default threshold: a call after the prompt is a decode step (profile 1, one token) or a chunked call of
    // at least DECODE_STEPS_BELOW tokens on profile 0; both kinds occur.
    const sizes = chunked.afterPrompt.map((s) => [s.profile, s.shapes.get('inputs_embeds')![1]] as const);
    for (const [profile, tokens] of sizes) expect(profile === 1 ? tokens === 1 : tokens! >= DECODE_STEPS_BELOW, `${profile}:${tokens}`).toBe(true);
    expect(sizes.some(([p]) => p === 0)).toBe(true);
    expect(sizes.filter(([p]) => p === 1).length).toBeGreaterThan(0);
    // Every forced run as decode steps: never a profile switch after the prompt, one embeddings address.
    expect(stepped.afterPrompt.every((s) => s.profile === 1 && s.shapes.get('inputs_embeds')![1] === 1)).toBe(true);
    expect(new Set(stepped.afterPrompt.map((s) => s.addresses.get('inputs_embeds'))).size).toBe(1);
    expect(stepped.afterPrompt.length).toBeGreaterThan(chunked.afterPrompt.length);
  }, 240_000);

  it('binds the EAGLE-base dummies in prefill and a one-token tree in decode on an EAGLE-base engine', async () => {
    const eagle = await load({ eagleBaseVerifyTokens: 6 });
    expect(eagle.describe().maxVerifyTokens).toBe(6);
    expect(handle.describe().maxVerifyTokens).toBe(0);
    const session = eagle.createSession();
    eagle.takeBindingLog();
    const prompt = Array.from({ length: 20 }, (_, i) => 100 + i);
    const r = await session.generate({ inputIds: Int32Array.from(prompt), maxNewTokens: 4, requestId: 5, usePrefixCache: false }, () => {});
    const llm = steps(eagle.takeBindingLog()).filter((s) => s.engine === 'llm');
    session.dispose();
    // The same tokens as the vanilla engine of the same weights.
    const plain = handle.createSession();
    const expected = await plain.generate({ inputIds: Int32Array.from(prompt), maxNewTokens: 4, requestId: 6, usePrefixCache: false }, () => {});
    plain.dispose();
    expect(Array.from(r.tokens)).toEqual(Array.from(expected.tokens));
    expect(llm.map((s) => s.profile)).toEqual([0, 0, 1, 1, 1]);
    const hidden = new Set<bigint>();
    for (const step of llm) {
      // Edge-LLM 0.6.1 llmEngineRunner.cpp:1186-1197: [B, 1, 1] and [B, 1] in prefill.
      expect(step.shapes.get('attention_mask')).toEqual([1, 1, 1]);
      expect(step.shapes.get('attention_pos_id')).toEqual([1, 1]);
      for (const name of ['attention_mask', 'attention_pos_id', 'hidden_states']) expect(step.addresses.get(name), name).toBeGreaterThan(0n);
      hidden.add(step.addresses.get('hidden_states')!);
    }
    // Prefill: the mask and position ids are the zero-size dummy's address (as kvcache_start_index in the
    // fresh prefill); decode: their own buffers.
    expect(llm[0]!.addresses.get('attention_mask')).toBe(llm[0]!.addresses.get('kvcache_start_index'));
    expect(llm[2]!.addresses.get('attention_pos_id')).not.toBe(llm[0]!.addresses.get('attention_pos_id'));
    expect(hidden.size).toBe(1);
    eagle.dispose();
  });

  it('binds a verify call as Edge-LLM binds an EAGLE-base tree step, with fixed addresses per chain length', async () => {
    const eagle = await load({ eagleBaseVerifyTokens: 6 });
    const prompt = Int32Array.from({ length: 20 }, (_, i) => 100 + i);
    const plain = handle.createSession();
    const expected = await plain.generate({ inputIds: prompt, maxNewTokens: 12, requestId: 7, usePrefixCache: false }, () => {});
    plain.dispose();
    const session = eagle.createSession();
    eagle.takeBindingLog();
    // Drafts of the right tokens: every verify call keeps all of them.
    const r = await session.generate(
      { inputIds: prompt, maxNewTokens: 12, requestId: 8, usePrefixCache: false, maxDraft: 4, testingDraftScript: expected.tokens },
      () => {},
    );
    const llm = steps(eagle.takeBindingLog()).filter((s) => s.engine === 'llm');
    session.dispose();
    expect(Array.from(r.tokens)).toEqual(Array.from(expected.tokens));
    const verify = llm.filter((s) => s.shapes.get('attention_pos_id')![1]! > 1);
    expect(verify.length).toBe(r.verifyCalls);
    expect(r.verifyCalls).toBeGreaterThan(0);
    expect(r.acceptedDraftTokens).toBe(r.draftedTokens);
    const hidden = eagle.describe().hiddenSize;
    for (const step of verify) {
      const S = step.shapes.get('inputs_embeds')![1]!;
      // Edge-LLM 0.6.1 llmEngineRunner.cpp:1500-1664: profile 1 (generation), inputs_embeds [B, S, H],
      // attention_pos_id [B, S], the packed mask [B, S, ceil(S / 32)] (eagleUtilKernels.cu:86-98),
      // last_token_ids [B, n] (selected rows), kvcache_start_index [B] (the committed length).
      expect(step.profile).toBe(1);
      expect(S).toBeLessThanOrEqual(6);
      expect(step.shapes.get('inputs_embeds')).toEqual([1, S, hidden]);
      expect(step.shapes.get('attention_pos_id')).toEqual([1, S]);
      expect(step.shapes.get('attention_mask')).toEqual([1, S, Math.ceil(S / 32)]);
      const selected = step.shapes.get('last_token_ids')!;
      expect(selected[0]).toBe(1);
      expect(selected[1]).toBeGreaterThanOrEqual(2);
      expect(selected[1]).toBeLessThanOrEqual(S);
      expect(step.shapes.get('kvcache_start_index')).toEqual([1]);
    }
    // One set of addresses for every verify call: a CUDA graph per chain length serves them all.
    for (const name of ['inputs_embeds', 'attention_mask', 'attention_pos_id', 'last_token_ids', 'logits', 'hidden_states']) {
      expect(new Set(verify.map((s) => s.addresses.get(name))).size, name).toBe(1);
    }
    eagle.dispose();
  });

  it('selects output rows for grammar states with a token list, and clears them otherwise', async () => {
    const session = handle.createSession();
    handle.takeBindingLog();
    await session.generate({ inputIds: Int32Array.from([151644, 872, 198]), maxNewTokens: 2, requestId: 2 }, () => {});
    const rows = handle.takeBindingLog().filter((e) => e.kind === 'outputRows');
    session.dispose();
    // No grammar: every call computes all logits.
    expect(rows.length).toBeGreaterThan(0);
    for (const e of rows) expect(e.dims).toEqual([0]);
  });
});
