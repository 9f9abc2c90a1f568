// The engine compatibility checks (native/vla/engine_check.cc) that run on every engine at load: an
// engine interface written from the documented Edge-LLM 0.6 contract passes, the CPU engines' own
// interfaces pass, and each kind of wrong engine is rejected with a message naming the problem.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { type EngineDescription, llmContract, type VisualBuildFlags, visualContract } from '../helpers/edgeLlmContract.js';
import { engineLoaders, loadLlm, type NativeEngine, textDims } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
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

describe('LLM engine checks', () => {
  let dir: string;
  let dims: ReturnType<typeof textDims>;
  let contract: EngineDescription;
  const model = () => ({ hiddenSize: dims.hiddenSize, layers: dims.layers, kvHeads: dims.kvHeads, headDim: dims.headDim, vocabSize: dims.vocabSize });

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = textDims(dir);
    contract = llmContract(model(), { maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096 });
  });

  it('accepts the documented contract and reads the build limits from its profiles', () => {
    const r = testing().checkEngine('llm', contract, model());
    expect(r.problems).toEqual([]);
    expect(r.limits).toEqual({ maxBatch: 1, maxInputLength: 1024, kvCapacity: 4096, vocabSize: dims.vocabSize });
  });

  it("accepts the CPU engine's own interface", async () => {
    const engine = await loadLlm(dir, { maxBatch: 2, maxInputLength: 128, maxKvCapacity: 256 });
    try {
      const r = testing().checkEngine('llm', describeEngine(engine), model());
      expect(r.problems).toEqual([]);
      expect(r.limits).toEqual({ maxBatch: 2, maxInputLength: 128, kvCapacity: 256, vocabSize: dims.vocabSize });
    } finally {
      engine.dispose();
    }
  });

  const cases: [string, (d: EngineDescription) => void, RegExp][] = [
    ['a missing KV output', (d) => (d.tensors = d.tensors.filter((t) => t.name !== 'present_key_values_1')), /missing output 'present_key_values_1'/],
    ['int32 last_token_ids', (d) => (tensor(d, 'last_token_ids').dtype = 'int32'), /last_token_ids is I32, expected I64/],
    ['another hidden size', (d) => (tensor(d, 'inputs_embeds').shape[2] = 256), /inputs_embeds dimension 2 \(hidden_size\) is 256 in the engine, 128 in the config/],
    ['an FP8 KV cache', (d) => (tensor(d, 'past_key_values_0').dtype = 'int8'), /past_key_values_0 is I8, expected F16/],
    ['another KV head count', (d) => (tensor(d, 'past_key_values_0').shape[2] = 4), /num_key_value_heads/],
    ['an EAGLE engine', (d) => d.tensors.push({ name: 'hidden_states', dtype: 'float16', shape: [-1, -1, 384], mode: 'output' }), /unsupported tensor 'hidden_states'/],
    [
      'a third profile',
      (d) => {
        d.profiles = 3;
        for (const t of d.tensors) t.profiles?.push(t.profiles[1]!);
      },
      /3 optimization profiles; Edge-LLM LLM engines have 2/,
    ],
    ['decode taking 2 tokens', (d) => (tensor(d, 'inputs_embeds').profiles![1].max[1] = 2), /decode profile \(1\) takes 2 tokens/],
    ['no fresh prefill', (d) => (tensor(d, 'kvcache_start_index').profiles![0].min = [1]), /empty kvcache_start_index/],
    ['a layer with another capacity', (d) => (tensor(d, 'past_key_values_1').profiles![1].max[3] = 2048), /past_key_values_1 has KV capacity 2048/],
    ['more layers than the config', (d) => d.tensors.push({ ...tensor(d, 'past_key_values_0'), name: `past_key_values_${dims.layers}` }), /more KV-cache layers/],
    ['a reduced vocabulary without its map', (d) => (tensor(d, 'logits').shape[1] = 32000), /logits have 32000 entries per token, expected 151936 .*vocab_map/],
    ['rope for fewer positions', (d) => (tensor(d, 'rope_rotary_cos_sin').shape[1] = 2048), /covers 2048 positions but the KV capacity is 4096/],
  ];
  for (const [what, change, message] of cases) {
    it(`rejects ${what}`, () => {
      const r = testing().checkEngine('llm', edit(contract, change), model());
      expect(r.problems.join('\n')).toMatch(message);
    });
  }

  it('lists every problem of an engine at once', () => {
    const bad = edit(contract, (d) => {
      tensor(d, 'last_token_ids').dtype = 'int32';
      tensor(d, 'inputs_embeds').shape[2] = 256;
      d.tensors = d.tensors.filter((t) => t.name !== 'logits');
    });
    expect(testing().checkEngine('llm', bad, model()).problems).toHaveLength(3);
  });

  it('accepts a reduced-vocabulary engine when the map gives its width', () => {
    const reduced = edit(contract, (d) => (tensor(d, 'logits').shape[1] = 32000));
    expect(testing().checkEngine('llm', reduced, { ...model(), logitsWidth: 32000 }).problems).toEqual([]);
    expect(testing().checkEngine('llm', contract, { ...model(), logitsWidth: 32000 }).problems.join()).toMatch(/expected 32000 .*reduced vocabulary/);
  });

  it('rejects malformed descriptions with ERR_INVALID_ARGUMENT', () => {
    const noShapes = edit(contract, (d) => delete tensor(d, 'context_lengths').profiles);
    expect(() => testing().checkEngine('llm', noShapes, model())).toThrow(/context_lengths' needs shapes for 2 profiles/);
    expect(() => testing().checkEngine('llm', edit(contract, (d) => (tensor(d, 'logits').dtype = 'complex' as never)), model())).toThrow(/unknown dtype/);
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
