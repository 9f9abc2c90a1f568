// The engine compatibility checks (native/vla/engine_check.cc) that run on every engine at load: the
// interface Edge-LLM 0.6.1's export and builder produce (test/helpers/edgeLlmContract.ts, derived from
// their source line by line) passes, the CPU engines' own interfaces pass (and equal it), and each single
// deviation from it is rejected with a message naming the problem.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { type DescribedTensor, type EngineDescription, llmContract, type VisualBuildFlags, visualContract } from '../helpers/edgeLlmContract.js';
import { engineLoaders, loadLlm, type NativeEngine, textDims } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
import { TrtVlaError } from '../../lib/errors.js';
import { testing } from '../helpers/native.js';

function describeEngine(engine: NativeEngine): EngineDescription {
  const profiles = engine.profiles;
  return {
    profiles,
    tensors: engine.tensors().map((t) => ({
      ...(t as EngineDescription['tensors'][number]),
      profiles: t.mode === 'input' ? Array.from({ length: profiles }, (_, p) => engine.profileShapes(t.name, p)) : undefined,
    })),
  };
}

/** A deep copy with one change applied. */
function edit(d: EngineDescription, change: (copy: EngineDescription) => void): EngineDescription {
  const copy = structuredClone(d);
  change(copy);
  return copy;
}

function tensor(d: EngineDescription, name: string): EngineDescription['tensors'][number] {
  const t = d.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
}

/** Tensors by name, order-free (TensorRT lists I/O in the export's order, the CPU engine inputs first). */
function byName(d: EngineDescription): Record<string, EngineDescription['tensors'][number]> {
  return Object.fromEntries(d.tensors.map((t) => [t.name, { ...t, profiles: t.profiles ?? undefined }]));
}

