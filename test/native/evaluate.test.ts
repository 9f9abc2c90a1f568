// What the model computes, as the public API returns it: session.evaluate (logits of chosen prompt
// positions and greedy steps), model.encodeImages (the vision engine's output) and model.prepare's
// engine inputs (the vision engine's index inputs, the M-RoPE table), each checked against an
// independent path: plain generation, shorter prompts, the CPU vision engine driven directly, and
// TypeScript versions of the index computations.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { argmax, compareVectors, type FrameBuffer, loadModel, type Model, runParity, TrtVlaError } from '../../lib/index.js';
import { engineLoaders } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
import { halfToNumber, numberToHalfBits } from '../helpers/safetensors.js';
import { cuSeqlens, type Grid, inversePermutation, rotaryAngles, windowIndex } from '../helpers/visionInputs.js';
import { withVocabMap } from '../helpers/vocabMap.js';

const GREEDY = { temperature: 0, repetitionPenalty: 1 };
const TEXT = 'Describe the road ahead. <image> What should the car do?';

function fill(frame: FrameBuffer, seed: number): FrameBuffer {
  let s = seed;
  for (let i = 0; i < frame.data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    frame.data[i] = s >>> 24;
  }
  return frame;
}

async function failure(promise: Promise<unknown>): Promise<TrtVlaError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TrtVlaError);
  return err as TrtVlaError;
}

