// The CPU vision engine honours the Edge-LLM 0.6 visual contract and computes the Qwen2.5-VL vision
// tower like an independent float64 reference: windowed and full attention, 2-D rotary, merger.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { engineLoaders, type NativeEngine } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
import { referenceVision } from '../helpers/qwenReference.js';
import { halfToNumber } from '../helpers/safetensors.js';
import { cuSeqlens, type Grid, inversePermutation, rotaryAngles, windowIndex } from '../helpers/visionInputs.js';

interface VisionDims {
  depth: number;
  hiddenSize: number;
  heads: number;
  outHiddenSize: number;
  fullAttentionBlocks: number[];
  rmsNormEps: number;
}

function visionDims(dir: string): VisionDims {
  const v = JSON.parse(readFileSync(path.join(dir, 'visual', 'config.json'), 'utf8')).vision_config;
  return { depth: v.depth, hiddenSize: v.hidden_size, heads: v.num_heads, outHiddenSize: v.out_hidden_size, fullAttentionBlocks: v.fullatt_block_indexes, rmsNormEps: 1e-6 };
}

async function loadVision(dir: string): Promise<NativeEngine> {
  return engineLoaders().loadCpuVisionEngine({
    config: readFileSync(path.join(dir, 'visual', 'config.json'), 'utf8'),
    configName: 'visual/config.json',
    weightFiles: [path.join(dir, 'visual', 'model.safetensors')],
    limits: { minImageTokens: 1, maxImageTokens: 512, maxImageTokensPerImage: 256 },
  });
}

function randomHalfInput(patches: number, dim: number, seed: number): Uint16Array {
  const out = new Uint16Array(patches * dim);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Values in [-2, 2] on the fp16 grid, like normalized pixels.
    const v = ((s >>> 8) / 2 ** 24) * 4 - 2;
    out[i] = halfBits(v);
  }
  return out;
}

function halfBits(v: number): number {
  const f = new DataView(new ArrayBuffer(4));
  f.setFloat32(0, v, true);
  const bits = f.getUint32(0, true);
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs < 0x38800000) return sign;
  return sign | (((abs >>> 13) - (112 << 10)) & 0x7fff);
}

function run(engine: NativeEngine, grids: Grid[], input: Uint16Array, headDim: number, outHidden: number) {
  const { windowIndex: wi, cuWindowSeqlens } = windowIndex(grids);
  const cu = cuSeqlens(grids);
  const angles = rotaryAngles(grids, headDim);
  const patches = cu[cu.length - 1]!;
  const ctx = engine.createContext();
  const maxSeq = Math.max(...cu.slice(1).map((v, i) => v - cu[i]!));
  ctx.setOptimizationProfile(0);
  const bind = (name: string, array: ArrayBufferView & { length: number }, dims: number[]) => {
    ctx.setInputShape(name, dims);
    ctx.setTensorAddress(name, array);
  };
  bind('input', input, [patches, input.length / patches]);
  bind('rotary_pos_emb', angles, [patches, headDim / 2]);
  bind('cu_seqlens', Int32Array.from(cu), [cu.length]);
  bind('max_seqlen_carrier', new Int32Array(maxSeq), [maxSeq]);
  bind('cu_window_seqlens', Int32Array.from(cuWindowSeqlens), [cuWindowSeqlens.length]);
  bind('window_index', BigInt64Array.from(wi.map(BigInt)), [wi.length]);
  bind('reverse_window_index', BigInt64Array.from(inversePermutation(wi).map(BigInt)), [wi.length]);
  const out = new Uint16Array((patches / 4) * outHidden);
  ctx.setTensorAddress('output', out);
  expect(ctx.tensorShape('output')[0]).toBe(patches / 4);
  ctx.enqueue();
  return { out, wi, cu, cuWindowSeqlens, angles, ctx };
}

