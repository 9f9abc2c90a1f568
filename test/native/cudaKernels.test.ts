// The CUDA kernels of the GPU host pipeline against the CPU paths they reproduce (native/vla):
// preprocessing, the embedding splice, the M-RoPE table and sampling. Each hook runs the kernel and the
// CPU path on the same inputs. Where no CUDA device is usable (CI, CPU-only machines) the comparisons
// are skipped and the hooks must fail cleanly with ERR_BACKEND_UNAVAILABLE.
//
// Tolerances: preprocessing, the embedding gather and sampling are bit-exact by construction (same
// integer / explicitly rounded float operations, and the host does the seeded draw). The rope table
// differs only through cosf / sinf: CUDA's are within 2 ulp and glibc's within 1 ulp of the true
// value, so entries (all in [-1, 1]) may differ by a few 1e-8; 1e-6 absolute leaves a wide margin
// while still catching any wrong angle, frequency or section.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { info } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import { type NativeCudaTesting, type NativeSampleRun, testing } from '../helpers/native.js';
import { seededRandom } from '../helpers/random.js';

const runtime = await info();
const hasGpu = runtime.backends.cuda.available;
const cuda = (): NativeCudaTesting => testing().cuda;

/** The value of one side, failing the test with the native message when that side returned an error. */
function value<T>(side: T | Error | null, what: string): T {
  if (side instanceof Error) throw new Error(`${what} failed: ${(side as Error & { code?: string }).code} ${side.message}`);
  if (side === null) throw new Error(`${what} returned null`);
  return side;
}

/** Bitwise equality of two typed arrays (distinguishes -0 from +0 and NaN payloads). */
function expectSameBits(actual: ArrayBufferView, expected: ArrayBufferView, what: string): void {
  expect(actual.byteLength, `${what}: byte length`).toBe(expected.byteLength);
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  let first = -1;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  expect(first, `${what}: ${count} differing bytes, first at byte ${first}`).toBe(-1);
}

function expectSameError(gpu: unknown, cpu: unknown, what: string): void {
  expect(cpu, `${what}: the CPU path should fail`).toBeInstanceOf(Error);
  expect(gpu, `${what}: the GPU path should fail like the CPU path`).toBeInstanceOf(Error);
  const g = gpu as Error & { code?: string };
  const c = cpu as Error & { code?: string };
  expect({ code: g.code, message: g.message }, what).toEqual({ code: c.code, message: c.message });
}

// ---------------------------------------------------------------------------------------------------
// Without a device: every hook fails cleanly.

describe.skipIf(hasGpu)('CUDA kernel hooks without a device', () => {
  it('throw ERR_BACKEND_UNAVAILABLE ("no CUDA device") instead of crashing', () => {
    const calls: Array<[string, () => unknown]> = [
      ['preprocess', () => cuda().preprocess(new Uint8Array(56 * 56 * 3), { width: 56, height: 56, format: 'rgb8' })],
      ['embed', () => cuda().embed({ file: '/nonexistent.safetensors', name: 'embedding', vocab: 4, hidden: 8, ids: Int32Array.of(1, 2) })],
      ['ropeTable', () => cuda().ropeTable({ ids: Int32Array.of(1, 2, 3), capacity: 8, headDim: 16, mropeSection: [2, 3, 3] })],
      ['sample', () => cuda().sample({ logits: new Float32Array(16), vocab: 16 })],
      ['expandLogits', () => cuda().expandLogits({ reduced: new Float32Array(2), map: Int32Array.of(0, 3), fullCount: 4 })],
    ];
    for (const [name, call] of calls) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(Error);
      expect((thrown as { name?: string }).name, name).toBe('TrtVlaError');
      expect((thrown as { code?: string }).code, name).toBe('ERR_BACKEND_UNAVAILABLE');
      expect((thrown as Error).message, name).toMatch(/^no CUDA device/);
    }
    // The process is still healthy: a later native call works.
    expect(native().buildInfo().backends).toContain('cpu');
  });
});

// ---------------------------------------------------------------------------------------------------
// Preprocessing: frame -> fp16 patches, bit-exact.

type Format = 'rgb8' | 'bgr8' | 'rgba8' | 'bgra8' | 'nv12';

/** Camera-like bytes (a gradient plus noise) for every byte of the frame, row padding included. */
function frameBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((i % 251) + Math.floor(random() * 96)) & 0xff;
  return out;
}

