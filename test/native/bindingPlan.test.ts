// The binding plan: what the host pipeline gives an engine per phase, recorded on the CPU engines
// (native/engine/recording_engine.h). A TensorRT engine gets exactly these calls, so this is where the
// Edge-LLM runtime rules are checked without a GPU: the prefill profile with a zero-size
// kvcache_start_index bound to a non-null dummy, the decode profile with one token, chunked prefill,
// the KV cache bound at one address as past and present, every tensor bound before each enqueue.
import { beforeAll, describe, expect, it } from 'vitest';

import { allocFrame } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { nativeLoadSpec } from '../../lib/model/modelConfig.js';
import { native, type NativeModel } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';
import { textDims } from '../helpers/engineDriver.js';

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

describe('binding plan (recorded on the CPU engines)', () => {
  let dir: string;
  let handle: NativeModel & { takeBindingLog(): BindingEvent[] };
  let dims: ReturnType<typeof textDims>;
  const CAP = 128;
  const CHUNK = 16;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    const spec = nativeLoadSpec(resolveModelFiles(dir), {
      backend: 'cpu',
      limits: { maxKvCapacity: CAP, maxInputLength: CHUNK, maxImageTokens: 256, maxImageTokensPerImage: 256 },
      regularization: false,
      imagePad: 151655,
      visionStart: 151652,
    });
    handle = (await native().loadModel({ ...spec, testing: { recordBindings: true } })) as typeof handle;
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