describe('CPU vision engine (tiny)', () => {
  let dir: string;
  let dims: VisionDims;
  let engine: NativeEngine;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    dims = visionDims(dir);
    engine = await loadVision(dir);
  });

  it('exposes the Edge-LLM 0.6 visual I/O tensors', () => {
    const t = Object.fromEntries(engine.tensors().map((x) => [x.name, x]));
    const headDim = dims.hiddenSize / dims.heads;
    expect(t.input).toMatchObject({ dtype: 'float16', shape: [-1, 1176], mode: 'input' });
    expect(t.rotary_pos_emb).toMatchObject({ dtype: 'float32', shape: [-1, headDim / 2] });
    expect(t.cu_seqlens).toMatchObject({ dtype: 'int32', shape: [-1] });
    expect(t.max_seqlen_carrier).toMatchObject({ dtype: 'int32', shape: [-1] });
    expect(t.cu_window_seqlens).toMatchObject({ dtype: 'int32', shape: [-1] });
    expect(t.window_index).toMatchObject({ dtype: 'int64', shape: [-1] });
    expect(t.reverse_window_index).toMatchObject({ dtype: 'int64', shape: [-1] });
    expect(t.output).toMatchObject({ dtype: 'float16', shape: [-1, dims.outHiddenSize], mode: 'output' });
  });

  // Two images; the second is larger than one 4x4-unit window in both directions, so it has several
  // windows, partial ones at the edges, and a full-attention block that sees the whole image.
  const grids: Grid[] = [
    [1, 4, 6],
    [1, 10, 12],
  ];

  it('matches an independent float64 reference of the vision tower', () => {
    const headDim = dims.hiddenSize / dims.heads;
    const patches = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
    const input = randomHalfInput(patches, 1176, 5);
    const { out, wi, cu, cuWindowSeqlens, angles } = run(engine, grids, input, headDim, dims.outHiddenSize);
    const rows: Float64Array[] = [];
    for (let p = 0; p < patches; p++) rows.push(Float64Array.from(input.subarray(p * 1176, (p + 1) * 1176), halfToNumber));
    const expected = referenceVision(dir, dims, rows, angles, cu, cuWindowSeqlens, wi);
    let maxErr = 0;
    let maxAbs = 0;
    expected.forEach((row, u) => {
      for (let i = 0; i < dims.outHiddenSize; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(row[i]!));
        maxErr = Math.max(maxErr, Math.abs(halfToNumber(out[u * dims.outHiddenSize + i]!) - row[i]!));
      }
    });
    expect(maxErr / maxAbs).toBeLessThan(5e-3); // fp16 output rounding dominates
  });

  it('rejects a window index that is not a permutation', () => {
    const headDim = dims.hiddenSize / dims.heads;
    const { ctx } = run(engine, [[1, 4, 4]], randomHalfInput(16, 1176, 1), headDim, dims.outHiddenSize);
    ctx.setTensorAddress('window_index', BigInt64Array.from([0n, 0n, 1n, 2n]));
    expect(() => ctx.enqueue()).toThrow(/reverse_window_index\[1\] is not the inverse/);
    ctx.setTensorAddress('window_index', BigInt64Array.from([0n, 1n, 2n, 99n]));
    expect(() => ctx.enqueue()).toThrow(/window_index\[3\] = 99 is out of range/);
  });

  it('rejects cumulative lengths that do not cover the input', () => {
    const headDim = dims.hiddenSize / dims.heads;
    const { ctx } = run(engine, [[1, 4, 4]], randomHalfInput(16, 1176, 2), headDim, dims.outHiddenSize);
    ctx.setTensorAddress('cu_seqlens', Int32Array.from([0, 12]));
    expect(() => ctx.enqueue()).toThrow(/cu_seqlens ends at 12 but the input has 16 patches/);
    ctx.setTensorAddress('cu_seqlens', Int32Array.from([0, 20]));
    expect(() => ctx.enqueue()).toThrow(/cu_seqlens/);
  });
});