describe('LLM engine checks', () => {
  let dir: string;
  let dims: ReturnType<typeof textDims>;
  let contract: EngineDescription;
  let eagle: EngineDescription;
  const VERIFY = 6;
  const model = () => ({ hiddenSize: dims.hiddenSize, layers: dims.layers, kvHeads: dims.kvHeads, headDim: dims.headDim, vocabSize: dims.vocabSize });
  const check = (d: EngineDescription, m: ReturnType<typeof model> & { logitsWidth?: number } = model()) => testing().checkEngine('llm', d, m);

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    contract = llmContract(model(), { maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096 });
    eagle = llmContract(model(), { maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096, eagleBase: { maxVerifyTreeSize: VERIFY } });
  });

  it("accepts Edge-LLM 0.6.1's contract and reads the build limits from its profiles", () => {
    const r = check(contract);
    expect(r.problems).toEqual([]);
    expect(r.limits).toEqual({ maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096, vocabSize: dims.vocabSize, maxVerifyTokens: 0 });
  });

  it('accepts an EAGLE-base engine and reports how many tokens it can verify', () => {
    const r = check(eagle);
    expect(r.problems).toEqual([]);
    expect(r.limits).toEqual({ maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096, vocabSize: dims.vocabSize, maxVerifyTokens: VERIFY });
    // llm_build's default --maxVerifyTreeSize (examples/llm/llm_build.cpp:60) and a batch of 4.
    const wide = llmContract(model(), { maxBatch: 4, maxInputLength: 512, kvCapacity: 2048, eagleBase: { maxVerifyTreeSize: 60 } });
    expect(check(wide).limits).toMatchObject({ maxBatch: 4, maxInputLength: 512, kvCapacity: 2048, maxVerifyTokens: 60 });
  });

  it("accepts the CPU engine's own interface, which is exactly the contract (vanilla and EAGLE-base)", async () => {
    for (const eagleBase of [undefined, { maxVerifyTreeSize: VERIFY }]) {
      const engine = await engineLoaders().loadCpuLlmEngine({
        config: readFileSync(path.join(dir, 'llm', 'config.json'), 'utf8'),
        configName: 'llm/config.json',
        weightFiles: [path.join(dir, 'llm', 'model.safetensors')],
        embeddingFile: path.join(dir, 'llm', 'embedding.safetensors'),
        limits: { maxBatch: 2, maxInputLength: 128, maxKvCapacity: 256, maxVerifyTreeSize: eagleBase?.maxVerifyTreeSize ?? 0 },
      });
      try {
        const own = describeEngine(engine);
        const r = check(own);
        expect(r.problems).toEqual([]);
        expect(r.limits).toEqual({ maxBatch: 2, maxInputLength: 128, kvCapacity: 256, vocabSize: dims.vocabSize, maxVerifyTokens: eagleBase ? VERIFY : 0 });
        expect(byName(own)).toEqual(byName(llmContract(model(), { maxBatch: 2, maxInputLength: 128, kvCapacity: 256, eagleBase })));
      } finally {
        engine.dispose();
      }
    }
  });

  // Each single deviation from the contract, generated from it: a missing tensor, another dtype, another
  // rank, another static dimension. Every one is rejected, naming the tensor.
  const dtypes = ['float32', 'float16', 'int32', 'int64'] as const;
  for (const kind of ['vanilla', 'EAGLE-base'] as const) {
    it(`rejects every single tensor deviation from the ${kind} contract, naming the tensor`, () => {
      const base = kind === 'vanilla' ? contract : eagle;
      let cases = 0;
      for (const t of base.tensors) {
        const deviations: [string, (x: DescribedTensor) => void][] = [
          ['another dtype', (x) => (x.dtype = dtypes.find((d) => d !== x.dtype)!)],
          ['another rank', (x) => {
            x.shape.push(1);
            for (const p of x.profiles ?? []) for (const s of [p.min, p.opt, p.max]) s.push(1);
          }],
        ];
        t.shape.forEach((dim, i) => {
          if (dim > 0) deviations.push([`dimension ${i} = ${dim + 1}`, (x) => (x.shape[i] = dim + 1)]);
        });
        const missing = edit(base, (d) => (d.tensors = d.tensors.filter((x) => x.name !== t.name)));
        const problems = check(missing).problems.join('\n');
        // An EAGLE engine without one of its extra tensors is still recognised by the other two.
        expect(problems, `${kind} without ${t.name}`).toContain(`missing ${t.mode} '${t.name}'`);
        for (const [what, change] of deviations) {
          const r = check(edit(base, (d) => change(tensor(d, t.name))));
          expect(r.problems.join('\n'), `${t.name}: ${what}`).toMatch(new RegExp(t.name === 'logits' && what.startsWith('dimension') ? 'logits have' : t.name));
          cases++;
        }
      }
      expect(cases).toBeGreaterThan(base.tensors.length * 2);
    });
  }

  const cases: [string, (d: EngineDescription) => void, RegExp][] = [
    ['int32 last_token_ids', (d) => (tensor(d, 'last_token_ids').dtype = 'int32'), /last_token_ids is I32, expected I64/],
    ['another hidden size', (d) => (tensor(d, 'inputs_embeds').shape[2] = 256), /inputs_embeds dimension 2 \(hidden_size\) is 256 in the engine, 128 in the config/],
    ['an FP8 KV cache', (d) => (tensor(d, 'past_key_values_0').dtype = 'int8'), /past_key_values_0 is I8, expected F16/],
    ['rank-2 logits (the pre-audit contract)', (d) => (tensor(d, 'logits').shape = [-1, dims.vocabSize]), /logits has rank 2, expected 3/],
    ['an EAGLE draft engine', (d) => d.tensors.push({ name: 'hidden_states_input', dtype: 'float16', shape: [-1, -1, 384], mode: 'input', profiles: [{ min: [1, 1, 384], opt: [1, 1, 384], max: [1, 1, 384] }, { min: [1, 1, 384], opt: [1, 1, 384], max: [1, 1, 384] }] }), /unsupported tensor 'hidden_states_input'/],
    ['a half EAGLE engine (hidden_states only)', (d) => d.tensors.push({ name: 'hidden_states', dtype: 'float16', shape: [-1, -1, 3 * dims.hiddenSize], mode: 'output' }), /missing input 'attention_mask'/],
    [
      'a third profile',
      (d) => {
        d.profiles = 3;
        for (const t of d.tensors) t.profiles?.push(t.profiles[1]!);
      },
      /3 optimization profiles; Edge-LLM LLM engines have 2/,
    ],
    ['decode taking 2 tokens', (d) => (tensor(d, 'inputs_embeds').profiles![1].max[1] = 2), /decode profile \(1\) takes 2 tokens/],
    ['decode selecting 2 tokens', (d) => (tensor(d, 'last_token_ids').profiles![1].max[1] = 2), /last_token_ids select more than one/],
    ['prefill selecting 2 tokens', (d) => (tensor(d, 'last_token_ids').profiles![0].max[1] = 2), /prefill profile's last_token_ids select more than one/],
    ['no fresh prefill', (d) => (tensor(d, 'kvcache_start_index').profiles![0].min = [1]), /empty kvcache_start_index/],
    ['a layer with another capacity', (d) => (tensor(d, 'past_key_values_1').profiles![1].max[3] = 2048), /past_key_values_1 has KV capacity 2048/],
    ['more layers than the config', (d) => d.tensors.push({ ...tensor(d, 'past_key_values_0'), name: `past_key_values_${dims.layers}` }), /more KV-cache layers/],
    ['a reduced vocabulary without its map', (d) => (tensor(d, 'logits').shape[2] = 32000), /logits have 32000 entries per token, expected 151936 .*vocab_map/],
    ['a static rope table for fewer positions', (d) => (tensor(d, 'rope_rotary_cos_sin').shape[1] = 2048), /covers 2048 positions but the KV capacity is 4096/],
    ['a rope profile short of the capacity', (d) => (tensor(d, 'rope_rotary_cos_sin').profiles![1].max[1] = 2048), /rope_rotary_cos_sin profile 1 allows .* not the 4096 positions/],
    ['a prefill profile longer than the cache', (d) => (tensor(d, 'inputs_embeds').profiles![0].max[1] = 8192), /more tokens than the KV cache holds/],
  ];
  for (const [what, change, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(check(edit(contract, change)).problems.join('\n')).toMatch(message);
    });
  }

  const eagleCases: [string, (d: EngineDescription) => void, RegExp][] = [
    ['verify profile of last_token_ids short of maxVerifyTreeSize', (d) => (tensor(d, 'last_token_ids').profiles![1].max[1] = VERIFY - 1), /last_token_ids profile 1 max dimension 1 is 5, expected 6/],
    ['attention_pos_id short of maxVerifyTreeSize', (d) => (tensor(d, 'attention_pos_id').profiles![1].max[1] = VERIFY - 1), /attention_pos_id profile 1 max dimension 1 is 5, expected 6/],
    ['an unpadded tree mask', (d) => (tensor(d, 'attention_mask').profiles![1].max[2] = 1), /attention_mask profile 1 max dimension 2 is 1, expected 32 \(maxVerifyTreeSize rounded up to 32\)/],
    ['a prefill mask that is not a dummy', (d) => (tensor(d, 'attention_mask').profiles![0].max[1] = 4), /attention_mask profile 0 max dimension 1 is 4, expected 1/],
    ['hidden states of another width', (d) => (tensor(d, 'hidden_states').shape[2] = dims.hiddenSize), /hidden_states dimension 2 \(3 \* hidden_size\)/],
    ['a tree larger than the plugin handles', (d) => {
      for (const n of ['inputs_embeds', 'last_token_ids', 'attention_pos_id', 'attention_mask']) tensor(d, n).profiles![1].max[1] = 200;
      tensor(d, 'attention_mask').profiles![1].max[2] = 224;
    }, /verifies up to 200 tokens; Edge-LLM's tree attention handles at most 128/],
  ];
  for (const [what, change, message] of eagleCases) {
    it(`rejects an EAGLE-base engine with ${what}`, () => {
      expect(check(edit(eagle, change)).problems.join('\n')).toMatch(message);
    });
  }

  describe('before every enqueue (engine/binding_check.h, also ahead of TensorRT enqueueV3)', () => {
    // The bindings runLlm gives a vanilla engine (native/vla/session.cc), as shapes by name.
    const CAP = 4096;
    const step = (d: EngineDescription, count: number, fresh: boolean, extra: Record<string, number[]> = {}) => {
      const shapes: Record<string, number[]> = {
        inputs_embeds: [1, count, dims.hiddenSize],
        context_lengths: [1],
        last_token_ids: [1, 1],
        kvcache_start_index: [fresh ? 0 : 1],
        rope_rotary_cos_sin: [1, CAP, dims.headDim],
        ...extra,
      };
      for (let l = 0; l < dims.layers; l++) shapes[`past_key_values_${l}`] = [1, 2, dims.kvHeads, CAP, dims.headDim];
      return { shapes, addresses: d.tensors.map((t) => t.name) };
    };
    const run = (d: EngineDescription, profile: number, b: { shapes: Record<string, number[]>; addresses: string[] }) =>
      testing().checkBindings(d, { profile, ...b });
    const refuses = (f: () => void, message: RegExp) => {
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toBeInstanceOf(TrtVlaError);
      expect((error as TrtVlaError).code).toBe('ERR_INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(message);
    };

    it("accepts the session's prefill, chunked prefill and decode steps", () => {
      expect(run(contract, 0, step(contract, 300, true))).toBeUndefined();
      expect(run(contract, 0, step(contract, 5, false))).toBeUndefined();
      expect(run(contract, 1, step(contract, 1, false))).toBeUndefined();
      const eagleExtra = { attention_mask: [1, 1, 1], attention_pos_id: [1, 1] };
      expect(run(eagle, 0, step(eagle, 300, true, eagleExtra))).toBeUndefined();
      expect(run(eagle, 1, step(eagle, 1, false, eagleExtra))).toBeUndefined();
    });

    it('refuses each malformed step with TrtVlaError naming the tensor', () => {
      const ok = () => step(contract, 1, false);
      const without = (name: string, b = ok()) => ({ ...b, shapes: Object.fromEntries(Object.entries(b.shapes).filter(([n]) => n !== name)) });
      // Two tokens in the decode profile (what the plugin would take as chunked prefill).
      refuses(() => run(contract, 1, step(contract, 2, false)), /input 'inputs_embeds' shape \[1, 2, 128\] is outside profile 1/);
      // A fresh prefill's empty start index in the decode profile.
      refuses(() => run(contract, 1, step(contract, 1, true)), /input 'kvcache_start_index' shape \[0\] is outside profile 1/);
      refuses(() => run(contract, 0, step(contract, 1025, true)), /inputs_embeds' shape \[1, 1025, 128\] is outside profile 0/);
      refuses(() => run(contract, 0, without('rope_rotary_cos_sin', step(contract, 4, true))), /input 'rope_rotary_cos_sin' has no shape in profile 0/);
      refuses(() => run(contract, 1, { ...ok(), addresses: ok().addresses.filter((n) => n !== 'present_key_values_1') }), /tensor 'present_key_values_1' has no address/);
      refuses(() => run(contract, 1, { ...ok(), shapes: { ...ok().shapes, past_key_values_0: [1, 2, dims.kvHeads, CAP + 1, dims.headDim] } }), /past_key_values_0' shape .* is outside profile 1/);
      refuses(() => run(contract, 1, { ...ok(), shapes: { ...ok().shapes, last_token_ids: [1, 2] } }), /last_token_ids' dimension 1 must be 1/);
      refuses(() => run(contract, 1, { ...ok(), shapes: { ...ok().shapes, inputs_embeds: [1, 1] } }), /inputs_embeds' has rank 3/);
      // An EAGLE-base engine stepped without its extra tensors.
      refuses(() => run(eagle, 1, step(eagle, 1, false)), /input 'attention_mask' has no shape in profile 1/);
    });
  });

  it('lists every problem of an engine at once', () => {
    const bad = edit(contract, (d) => {
      tensor(d, 'last_token_ids').dtype = 'int32';
      tensor(d, 'inputs_embeds').shape[2] = 256;
      d.tensors = d.tensors.filter((t) => t.name !== 'logits');
    });
    expect(check(bad).problems).toHaveLength(3);
  });

  it('accepts a reduced-vocabulary engine when the map gives its width', () => {
    const reduced = edit(contract, (d) => (tensor(d, 'logits').shape[2] = 32000));
    expect(check(reduced, { ...model(), logitsWidth: 32000 }).problems).toEqual([]);
    expect(check(contract, { ...model(), logitsWidth: 32000 }).problems.join()).toMatch(/expected 32000 .*reduced vocabulary/);
  });

  it('rejects malformed descriptions with ERR_INVALID_ARGUMENT', () => {
    const noShapes = edit(contract, (d) => delete tensor(d, 'context_lengths').profiles);
    expect(() => check(noShapes)).toThrow(/context_lengths' needs shapes for 2 profiles/);
    expect(() => check(edit(contract, (d) => (tensor(d, 'logits').dtype = 'complex' as never)))).toThrow(/unknown dtype/);
  });
});

describe('visual engine checks', () => {
  const dims = { patchDim: 1176, rotaryAngles: 16, outHidden: 128 };
  // README's Jetson build, Edge-LLM's defaults (visual_build.cpp:67-69) and its VLM example (docs vlm.md).
  const builds: VisualBuildFlags[] = [
    { minImageTokens: 64, maxImageTokens: 1024, maxImageTokensPerImage: 512 },
    { minImageTokens: 4, maxImageTokens: 1024, maxImageTokensPerImage: 512 },
    { minImageTokens: 128, maxImageTokens: 512, maxImageTokensPerImage: 512 },
  ];
  const flagsJson = (f: VisualBuildFlags) => ({ min_image_tokens: f.minImageTokens, max_image_tokens: f.maxImageTokens, max_image_tokens_per_image: f.maxImageTokensPerImage });
  const contract = visualContract(dims, builds[0]!);

  for (const f of builds) {
    it(`accepts visual_build's engine for ${f.minImageTokens} / ${f.maxImageTokens} / ${f.maxImageTokensPerImage} tokens and reads its limits back`, () => {
      const r = testing().checkEngine('visual', visualContract(dims, f), { ...dims, builderConfig: flagsJson(f) });
      expect(r.problems).toEqual([]);
      expect(r.limits).toEqual({
        minImageTokens: f.minImageTokens,
        maxImageTokens: f.maxImageTokens,
        maxImageTokensPerImage: f.maxImageTokensPerImage,
        maxImages: Math.max(1, Math.trunc(f.maxImageTokens / f.minImageTokens)),
        maxWindows: f.maxImageTokens - 1,
      });
    });
  }

  it("the CPU vision engine's interface is visual_build's, bound for bound, and passes the checks", async () => {
    const dir = await testModel('tiny', 'awq');
    const f = builds[2]!;
    const engine = await engineLoaders().loadCpuVisionEngine({
      config: readFileSync(path.join(dir, 'visual', 'config.json'), 'utf8'),
      configName: 'visual/config.json',
      weightFiles: [path.join(dir, 'visual', 'model.safetensors')],
      limits: f,
    });
    try {
      const own = describeEngine(engine);
      const byName = (d: EngineDescription) => [...d.tensors].sort((a, b) => a.name.localeCompare(b.name));
      const tiny = { patchDim: tensor(own, 'input').shape[1]!, rotaryAngles: tensor(own, 'rotary_pos_emb').shape[1]!, outHidden: tensor(own, 'output').shape[1]! };
      const expected = visualContract(tiny, f);
      expect(own.profiles).toBe(expected.profiles);
      expect(byName(own)).toEqual(byName(expected));
      const r = testing().checkEngine('visual', own, { ...tiny, builderConfig: flagsJson(f) });
      expect(r.problems).toEqual([]);
      expect(r.limits.maxImageTokens).toBe(512);
    } finally {
      engine.dispose();
    }
  });

  it('rejects a builder_config from another build than the engine, naming the flag', () => {
    const other = { ...builds[0]!, maxImageTokens: 512 };
    const problems = testing().checkEngine('visual', contract, { ...dims, builderConfig: flagsJson(other) }).problems.join('\n');
    expect(problems).toMatch(/builder_config\.max_image_tokens is 512 \(visual_build --maxImageTokens\) but the engine's profile was built for 1024/);
  });

  const cases: [string, (d: EngineDescription) => void, RegExp][] = [
    ['rotary rows that differ from the patches', (d) => (tensor(d, 'rotary_pos_emb').profiles![0]!.max = [2048, 16]), /rotary_pos_emb's profile \[256, 2048\] does not match input's \[256, 4096\]/],
    ['a window index of another length', (d) => (tensor(d, 'window_index').profiles![0]!.min = [1]), /window_index's profile/],
    ['a per-image carrier above the request maximum', (d) => (tensor(d, 'max_seqlen_carrier').profiles![0]!.max = [8192]), /max_seqlen_carrier admits 2048 image tokens per image, outside the request's \[64, 1024\]/],
    ['patch rows that are not whole tokens', (d) => (tensor(d, 'input').profiles![0]!.min = [254, 1176]), /not whole image tokens/],
    ['cu_seqlens that needs two images', (d) => (tensor(d, 'cu_seqlens').profiles![0]!.min = [3]), /does not admit a single image/],
  ];
  for (const [what, change, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(testing().checkEngine('visual', edit(contract, change), dims).problems.join('\n')).toMatch(message);
    });
  }

  it('rejects an Edge-LLM 0.5 dense-mask engine, another patch size and another output width', () => {
    const old = edit(contract, (d) => {
      d.tensors = d.tensors.filter((t) => !t.name.startsWith('cu_') && t.name !== 'max_seqlen_carrier');
      d.tensors.push({ name: 'attention_mask', dtype: 'float16', shape: [1, -1, -1], mode: 'input', profiles: [{ min: [1, 16, 16], opt: [1, 64, 64], max: [1, 4096, 4096] }] });
    });
    const problems = testing().checkEngine('visual', old, dims).problems.join('\n');
    expect(problems).toMatch(/missing input 'cu_seqlens'/);
    expect(problems).toMatch(/unsupported visual tensor 'attention_mask'/);
    expect(testing().checkEngine('visual', contract, { ...dims, patchDim: 588 }).problems.join()).toMatch(/input dimension 1 .* is 1176 in the engine, 588/);
    expect(testing().checkEngine('visual', contract, { ...dims, outHidden: 2048 }).problems.join()).toMatch(/out_hidden_size/);
  });
});