function frameLength(width: number, height: number, format: Format, stride: number): number {
  return format === 'nv12' ? (stride * height * 3) / 2 : stride * height;
}

function bytesPerPixel(format: Format): number {
  return format === 'nv12' ? 1 : format === 'rgba8' || format === 'bgra8' ? 4 : 3;
}

/** The rgba8 frame holding the same pixels as a bgra8 one (the CPU path has no bgra8). */
function bgraToRgba(data: Uint8Array, width: number, height: number, stride: number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * stride + x * 4;
      out[p] = data[p + 2]!;
      out[p + 2] = data[p]!;
    }
  }
  return out;
}

// Training-time regularisation of the Impromptu checkpoints (LLaMA-Factory image_max/min_pixels).
const regularized = { preResizeMaxPixels: 262144, preResizeMinPixels: 1024 };

describe.skipIf(!hasGpu)('CUDA preprocessing equals the CPU path bit for bit', () => {
  const sizes: Array<{ width: number; height: number; options?: Parameters<NativeCudaTesting['preprocess']>[2]; note: string }> = [
    { width: 56, height: 84, note: 'no resize' },
    { width: 97, height: 61, note: 'odd size, both axes resized' },
    { width: 100, height: 56, note: 'horizontal only' },
    { width: 56, height: 90, note: 'vertical only' },
    { width: 30, height: 22, note: 'upscaled to the minimum pixels' },
    { width: 160, height: 90, options: { maxPixels: 56 * 56 }, note: 'downscaled by the pixel bound' },
    { width: 1600, height: 900, options: regularized, note: 'nuScenes frame with the training regularisation (two resizes)' },
    { width: 20, height: 700, options: regularized, note: 'thin frame: minimum side of 28, then an identity smart resize' },
  ];
  const formats: Format[] = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'nv12'];

  for (const { width, height, options, note } of sizes) {
    for (const format of formats) {
      const w = format === 'nv12' ? width + (width % 2) : width;
      const h = format === 'nv12' ? height + (height % 2) : height;
      it(`${w}x${h} ${format} (${note})`, () => {
        const stride = w * bytesPerPixel(format) + (w % 3 === 0 ? 0 : 5); // padded rows where the width allows
        const data = frameBytes(frameLength(w, h, format, stride), w * 31 + h);
        const frame = { width: w, height: h, format, stride };
        const result = cuda().preprocess(data, frame, options);
        const gpu = value(result.gpu, 'GPU preprocessing');
        const cpu =
          format === 'bgra8'
            ? value(cuda().preprocess(bgraToRgba(data, w, h, stride), { ...frame, format: 'rgba8' }, options).cpu, 'CPU preprocessing')
            : value(result.cpu, 'CPU preprocessing');
        const [t, gh, gw] = result.grid;
        expect(t).toBe(1);
        expect(gpu.length).toBe(gh * gw * 1176);
        expectSameBits(gpu, cpu, `${w}x${h} ${format}`);
      });
    }
  }

  it('reads the frame in place (mapped pinned memory) and from a device copy alike', () => {
    const data = frameBytes(333 * 251 * 3, 9);
    const frame = { width: 333, height: 251, format: 'rgb8' as const };
    const mapped = value(cuda().preprocess(data, frame, { mapped: true }).gpu, 'mapped');
    const copied = value(cuda().preprocess(data, frame, { mapped: false }).gpu, 'device copy');
    expectSameBits(mapped, copied, 'mapped vs device copy');
  });

  it('runs the resize chain the CPU plans', () => {
    const result = cuda().preprocess(frameBytes(1600 * 900 * 3, 1), { width: 1600, height: 900, format: 'rgb8' }, regularized);
    // 1600x900 -> 682x384 (LLaMA-Factory), then smart resize to 672x392: 336 image tokens as in training.
    expect(result.resizes).toEqual([
      [682, 384],
      [672, 392],
    ]);
    expect(result.grid).toEqual([1, 28, 48]);
  });

  it('rejects an aspect ratio above 200 while planning the resizes, as the CPU path does', () => {
    // The check runs in vla::resizePlan, before either side, so the hook itself throws.
    expect(() => cuda().preprocess(new Uint8Array(3000 * 10 * 3), { width: 3000, height: 10, format: 'rgb8' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/aspect ratio/) }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Embedding gather with the image splice, bit-exact.

describe.skipIf(!hasGpu)('CUDA embedding splice equals the CPU path bit for bit', () => {
  let dir: string;
  const tables = new Map<string, { file: string; vocab: number; hidden: number }>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-cuda-embed-'));
    // hidden 64: 16-byte vectors; 34: 4-byte; 37: 2-byte (odd rows).
    for (const [vocab, hidden] of [
      [300, 64],
      [257, 34],
      [101, 37],
    ] as const) {
      const file = path.join(dir, `table-${vocab}x${hidden}.safetensors`);
      await native().writeRandomCheckpoint(file, [{ name: 'embedding', dtype: 'F16', shape: [vocab, hidden], init: 'normal', std: 1 }], vocab + hidden);
      tables.set(`${vocab}x${hidden}`, { file, vocab, hidden });
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function halves(count: number, seed: number): Uint16Array {
    const random = seededRandom(seed);
    // Finite halves of both signs (exponents 1..29), so every bit pattern class moves through the gather.
    return Uint16Array.from({ length: count }, () => (Math.floor(random() * 2) << 15) | ((1 + Math.floor(random() * 29)) << 10) | Math.floor(random() * 1024));
  }

  /** Text ids with runs of image pads (imagePad may lie outside the vocabulary, as in the real model). */
  function prompt(vocab: number, length: number, runs: number[], imagePad: number, seed: number): Int32Array {
    const random = seededRandom(seed);
    const ids: number[] = [];
    const gap = Math.max(1, Math.floor((length - runs.reduce((a, b) => a + b, 0)) / (runs.length + 1)));
    for (const run of runs) {
      for (let i = 0; i < gap; i++) ids.push(Math.floor(random() * vocab));
      for (let i = 0; i < run; i++) ids.push(imagePad);
    }
    while (ids.length < length) ids.push(Math.floor(random() * vocab));
    return Int32Array.from(ids);
  }

  const cases: Array<{ table: string; length: number; runs: number[]; imagePad: 'inside' | 'outside'; misalign?: boolean }> = [
    { table: '300x64', length: 40, runs: [6], imagePad: 'outside' },
    { table: '300x64', length: 2600, runs: [700, 900], imagePad: 'outside' }, // pads cross the 1024-token scan chunks
    { table: '300x64', length: 50, runs: [8, 8], imagePad: 'inside', misalign: true },
    { table: '257x34', length: 77, runs: [12], imagePad: 'inside' },
    { table: '101x37', length: 31, runs: [3, 5], imagePad: 'outside' },
    { table: '101x37', length: 9, runs: [], imagePad: 'outside' },
  ];
  it.each(cases)('$table, $length tokens, image runs $runs (pad id $imagePad the vocabulary)', ({ table, length, runs, imagePad, misalign }) => {
    const t = tables.get(table)!;
    const pad = imagePad === 'inside' ? t.vocab - 1 : 151655;
    const imageRows = runs.reduce((a, b) => a + b, 0);
    const ids = prompt(imagePad === 'inside' ? t.vocab - 1 : t.vocab, length, runs, pad, length);
    const image = halves(imageRows * t.hidden, imageRows + 1);
    const result = cuda().embed({ file: t.file, name: 'embedding', vocab: t.vocab, hidden: t.hidden, ids, imageTokenId: pad, image, imageRows, misalign });
    const gpu = value(result.gpu, 'GPU embedding');
    expect(gpu.length).toBe(length * t.hidden);
    expectSameBits(gpu, value(result.cpu, 'CPU embedding'), table);
  });

  it('handles an empty prompt', () => {
    const t = tables.get('101x37')!;
    const result = cuda().embed({ file: t.file, name: 'embedding', vocab: t.vocab, hidden: t.hidden, ids: new Int32Array(0) });
    expect(value(result.gpu, 'GPU').length).toBe(0);
    expect(value(result.cpu, 'CPU').length).toBe(0);
  });

  it('reports bad ids and image-row mismatches with the CPU messages', () => {
    const t = tables.get('300x64')!;
    const pad = 151655;
    const image = halves(4 * t.hidden, 3);
    const run = (ids: number[], imageRows: number) =>
      cuda().embed({ file: t.file, name: 'embedding', vocab: t.vocab, hidden: t.hidden, ids: Int32Array.from(ids), imageTokenId: pad, image: image.subarray(0, imageRows * t.hidden), imageRows });
    const bad: Array<[string, number[], number]> = [
      ['an id past the vocabulary', [1, 2, 300, 4], 0],
      ['a negative id', [1, -1, 2], 0],
      ['more pads than image rows', [1, pad, pad, pad, 2], 2],
      ['fewer pads than image rows', [1, pad, 2], 4],
      ['a bad id before the excess pad', [1, 999, pad, pad], 1],
      ['an excess pad before a bad id', [1, pad, pad, 999], 1],
    ];
    for (const [what, ids, rows] of bad) {
      const r = run(ids, rows);
      expectSameError(r.gpu, r.cpu, what);
      expect((r.gpu as Error & { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// M-RoPE cos/sin table.

describe.skipIf(!hasGpu)('CUDA M-RoPE table equals the CPU path', () => {
  const pad = 151655;
  const text = (n: number, from = 100) => Array.from({ length: n }, (_, i) => from + i);
  const cases: Array<{ name: string; ids: number[]; grids: [number, number, number][]; capacity: number; headDim: number; section: [number, number, number]; rows?: [number, number] }> = [
    { name: 'text only, Qwen2.5-VL-3B rotary (128, [16, 24, 24])', ids: text(17), grids: [], capacity: 4096, headDim: 128, section: [16, 24, 24] },
    {
      name: 'two images, odd capacity',
      ids: [...text(5), ...Array(6).fill(pad), ...text(3), ...Array(8).fill(pad), ...text(4)],
      grids: [
        [1, 4, 6],
        [1, 8, 4],
      ],
      capacity: 301,
      headDim: 128,
      section: [16, 24, 24],
    },
    {
      name: 'tiny model rotary (32, [4, 6, 6]), a row window',
      ids: [...text(3), ...Array(336).fill(pad), ...text(40)],
      grids: [[1, 28, 48]],
      capacity: 1000,
      headDim: 32,
      section: [4, 6, 6],
      rows: [379, 777],
    },
    { name: 'one section empty', ids: text(9), grids: [], capacity: 64, headDim: 16, section: [0, 4, 4] },
  ];
  it.each(cases)('$name', ({ ids, grids, capacity, headDim, section, rows }) => {
    const result = cuda().ropeTable({
      ids: Int32Array.from(ids),
      capacity,
      imageTokenId: pad,
      grids,
      mergeSize: 2,
      headDim,
      mropeSection: section,
      theta: 1000000,
      rowBegin: rows?.[0],
      rowEnd: rows?.[1],
    });
    const gpu = value(result.gpu, 'GPU rope table');
    const cpu = value(result.cpu, 'CPU rope table');
    expect(gpu.length).toBe(capacity * headDim);
    let worst = 0;
    for (let i = 0; i < gpu.length; i++) {
      const d = Math.abs(gpu[i]! - cpu[i]!);
      if (!(d <= worst)) worst = d; // NaN propagates into worst and fails below
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    if (rows) {
      // Rows outside the window are untouched on both sides.
      expect(gpu[rows[0] * headDim - 1]).toBe(-7);
      expect(gpu[rows[1] * headDim]).toBe(-7);
    }
  });

  it('rejects a section that does not sum to headDim / 2 on the device side', () => {
    const result = cuda().ropeTable({ ids: Int32Array.from(text(4)), capacity: 8, headDim: 16, mropeSection: [2, 2, 2] });
    expect(result.gpu).toBeInstanceOf(Error);
    expect((result.gpu as Error & { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
    expect(result.cpu).toBeInstanceOf(Error); // the CPU path treats it as an internal error
  });
});

// ---------------------------------------------------------------------------------------------------
// Sampling: the same tokens and penalised logits as the CPU sampler, step after step.

/** Logits like a decoder's: roughly normal, with exact ties, signed zeros and a few -inf. */
function logitRows(vocab: number, steps: number, seed: number, scale = 4): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(vocab * steps);
  for (let i = 0; i < out.length; i++) {
    const u = random();
    if (u < 0.01) out[i] = -Infinity;
    else if (u < 0.03) out[i] = random() < 0.5 ? -0 : 0;
    else if (u < 0.2) out[i] = Math.round((random() - 0.5) * scale * 4) / 2; // many exact ties
    else out[i] = (random() + random() + random() - 1.5) * scale;
  }
  return out;
}

function expectSameRun(result: { gpu: NativeSampleRun | Error; cpu: NativeSampleRun | Error }, what: string): NativeSampleRun {
  const cpu = value(result.cpu, `CPU sampler (${what})`);
  const gpu = value(result.gpu, `GPU sampler (${what})`);
  expect(Array.from(gpu.tokens), `${what}: tokens`).toEqual(Array.from(cpu.tokens));
  expectSameBits(gpu.logits, cpu.logits, `${what}: penalised logits`);
  return gpu;
}

describe.skipIf(!hasGpu)('CUDA sampling equals the CPU sampler', () => {
  const configs: Array<{ name: string; temperature?: number; topK?: number; topP?: number; repetitionPenalty?: number }> = [
    { name: 'greedy' },
    { name: 'greedy through top-k 1', temperature: 0.8, topK: 1 },
    { name: 'temperature 0.7, top-k 40', temperature: 0.7, topK: 40 },
    { name: 'top-p 0.9, no top-k', temperature: 1, topP: 0.9 },
    { name: 'no limits', temperature: 1.3 },
    { name: 'top-k 5, top-p 0.5', temperature: 0.9, topK: 5, topP: 0.5 },
    { name: 'greedy with repetition penalty', repetitionPenalty: 1.3 },
    { name: 'penalty, top-k 50, top-p 0.95', temperature: 0.9, topK: 50, topP: 0.95, repetitionPenalty: 1.15 },
  ];
  const vocabs = [37, 1000, 151936];

  for (const vocab of vocabs) {
    for (const config of configs) {
      it(`vocab ${vocab}: ${config.name}`, () => {
        const steps = vocab > 10000 ? 4 : 24;
        const random = seededRandom(vocab);
        const prompt = Int32Array.from({ length: 20 }, () => Math.floor(random() * vocab));
        for (const seed of [0, 1, 12345]) {
          const logits = logitRows(vocab, steps, seed + vocab);
          expectSameRun(cuda().sample({ logits, vocab, steps, prompt, seed, ...config }), `${config.name}, seed ${seed}`);
        }
      });
    }
  }

  it.each(configs)('grammar mask: $name', (config) => {
    const vocab = 5000;
    const steps = 16;
    const random = seededRandom(99);
    // An unsorted allowed list, as a grammar state's token list may be; and one of a single token.
    const allowed = Int32Array.from(new Set(Array.from({ length: 60 }, () => Math.floor(random() * vocab))));
    const prompt = Int32Array.from(allowed.subarray(0, 10));
    for (const list of [allowed, Int32Array.of(4321)]) {
      for (const seed of [3, 4]) {
        const logits = logitRows(vocab, steps, seed);
        // A lone allowed token needs a score at every step: all -inf is no score, an error (tested below).
        if (list.length === 1) for (let step = 0; step < steps; step++) if (logits[step * vocab + list[0]!] === -Infinity) logits[step * vocab + list[0]!] = 0;
        const run = expectSameRun(cuda().sample({ logits, vocab, steps, allowed: list, prompt, seed, ...config }), `${config.name}, ${list.length} allowed`);
        for (const token of run.tokens) expect(Array.from(list)).toContain(token);
      }
    }
  });

  it('greedy skips NaN and -inf exactly like the CPU, and fails like it when no candidate has a score', () => {
    const vocab = 300;
    const logits = logitRows(vocab, 2, 5);
    for (let i = 0; i < logits.length; i += 3) logits[i] = NaN;
    expectSameRun(cuda().sample({ logits, vocab, steps: 2 }), 'some NaN');
    const nan = new Float32Array(vocab).fill(NaN);
    const allowed = Int32Array.of(5, 7, 9);
    const r = cuda().sample({ logits: nan, vocab, allowed });
    expectSameError(r.gpu, r.cpu, 'all NaN');
    // All -inf is no score either (a grammar denies tokens by setting them to -inf).
    const inf = cuda().sample({ logits: new Float32Array(vocab).fill(-Infinity), vocab, allowed: Int32Array.of(9, 7, 5) });
    expectSameError(inf.gpu, inf.cpu, 'all -inf');
    expect((inf.gpu as Error).message).toMatch(/no usable scores/);
  });

  // Sampled steps refuse the same logits as greedy, on both paths (issue 12: they used to draw a token).
  it.each([
    ['temperature 1', { temperature: 1 }],
    ['top-k 3', { temperature: 0.8, topK: 3 }],
    ['top-p 0.5', { temperature: 1.2, topP: 0.5 }],
  ] as const)('sampled (%s): NaN and -inf are never drawn; none usable fails like greedy', (_, config) => {
    const vocab = 300;
    const logits = logitRows(vocab, 4, 11);
    for (let i = 0; i < logits.length; i += 3) logits[i] = i % 2 ? NaN : -NaN;
    const run = expectSameRun(cuda().sample({ logits, vocab, steps: 4, seed: 5, ...config }), 'some NaN');
    run.tokens.forEach((token, step) => expect(Number.isNaN(logits[step * vocab + token]!)).toBe(false));
    const mixed = new Float32Array(vocab).fill(NaN);
    for (let i = 0; i < vocab; i += 2) mixed[i] = -Infinity;
    for (const [what, row, allowed] of [
      ['all NaN', new Float32Array(vocab).fill(NaN), undefined],
      ['NaN and -inf', mixed, undefined],
      ['all NaN, masked', new Float32Array(vocab).fill(NaN), Int32Array.of(5, 7, 9)],
    ] as const) {
      const r = cuda().sample({ logits: row, vocab, allowed, ...config });
      expectSameError(r.gpu, r.cpu, what);
      expect((r.cpu as Error & { code?: string }).code).toBe('ERR_INTERNAL');
      expect((r.cpu as Error).message).toMatch(/no usable scores/);
    }
    // One +inf logit: the softmax's limit puts all the probability on it, as greedy picks it.
    const spike = logitRows(vocab, 1, 12);
    spike[123] = Infinity;
    expect(Array.from(expectSameRun(cuda().sample({ logits: spike, vocab, seed: 9, ...config }), '+inf').tokens)).toEqual([123]);
  });

  it('fails like the CPU for an allowed id outside the vocabulary, greedy or not', () => {
    const vocab = 100;
    const logits = logitRows(vocab, 1, 8);
    for (const temperature of [0, 1]) {
      const r = cuda().sample({ logits, vocab, allowed: Int32Array.of(3, 100, 4, -2), temperature, topK: 2 });
      expectSameError(r.gpu, r.cpu, `temperature ${temperature}`);
      expect((r.gpu as Error & { code?: string }).code).toBe('ERR_INTERNAL');
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Reduced vocabularies: the engine's logits by reduced id, expanded to the tokenizer's ids.

describe.skipIf(!hasGpu)('CUDA reduced-vocabulary expansion equals the CPU path', () => {
  it('writes every reduced logit at its full id and leaves the rest at -inf', () => {
    const fullCount = 151_936;
    // Every 7th id plus the last one (the map is strictly ascending), more than one grid's worth.
    const ids = Array.from({ length: Math.floor((fullCount - 1) / 7) + 1 }, (_, i) => i * 7);
    if (ids[ids.length - 1] !== fullCount - 1) ids.push(fullCount - 1);
    const map = Int32Array.from(ids);
    const reduced = Float32Array.from(map, (id, r) => (r % 2 === 0 ? 1 : -1) * (id / 1000 + 0.25));
    reduced[3] = Number.NaN; // copied through, not filtered
    const r = cuda().expandLogits({ reduced, map, fullCount });
    const gpu = value(r.gpu, 'GPU expansion');
    expectSameBits(gpu, value(r.cpu, 'CPU expansion'), 'expanded logits');
    expect(gpu[7 * 5]).toBe(reduced[5]);
    expect(gpu[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(gpu[fullCount - 1]).toBe(reduced[map.length - 1]);
    expect(Number.isNaN(gpu[21])).toBe(true);
  });

  it('rejects a map that is not strictly ascending inside the vocabulary, before any launch', () => {
    for (const map of [Int32Array.of(0, 5, 5), Int32Array.of(0, 5, 8)]) {
      let thrown: unknown;
      try {
        cuda().expandLogits({ reduced: new Float32Array(3), map, fullCount: 8 });
      } catch (error) {
        thrown = error;
      }
      expect((thrown as { code?: string }).code, map.join(',')).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});