describe('session.evaluate / model.encodeImages / model.prepare (tiny, CPU)', { timeout: 120_000 }, () => {
  let dir: string;
  let model: Model;
  let frame: FrameBuffer;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    model = await loadModel(dir, { backend: 'cpu', threads: 2, maxKvCapacity: 512 });
    frame = fill(model.allocFrame({ width: 120, height: 90, format: 'rgb8' }), 11);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("returns the logits each greedy token was chosen from: generate's tokens, argmax of each step", async () => {
    const generated = await model.generate({ text: TEXT, images: [frame], maxTokens: 6, sampling: GREEDY, prefixCache: false });
    const evaluated = await model.evaluate({ text: TEXT, images: [frame], positions: [-1], steps: 6 });
    const vocab = model.description.vocabSize;
    expect(Array.from(evaluated.tokens)).toEqual(Array.from(generated.tokens));
    expect(evaluated.stepLogits).toHaveLength(generated.tokens.length);
    for (const [i, logits] of evaluated.stepLogits.entries()) {
      expect(logits).toHaveLength(vocab);
      expect(argmax(logits)).toBe(evaluated.tokens[i]);
    }
    // Step 0 is chosen from the last prompt position's logits.
    expect(evaluated.positions).toEqual([evaluated.inputIds.length - 1]);
    expect(Array.from(evaluated.stepLogits[0]!)).toEqual(Array.from(evaluated.logits[0]!));
  });

  it('gives a prompt position the logits of the prompt cut after it (chunked prefill ending at each position)', async () => {
    const ids = (await model.prepare({ text: TEXT, images: [frame] })).inputIds;
    const imagePad = model.description.imagePad;
    const lastPad = ids.lastIndexOf(imagePad);
    const full = await model.evaluate({ text: TEXT, images: [frame], positions: [-1, 2, lastPad + 2, -2] });
    const n = full.inputIds.length;
    expect(full.positions).toEqual([2, lastPad + 2, n - 2, n - 1]);
    expect(full.logits).toHaveLength(4);
    for (const [i, p] of full.positions.entries()) {
      const cut = await model.evaluate({ tokens: full.inputIds.slice(0, p + 1), images: p > lastPad ? [frame] : [], positions: [-1] });
      const d = compareVectors(full.logits[i]!, cut.logits[0]!);
      // The CPU engine computes every row the same way whatever the chunking (measured: exactly equal);
      // the bound leaves room for a summation order that depends on the chunk.
      expect(d.relative, `position ${p}`).toBeLessThan(1e-6);
      expect(argmax(full.logits[i]!)).toBe(argmax(cut.logits[0]!));
    }
    // Chunks also split at the engine's prefill limit.
    const short = await loadModel(dir, { backend: 'cpu', threads: 2, maxKvCapacity: 512, maxInputLength: 5 });
    try {
      const chunked = await short.evaluate({ text: TEXT, images: [frame], positions: full.positions });
      full.logits.forEach((row, i) => expect(compareVectors(chunked.logits[i]!, row).relative).toBeLessThan(1e-6));
    } finally {
      await short.dispose();
    }
  });

  it('teacher-forces the steps on given tokens', async () => {
    const forced = [9707, 11, 1879];
    const r = await model.evaluate({ text: 'Hello', steps: 4, forcedTokens: forced, stopAtEndOfTurn: false });
    expect(Array.from(r.tokens.slice(0, 3))).toEqual(forced);
    expect(r.tokens).toHaveLength(4);
    // The last step's logits follow the forced context: the same as evaluating the prompt with them appended.
    const direct = await model.evaluate({ tokens: [...r.inputIds, ...forced], positions: [-1] });
    expect(compareVectors(r.stepLogits[3]!, direct.logits[0]!).relative).toBeLessThan(1e-6); // measured: exactly equal
    expect(argmax(r.stepLogits[3]!)).toBe(r.tokens[3]);
  });

  it('refuses bad positions, steps and forced tokens with ERR_INVALID_ARGUMENT', async () => {
    const cases = [
      model.evaluate({ text: 'Hello', positions: [99] }),
      model.evaluate({ text: 'Hello', positions: [0.5] }),
      model.evaluate({ text: 'Hello', steps: -1 }),
      model.evaluate({ text: 'Hello', steps: 1, forcedTokens: [1, 2] }),
      model.evaluate({ text: 'Hello', steps: 1, forcedTokens: [-4] }),
      model.evaluate({ text: 'Hello', steps: 600 }), // beyond the KV cache
      model.evaluate({ text: 'Hello', steps: 1, forcedTokens: [999_999] }),
    ];
    for (const c of cases) expect((await failure(c)).code).toBe('ERR_INVALID_ARGUMENT');
    // The session still works afterwards.
    expect((await model.evaluate({ text: 'Hello' })).logits).toHaveLength(1);
  });

  it('stops at an aborted signal with ABORT_ERR', async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await failure(model.evaluate({ text: 'Hello', steps: 2, signal: controller.signal }))).code).toBe('ABORT_ERR');
  });

  it('maps reduced-vocabulary logits back to full ids: the full model\'s values where kept, -Infinity elsewhere', async () => {
    const full = await model.evaluate({ text: 'Hello there', positions: [-2, -1], steps: 3, stopAtEndOfTurn: false });
    // Keep the 64 highest ids of every row (so the argmax survives) and a few specials.
    const keep = new Set<number>([151643, 151644, 151645]);
    for (const row of [...full.logits, ...full.stepLogits]) {
      Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!).slice(0, 64).forEach((id) => keep.add(id));
    }
    const ids = [...keep].sort((a, b) => a - b);
    const reducedDir = withVocabMap(dir, ids);
    const reduced = await loadModel(reducedDir, { backend: 'cpu', threads: 2, maxKvCapacity: 512 });
    try {
      expect(reduced.description.logitsWidth).toBe(ids.length);
      const r = await reduced.evaluate({ text: 'Hello there', positions: [-2, -1], steps: 3, stopAtEndOfTurn: false });
      expect(Array.from(r.tokens)).toEqual(Array.from(full.tokens));
      for (const [i, row] of [...r.logits, ...r.stepLogits].entries()) {
        const reference = [...full.logits, ...full.stepLogits][i]!;
        expect(row).toHaveLength(reference.length);
        const wrong = Array.from(row.keys()).filter((id) => row[id] !== (keep.has(id) ? reference[id] : -Infinity));
        expect(wrong, `row ${i}`).toEqual([]);
      }
      // Parity skips the dropped ids: the reduced engine is exact where it computes.
      const report = await runParity(reduced, model, { text: 'Hello there', steps: 3, promptPositions: 2 });
      expect(report.summary.prompt).toEqual({ maxAbs: 0, relative: 0, top1Agreement: 1 });
      expect(report.splitAt).toBeNull();
    } finally {
      await reduced.dispose();
      rmSync(reducedDir, { recursive: true, force: true });
    }
  });

  it('encodeImages returns what the CPU vision engine computes on the inputs prepare reports', async () => {
    const second = fill(model.allocFrame({ width: 64, height: 100, format: 'rgb8' }), 5);
    const encoded = await model.encodeImages([frame, second]);
    const prepared = await model.prepare({ text: 'a <image> b <image>', images: [frame, second] }, { pixelValues: true, visionInputs: true });
    expect(encoded.imageGrids).toEqual(prepared.imageGrids);
    const hidden = model.description.hiddenSize;
    expect(encoded.hidden).toBe(hidden);
    encoded.embeddings.forEach((e, i) => expect(e.length).toBe((prepared.imageGrids[i]!.reduce((a, b) => a * b, 1) / 4) * hidden));

    // The vision engine, driven directly with prepare's inputs (the engine tensors of the Edge-LLM contract).
    const v = prepared.visionInputs!;
    const engine = await engineLoaders().loadCpuVisionEngine({
      config: readFileSync(path.join(dir, 'visual', 'config.json'), 'utf8'),
      configName: 'visual/config.json',
      weightFiles: [path.join(dir, 'visual', 'model.safetensors')],
      limits: { minImageTokens: 1, maxImageTokens: 4096, maxImageTokensPerImage: 4096 },
    });
    try {
      const pixels = prepared.pixelValues!;
      const patches = v.cuSeqlens[v.cuSeqlens.length - 1]!;
      const patchDim = pixels[0]!.length / (prepared.imageGrids[0]!.reduce((a, b) => a * b, 1));
      const input = new Uint16Array(patches * patchDim);
      let at = 0;
      for (const p of pixels) for (const x of p) input[at++] = numberToHalfBits(x);
      const ctx = engine.createContext();
      ctx.setOptimizationProfile(0);
      const bind = (name: string, array: ArrayBufferView, dims: number[]) => {
        ctx.setInputShape(name, dims);
        ctx.setTensorAddress(name, array);
      };
      const cu = Array.from(v.cuSeqlens);
      const maxSeq = Math.max(...cu.slice(1).map((c, i) => c - cu[i]!));
      bind('input', input, [patches, patchDim]);
      bind('rotary_pos_emb', v.rotaryPosEmb, [patches, v.rotaryPosEmb.length / patches]);
      bind('cu_seqlens', v.cuSeqlens, [v.cuSeqlens.length]);
      bind('max_seqlen_carrier', new Int32Array(maxSeq), [maxSeq]);
      bind('cu_window_seqlens', v.cuWindowSeqlens, [v.cuWindowSeqlens.length]);
      bind('window_index', BigInt64Array.from(v.windowIndex, BigInt), [v.windowIndex.length]);
      bind('reverse_window_index', BigInt64Array.from(v.reverseWindowIndex, BigInt), [v.reverseWindowIndex.length]);
      const out = new Uint16Array((patches / 4) * hidden);
      ctx.setTensorAddress('output', out);
      ctx.enqueue();
      const direct = Float32Array.from(out, halfToNumber);
      const joined = new Float32Array(direct.length);
      let offset = 0;
      for (const e of encoded.embeddings) {
        joined.set(e, offset);
        offset += e.length;
      }
      expect(offset).toBe(direct.length);
      expect(compareVectors(joined, direct).maxAbs).toBe(0);
    } finally {
      engine.dispose();
    }

    // And they are the embeddings a request splices into its prompt.
    const used = await model.evaluate({ text: 'a <image> b <image>', images: [frame, second], imageEmbeddings: true });
    expect(used.imageEmbeddings!.map((e) => Array.from(e))).toEqual(encoded.embeddings.map((e) => Array.from(e)));
  });

  it("prepare reports the vision engine's index inputs as Hugging Face computes them", async () => {
    const prepared = await model.prepare({ text: TEXT, images: [frame] }, { visionInputs: true });
    const v = prepared.visionInputs!;
    const grids = prepared.imageGrids as Grid[];
    const vc = JSON.parse(readFileSync(path.join(dir, 'visual', 'config.json'), 'utf8')).vision_config;
    const expected = windowIndex(grids, vc.window_size, vc.patch_size, vc.spatial_merge_size);
    expect(Array.from(v.windowIndex)).toEqual(expected.windowIndex);
    expect(Array.from(v.reverseWindowIndex)).toEqual(inversePermutation(expected.windowIndex));
    expect(Array.from(v.cuWindowSeqlens)).toEqual(expected.cuWindowSeqlens);
    expect(Array.from(v.cuSeqlens)).toEqual(cuSeqlens(grids));
    const angles = rotaryAngles(grids, vc.hidden_size / vc.num_heads, vc.spatial_merge_size);
    expect(v.rotaryPosEmb.length).toBe(angles.length);
    expect(compareVectors(v.rotaryPosEmb, angles).maxAbs).toBeLessThan(1e-6); // measured 1.2e-7 (float32 vs float64)
    // Without the option, nothing extra.
    expect((await model.prepare({ text: TEXT, images: [frame] })).visionInputs).toBeUndefined();
  });

  it('prepare reports the M-RoPE cos/sin table the language model is bound with', async () => {
    const prepared = await model.prepare({ text: TEXT, images: [frame] }, { ropeTable: true });
    const config = JSON.parse(readFileSync(path.join(dir, 'llm', 'config.json'), 'utf8'));
    const headDim: number = config.head_dim;
    const half = headDim / 2;
    const section: number[] = config.rope_scaling.mrope_section;
    const theta: number = config.rope_theta;
    const { kvCapacity } = model.description;
    const table = prepared.ropeCosSin!;
    expect(table.length).toBe(kvCapacity * headDim);
    const [t, h, w] = prepared.positionIds;
    const n = prepared.inputIds.length;
    // Text after the prompt continues from the largest prompt position + 1, equal on every axis.
    const next = Math.max(...t, ...h, ...w) + 1;
    let worst = 0;
    for (let row = 0; row < kvCapacity; row++) {
      for (let i = 0; i < half; i++) {
        const axis = i < section[0]! ? t : i < section[0]! + section[1]! ? h : w;
        const pos = row < n ? axis[row]! : next + (row - n);
        const angle = pos / theta ** ((2 * i) / headDim);
        worst = Math.max(worst, Math.abs(table[row * headDim + i]! - Math.cos(angle)), Math.abs(table[row * headDim + half + i]! - Math.sin(angle)));
      }
    }
    // float32 angles on the engine side: position * inverse frequency rounds to ~3e-5 at position 512
    // (measured worst: 1.2e-5).
    expect(worst).toBeLessThan(1e-4);
  });
});
