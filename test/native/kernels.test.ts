// Every SIMD kernel equals its reference (and the reference equals an independent JS computation).
import { describe, expect, it } from 'vitest';

import { TrtVlaError } from '../../lib/index.js';
import {
  dequantizeQ8,
  dequantizeQ8Weights,
  expectClose,
  expectSentinels,
  halfToNumber,
  matmulF64,
  Rng,
  TOLERANCE,
  unpad,
  untileQ8,
} from '../helpers/kernels.js';
import { type AwqTensors, type Q4Handle, type Q8Handle, testing } from '../helpers/native.js';


function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('fp16 / bf16 conversion kernels', () => {
  const levels = testing().simdLevels();
  const allHalves = Uint16Array.from({ length: 65536 }, (_, i) => i);

  it.each(levels)('halfToFloat (%s) is exact for all 65536 halves', (level) => {
    const out = testing().convert('halfToFloat', allHalves, level);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (!sameFloat(out[i]!, halfToNumber(i))) mismatches++;
    expect(mismatches).toBe(0);
  });

  it.each(levels)('floatToHalf (%s) round-trips every half and matches the reference on odd sizes', (level) => {
    const floats = testing().convert('halfToFloat', allHalves, 'scalar');
    const back = testing().convert('floatToHalf', floats, level);
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isNaN) expect((back[i]! & 0x7c00) === 0x7c00 && (back[i]! & 0x3ff) !== 0).toBe(true);
      else if (back[i] !== i) expect.fail(`half 0x${i.toString(16)} came back as 0x${back[i]!.toString(16)}`);
    }
    // Random bit patterns (all exponents, ties, subnormals), at a size that leaves a SIMD tail.
    const random = new Float32Array(100_003);
    const bits = new Uint32Array(random.buffer);
    let state = 12345;
    for (let i = 0; i < bits.length; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      bits[i] = (state ^ (state << 13)) >>> 0;
    }
    expect(testing().convert('floatToHalf', random, level)).toEqual(testing().convert('floatToHalf', random, 'scalar'));
  });

  it('floatToHalf rounds to nearest even, overflows to infinity, keeps subnormals', () => {
    const cases: Array<[number, number]> = [
      [1 + 2 ** -11, 0x3c00], // tie, rounds to even (down)
      [1 + 3 * 2 ** -11, 0x3c02], // tie, rounds to even (up)
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [-1e9, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [1.5 * 2 ** -25, 0x0001],
      [-0, 0x8000],
    ];
    for (const level of testing().simdLevels()) {
      const out = testing().convert('floatToHalf', Float32Array.from(cases.map((c) => c[0])), level);
      expect(Array.from(out), level).toEqual(cases.map((c) => c[1]));
    }
  });

  it.each(levels)('bf16ToFloat (%s) is exact', (level) => {
    const out = testing().convert('bf16ToFloat', allHalves, level);
    const view = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < 65536; i += 1) {
      view.setUint32(0, i << 16);
      if (!sameFloat(out[i]!, view.getFloat32(0))) expect.fail(`bf16 0x${i.toString(16)}`);
    }
  });
});

// ---- Int4 formats and matmul kernels --------------------------------------------------------------

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrtVlaError);
    expect((e as TrtVlaError).code).toBe(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

/** Activations like a transformer's: Gaussian with a few large outliers. */
function activations(rng: Rng, n: number): Float32Array {
  return rng.floats(n, (r) => (r.next() < 0.01 ? 8 : 1) * r.gauss());
}

interface Q4Case {
  rows: number;
  cols: number;
  awq: AwqTensors;
  dequantized: Float32Array; // [rows][cols]
  handle: Q4Handle;
}

function q4Case(rows: number, cols: number, seed: number): Q4Case {
  const rng = new Rng(seed);
  const w = rng.floats(rows * cols, (r) => 0.05 * r.gauss());
  const awq = testing().awqQuantize(w, rows, cols);
  const dequantized = testing().awqDequantize(awq.qweight, awq.qzeros, awq.scales, cols, rows);
  return { rows, cols, awq, dequantized, handle: testing().q4Repack(awq.qweight, awq.qzeros, awq.scales, cols, rows, 2) };
}

describe('quantizeQ8', () => {
  const levels = testing().simdLevels();
  const rng = new Rng(7);
  const k = 1152;
  const x = activations(rng, 3 * k);
  x.fill(0, 64, 96); // an all-zero block
  for (let i = 160; i < 192; i++) x[i] = (i % 3) * 1e-38 * (i % 2 ? 1 : -1); // tiny (subnormal) block: zeros
  x[200] = 3e38; // a huge but finite block
  x[k + 40] = NaN; // token 1, block 1
  x[2 * k + 500] = -Infinity; // token 2, block 15
  // span 32: the int8 LM head's activation blocks; 128: the int4 matmuls' (kernels.h, kQ4ActivationSpan).
  describe.each([32, 128])('span %i', (span) => {
    const ref = testing().quantizeQ8(x, k, 'scalar', span);

    it('the reference matches an independent computation', () => {
      for (let s = 0; s < x.length / span; s++) {
        const values = Array.from(x.subarray(s * span, s * span + span));
        const scales = Array.from(ref.scales.subarray((s * span) / 32, ((s + 1) * span) / 32));
        if (!values.every(Number.isFinite)) {
          for (const d of scales) expect(d, `span ${s}`).toBeNaN();
          expect(Array.from(ref.values.subarray(s * span, s * span + span))).toEqual(new Array(span).fill(0));
          continue;
        }
        const amax = Math.max(...values.map(Math.abs));
        const d = amax < Math.fround(1e-30) ? 0 : Math.fround(amax / 127); // kQ8TinyBlock
        expect(scales, `span ${s}: every block of 32 holds the span's scale`).toEqual(new Array(span / 32).fill(d));
        const id = d === 0 ? 0 : Math.fround(1 / d);
        for (let i = 0; i < span; i++) {
          const v = Math.fround(values[i]! * id);
          const rounded = (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v)) + 0; // half to even, no -0
          expect(ref.values[s * span + i]).toBe(rounded);
        }
      }
      expect(Math.min(...ref.values)).toBeGreaterThanOrEqual(-127);
      // blockSum: per 32 columns, the exact sum of the int8 values (0 where the span is non-finite).
      for (let b = 0; b < x.length / 32; b++) {
        let sum = 0;
        for (let i = b * 32; i < b * 32 + 32; i++) sum += ref.values[i]!;
        expect(ref.blockSums[b], `block ${b}`).toBe(sum);
      }
      // groupSum: per 128 columns, the dequantized values' sum (each span's exact int sum times its d).
      for (let g = 0; g < x.length / 128; g++) {
        let sum = 0;
        let size = 0;
        for (let i = g * 128; i < g * 128 + 128; i++) {
          sum += ref.values[i]! * ref.scales[Math.floor(i / 32)]!;
          size += Math.abs(ref.values[i]! * ref.scales[Math.floor(i / 32)]!);
        }
        if (Number.isNaN(sum)) expect(ref.groupSums[g], `group ${g}`).toBeNaN();
        else expect(Math.abs(ref.groupSums[g]! - sum), `group ${g}`).toBeLessThanOrEqual(1e-6 * size); // a few fp32 roundings
      }
    });

    it.each(levels)('%s: values, scales and block sums are bit-identical to the reference, group sums within fp32 order', (level) => {
      const q = testing().quantizeQ8(x, k, level, span);
      expect(q.values).toEqual(ref.values);
      expect(q.blockSums).toEqual(ref.blockSums);
      expect(Array.from(q.scales, (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(Array.from(ref.scales, (v) => (Number.isNaN(v) ? 'NaN' : v)));
      expectClose(q.groupSums, ref.groupSums, TOLERANCE.groupSum, `${level} groupSum`);
      expect(Number.isNaN(q.groupSums[k / 128])).toBe(true); // the NaN block's group
    });

    // forwardSwiGlu quantizes an MLP's activations in 128-column ranges on whichever thread completes them
    // (linear.cc): any cover of [0, k) by ranges, in any order, is the same buffer as one quantize.
    it.each(levels)('%s: column ranges in any order make up the same buffer as one quantize', (level) => {
      const whole = testing().quantizeQ8(x, k, level, span);
      const pieces = testing().quantizeQ8(x, k, level, span, Int32Array.of(768, 1152, 0, 128, 384, 768, 128, 384));
      expect(pieces.values).toEqual(whole.values);
      expect(pieces.blockSums).toEqual(whole.blockSums);
      expect(Array.from(pieces.scales, String)).toEqual(Array.from(whole.scales, String));
      expect(Array.from(pieces.groupSums, String)).toEqual(Array.from(whole.groupSums, String));
    });
  });

  it('rejects column ranges that are not 128-aligned or leave the vector', () => {
    for (const bad of [Int32Array.of(64, 192), Int32Array.of(0, 100), Int32Array.of(128, 1280), Int32Array.of(256, 128)]) {
      expect(() => testing().quantizeQ8(x, k, 'scalar', 128, bad)).toThrow(/128-aligned columns/);
    }
  });
});

describe('AutoAWQ formats', () => {
  it('decodes the AutoAWQ nibble order {0,2,4,6,1,3,5,7} (hand-checked example)', () => {
    // One word per input row: nibble i = i, so column kAwqOrder[i] holds i. Expected per column n:
    // n=0 nibble 0, n=1 nibble 4, n=2 nibble 1, n=3 nibble 5, n=4 nibble 2, n=5 nibble 6, n=6 nibble 3, n=7 nibble 7.
    const K = 128;
    const qweight = new Int32Array(K).fill(0x76543210);
    const qzeros = Int32Array.of(0x00000010); // nibble 1 = 1 -> column 2 has zero point 1
    const scales = Uint16Array.from({ length: 8 }, (_, n) => [0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700, 0x4800][n]!); // 1..8
    const w = testing().awqDequantize(qweight, qzeros, scales, K, 8);
    const expected = [0, 4, 1 - 1, 5, 2, 6, 3, 7].map((q, n) => q * (n + 1));
    for (let n = 0; n < 8; n++) expect(Array.from(w.subarray(n * K, n * K + K)), `column ${n}`).toEqual(new Array(K).fill(expected[n]));

    // The repacked kernel computes the same: a one-hot activation reads column k of every row.
    const handle = testing().q4Repack(qweight, qzeros, scales, K, 8);
    const x = new Float32Array(K);
    x[37] = 1;
    const y = unpad(testing().matmulQ4(handle, x, 1, 'scalar'), 1, 8);
    for (let n = 0; n < 8; n++) expect(y[n]).toBeCloseTo(expected[n]!, 5);
  });

  it('repacks into the documented tile layout (kernels.h)', () => {
    const c = q4Case(16, 256, 3);
    const nibbles = testing().q4Nibbles(c.handle);
    const scales = Array.from(c.awq.scales, halfToNumber);
    // Recover q from the layout formula and check (q - zero) * scale against the dequantized AutoAWQ.
    let checked = 0;
    for (let r = 0; r < c.rows; r++) {
      const [tile, lane] = [Math.floor(r / 8), r % 8];
      for (let col = 0; col < c.cols; col++) {
        const block = Math.floor(col / 32);
        const quad = Math.floor((col % 32) / 4);
        const byte = nibbles[(tile * (c.cols / 32) + block) * 128 + (quad % 4) * 32 + lane * 4 + (col % 4)]!;
        const q = quad < 4 ? byte & 15 : byte >> 4;
        const g = Math.floor(col / 128);
        const zeroWord = c.awq.qzeros[g * (c.rows / 8) + Math.floor(r / 8)]!;
        const zero = (zeroWord >>> (4 * [0, 4, 1, 5, 2, 6, 3, 7][r % 8]!)) & 15;
        expect((q - zero) * scales[g * c.rows + r]!).toBe(c.dequantized[r * c.cols + col]);
        checked++;
      }
    }
    expect(checked).toBe(16 * 256);
  });

  it('quantizeRtnAwq round-trips within half a step, including awkward groups', () => {
    const rng = new Rng(11);
    const N = 16;
    const K = 384;
    const w = rng.floats(N * K, (r) => r.gauss());
    const group = (n: number, g: number, f: (i: number) => number) => {
      for (let i = 0; i < 128; i++) w[n * K + g * 128 + i] = f(i);
    };
    group(0, 0, () => 0); // all zero
    group(1, 1, () => 2.5); // all equal, positive
    group(2, 2, () => -0.75); // all equal, negative
    group(3, 0, (i) => 10 + i / 128); // range away from 0
    group(4, 1, (i) => 1e-6 * Math.sin(i)); // tiny: fp16 subnormal scales
    group(5, 2, (i) => 3000 * Math.cos(i)); // large
    const awq = testing().awqQuantize(w, N, K);
    const deq = testing().awqDequantize(awq.qweight, awq.qzeros, awq.scales, K, N);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const scale = halfToNumber(awq.scales[Math.floor(k / 128) * N + n]!);
        const error = Math.abs(w[n * K + k]! - deq[n * K + k]!);
        if (!(error <= TOLERANCE.rtnHalfStep * scale)) expect.fail(`[${n}, ${k}] error ${error} > scale / 2 = ${scale / 2}`);
      }
    }
    expect(Array.from(deq.subarray(0, 128))).toEqual(new Array(128).fill(0));
  });

  it('rejects bad shapes and non-finite weights with coded errors', () => {
    expectCode(() => testing().awqQuantize(new Float32Array(8 * 100), 8, 100), 'ERR_INVALID_ARGUMENT');
    expectCode(() => testing().awqQuantize(Float32Array.from({ length: 8 * 128 }, (_, i) => (i === 9 ? NaN : 0)), 8, 128), 'ERR_INVALID_ARGUMENT');
    const bad = (K: number, N: number) => () => {
      const groups = Math.floor(K / 128); // array sizes as the hook computes them, so the shape check is repackAwq's
      return testing().q4Repack(new Int32Array(Math.floor((K * N) / 8)), new Int32Array(Math.floor((groups * N) / 8)), new Uint16Array(groups * N), K, N);
    };
    expectCode(bad(100, 8), 'ERR_MODEL_LOAD');
    expectCode(bad(128, 12), 'ERR_MODEL_LOAD');
    expectCode(bad(0, 8), 'ERR_MODEL_LOAD');
  });
});

describe('matmulQ4', () => {
  const levels = testing().simdLevels();
  // Row counts are AWQ's (multiples of 8); odd row ranges exercise partial tiles.
  const shapes: Array<[rows: number, cols: number]> = [
    [8, 128],
    [16, 256],
    [72, 1152],
    [40, 2048],
    [56, 256],
  ];
  // 33 = 4 x 8 + 1 and 14 = 8 + 6: whole and partial token tiles of every level (AVX2 tiles 6 tokens,
  // AVX-512 8 per tile pair and 4 per group of four tiles); shapes with 1, 2, 5, 7 and 9 row tiles give the
  // AVX-512 GEMM's four-tile groups, the tile pairs after them and its odd last tile.
  // 2-8 tokens: every instantiation of the AVX-512 few-token path (speculative verify calls).
  const tokenCounts = [1, 2, 3, 4, 5, 6, 7, 8, 14, 33];
  const cases = shapes.map(([rows, cols], i) => q4Case(rows, cols, 100 + i));

  it.each(cases.map((c) => [`${c.rows}x${c.cols}`, c] as const))('%s: the reference equals the int4 math and the fp32 product', (_, c) => {
    const rng = new Rng(c.rows * 31 + c.cols);
    const tokens = 7;
    const x = activations(rng, tokens * c.cols);
    const y = unpad(testing().matmulQ4(c.handle, x, tokens, 'scalar'), tokens, c.rows);
    const xq = dequantizeQ8(testing().quantizeQ8(x, c.cols, 'scalar', 128));
    expectClose(y, matmulF64(c.dequantized, c.rows, c.cols, xq, tokens), TOLERANCE.q4ExactMath, 'vs exact int4 x int8 math');
    expectClose(y, matmulF64(c.dequantized, c.rows, c.cols, x, tokens), TOLERANCE.q4ActivationQ8, 'vs dequantized W x fp32 x');
  });

  it.each(levels)('%s equals the reference on every shape, token count and odd row range', (level) => {
    for (const c of cases) {
      for (const tokens of tokenCounts) {
        const x = activations(new Rng(tokens * 1000 + c.cols), tokens * c.cols);
        const ranges: Array<[number, number]> = [[0, c.rows], [3, c.rows - 2], [c.rows - 1, c.rows]];
        for (const [rowBegin, rowEnd] of ranges) {
          const what = `${level} ${c.rows}x${c.cols} tokens ${tokens} rows [${rowBegin}, ${rowEnd})`;
          const y = testing().matmulQ4(c.handle, x, tokens, level, { rowBegin, rowEnd });
          const ref = testing().matmulQ4(c.handle, x, tokens, 'scalar', { rowBegin, rowEnd });
          expectSentinels(y, tokens, c.rows, rowBegin, rowEnd, what);
          const got = unpad(y, tokens, c.rows, rowBegin, rowEnd);
          expect(got.every(Number.isFinite), what).toBe(true);
          expectClose(got, unpad(ref, tokens, c.rows, rowBegin, rowEnd), TOLERANCE.floatOrder, what);
        }
      }
    }
  });

  // The AVX-512 kernel replaces AVX2's integer steps (vpmaddubsw chains) with VPDPBUSD but keeps its float
  // steps lane for lane, so the two agree bit for bit, a tighter check than floatOrder against the reference.
  it.runIf(levels.includes('avx512'))('avx512 equals avx2 bit for bit on every shape, token count and odd row range', () => {
    for (const c of cases) {
      for (const tokens of tokenCounts) {
        const x = activations(new Rng(tokens * 1000 + c.cols), tokens * c.cols);
        for (const [rowBegin, rowEnd] of [[0, c.rows], [3, c.rows - 2], [c.rows - 1, c.rows], [8, c.rows]] as const) {
          if (rowBegin >= rowEnd) continue;
          const what = `${c.rows}x${c.cols} tokens ${tokens} rows [${rowBegin}, ${rowEnd})`;
          const y = testing().matmulQ4(c.handle, x, tokens, 'avx512', { rowBegin, rowEnd });
          expect(y, what).toEqual(testing().matmulQ4(c.handle, x, tokens, 'avx2', { rowBegin, rowEnd }));
        }
      }
    }
  });

  it.each(levels)('%s: thread count, split and batch size never change a result (bit-exact)', (level) => {
    const c = cases[2]!;
    const tokens = 33;
    const x = activations(new Rng(5), tokens * c.cols);
    const one = testing().matmulQ4(c.handle, x, tokens, level, { threads: 1 });
    expect(testing().matmulQ4(c.handle, x, tokens, level, { threads: 2 })).toEqual(one);
    expect(testing().matmulQ4(c.handle, x, tokens, level, { threads: 3, grain: 3 })).toEqual(one); // splits inside tiles
    const alone = testing().matmulQ4(c.handle, x.subarray(5 * c.cols, 6 * c.cols), 1, level);
    expect(unpad(alone, 1, c.rows)).toEqual(unpad(one, tokens, c.rows).subarray(5 * c.rows, 6 * c.rows));
  });

  it.each(levels)('%s: a non-finite activation makes its token NaN, and only its token', (level) => {
    const c = cases[1]!;
    const x = activations(new Rng(9), 3 * c.cols);
    x[c.cols + 17] = Infinity;
    x[2 * c.cols + 200] = NaN;
    const y = unpad(testing().matmulQ4(c.handle, x, 3, level), 3, c.rows);
    expect(y.subarray(0, c.rows).every(Number.isFinite)).toBe(true);
    expect(y.subarray(c.rows).every(Number.isNaN)).toBe(true);
  });

  it('repacking on a thread pool gives the same layout', () => {
    const c = cases[3]!;
    const serial = testing().q4Repack(c.awq.qweight, c.awq.qzeros, c.awq.scales, c.cols, c.rows, 1);
    expect(testing().q4Nibbles(serial)).toEqual(testing().q4Nibbles(c.handle));
  });
});

// ---- Int8 weights (the LM head) --------------------------------------------------------------------

interface Q8Case {
  rows: number;
  cols: number;
  w: Float32Array; // [rows][cols], the original weights
  dequantized: Float64Array; // [rows][cols]
  handle: Q8Handle;
}

function q8Case(rows: number, cols: number, seed: number): Q8Case {
  const w = new Rng(seed).floats(rows * cols, (r) => 0.05 * r.gauss()); // an embedding row's scale
  const handle = testing().q8Quantize('f32', w, rows, cols, 2);
  return { rows, cols, w, dequantized: dequantizeQ8Weights(untileQ8(testing().q8Layout(handle), rows, cols), rows, cols), handle };
}

/** The smallest half >= v (v > 0), as bits. */
function halfAtLeast(v: number): number {
  let h = 0;
  for (let step = 0x4000; step >= 1; step >>= 1) if (halfToNumber(h + step) < v) h += step;
  return h + 1;
}

describe('int8 weights (q8Quantize)', () => {
  it('round-trips within half a step, with the smallest fp16 scale covering max|w| / 127, in the documented layout', () => {
    const [rows, cols] = [13, 256]; // a partial last tile
    const rng = new Rng(31);
    const w = rng.floats(rows * cols, (r) => r.gauss());
    const block = (r: number, b: number, f: (i: number) => number) => {
      for (let i = 0; i < 32; i++) w[r * cols + b * 32 + i] = f(i);
    };
    block(0, 0, () => 0); // all zero: scale 0
    block(1, 1, () => 2.5); // all equal
    block(2, 2, (i) => (i === 7 ? -3 : 0.001 * i)); // one dominant negative value
    block(3, 3, (i) => 1e-9 * Math.sin(i + 1)); // tiny: the scale is the smallest fp16 subnormal
    block(4, 4, (i) => 60000 * Math.cos(i)); // large
    block(5, 5, (i) => (i % 2 ? 0.5 : -0.5) * (1 + i / 64)); // many values near ties
    const layout = testing().q8Layout(testing().q8Quantize('f32', w, rows, cols));
    expect(layout.values.length).toBe(2 * (cols / 32) * 256);
    const { q, scales } = untileQ8(layout, rows, cols);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < cols / 32; b++) {
        const values = Array.from(w.subarray(r * cols + b * 32, r * cols + b * 32 + 32));
        const amax = Math.max(...values.map(Math.abs));
        const bits = scales[r * (cols / 32) + b]!;
        if (amax === 0) {
          expect(bits, `[${r}, ${b}] zero block`).toBe(0);
        } else {
          expect(bits, `[${r}, ${b}] scale`).toBe(halfAtLeast(Math.fround(amax / 127)));
        }
        const d = halfToNumber(bits);
        for (let i = 0; i < 32; i++) {
          const code = q[r * cols + b * 32 + i]!;
          expect(Math.abs(code)).toBeLessThanOrEqual(127);
          const error = Math.abs(values[i]! - code * d);
          if (!(error <= TOLERANCE.q8HalfStep * d)) expect.fail(`[${r}, ${b * 32 + i}] error ${error} > d / 2 = ${d / 2}`);
        }
      }
    }
    // Padding rows of the last tile stay zero.
    for (let b = 0; b < cols / 32; b++) {
      const at = 1 * (cols / 32) + b;
      for (let lane = rows % 8; lane < 8; lane++) {
        expect(layout.scales[at * 8 + lane]).toBe(0);
        for (let i = 0; i < 8; i++) for (let j = 0; j < 4; j++) expect(layout.values[at * 256 + i * 32 + lane * 4 + j]).toBe(0);
      }
    }
  });

  it('gives the same codes from fp16, bf16 and fp32 copies of the same values, and on any thread count', () => {
    const [rows, cols] = [21, 384];
    const f32 = new Rng(5).floats(rows * cols, (r) => 0.05 * r.gauss());
    const f16 = testing().convert('floatToHalf', f32, 'scalar');
    const fromHalf = testing().convert('halfToFloat', f16, 'scalar');
    const bf16 = Uint16Array.from(new Uint32Array(f32.buffer.slice(0)), (bits) => bits >>> 16);
    const fromBf16 = testing().convert('bf16ToFloat', bf16, 'scalar');
    const layout = (type: 'f32' | 'f16' | 'bf16', w: Float32Array | Uint16Array, threads = 1) => testing().q8Layout(testing().q8Quantize(type, w, rows, cols, threads));
    expect(layout('f16', f16)).toEqual(layout('f32', fromHalf));
    expect(layout('bf16', bf16)).toEqual(layout('f32', fromBf16));
    expect(layout('f32', f32, 3)).toEqual(layout('f32', f32, 1));
  });

  it('turns a block holding Inf or NaN into a NaN scale, making that row NaN and no other', () => {
    const [rows, cols] = [16, 256];
    const w = new Rng(9).floats(rows * cols, (r) => 0.05 * r.gauss());
    w[3 * cols + 40] = Infinity; // row 3, block 1
    w[9 * cols + 255] = NaN; // row 9, block 7
    const handle = testing().q8Quantize('f32', w, rows, cols);
    const { q, scales } = untileQ8(testing().q8Layout(handle), rows, cols);
    expect(scales[3 * 8 + 1]).toBe(0x7e00);
    expect(scales[9 * 8 + 7]).toBe(0x7e00);
    expect(Array.from(q.subarray(3 * cols + 32, 3 * cols + 64))).toEqual(new Array(32).fill(0));
    for (const level of testing().simdLevels()) {
      const y = unpad(testing().matmulQ8(handle, new Rng(2).floats(2 * cols, (r) => r.gauss()), 2, level), 2, rows);
      for (let i = 0; i < y.length; i++) expect(Number.isNaN(y[i]), `${level} [${i}]`).toBe(i % rows === 3 || i % rows === 9);
    }
  });

  it('rejects bad shapes and weights too large for fp16 scales with coded errors', () => {
    expectCode(() => testing().q8Quantize('f32', new Float32Array(8 * 100), 8, 100), 'ERR_INVALID_ARGUMENT');
    expectCode(() => testing().q8Quantize('f32', Float32Array.from({ length: 8 * 128 }, (_, i) => (i === 9 ? 9e6 : 0)), 8, 128), 'ERR_INVALID_ARGUMENT');
    // 8e6 / 127 still fits (the largest half is 65504).
    expect(() => testing().q8Quantize('f32', Float32Array.from({ length: 8 * 128 }, (_, i) => (i === 9 ? 8e6 : 0)), 8, 128)).not.toThrow();
  });
});

describe('matmulQ8', () => {
  const levels = testing().simdLevels();
  // Odd row counts (partial tiles) next to whole tiles; cols as Q8 activations allow (multiples of 128).
  const shapes: Array<[rows: number, cols: number]> = [
    [1, 128],
    [8, 256],
    [37, 1152],
    [67, 2048],
  ];
  // Up to 17 = 2 x 8 + 1: whole and partial token tiles of AVX2 (4) and AVX-512 (8), where every count 1-8
  // is its own kernel (token pairs and an odd last token); 1, 5 and 9 row tiles give partial tiles.
  const tokenCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17];
  const cases = shapes.map(([rows, cols], i) => q8Case(rows, cols, 200 + i));

  it.each(cases.map((c) => [`${c.rows}x${c.cols}`, c] as const))('%s: the reference equals the int8 math and the fp32 product', (_, c) => {
    const tokens = 7;
    const x = activations(new Rng(c.rows * 17 + c.cols), tokens * c.cols);
    const y = unpad(testing().matmulQ8(c.handle, x, tokens, 'scalar'), tokens, c.rows);
    const xq = dequantizeQ8(testing().quantizeQ8(x, c.cols, 'scalar'));
    expectClose(y, matmulF64(c.dequantized, c.rows, c.cols, xq, tokens), TOLERANCE.q8ExactMath, 'vs exact int8 x int8 math');
    expectClose(y, matmulF64(c.w, c.rows, c.cols, x, tokens), TOLERANCE.q8WeightsAndActivations, 'vs fp32 W x fp32 x');
  });

  it.each(levels)('%s equals the reference bit for bit on every shape, token count and odd row range', (level) => {
    for (const c of cases) {
      for (const tokens of tokenCounts) {
        const x = activations(new Rng(tokens * 1000 + c.cols), tokens * c.cols);
        const ranges: Array<[number, number]> = [[0, c.rows], [Math.min(3, c.rows), Math.max(c.rows - 2, Math.min(3, c.rows))], [c.rows - 1, c.rows]];
        for (const [rowBegin, rowEnd] of ranges) {
          const what = `${level} ${c.rows}x${c.cols} tokens ${tokens} rows [${rowBegin}, ${rowEnd})`;
          const y = testing().matmulQ8(c.handle, x, tokens, level, { rowBegin, rowEnd });
          expectSentinels(y, tokens, c.rows, rowBegin, rowEnd, what);
          const got = unpad(y, tokens, c.rows, rowBegin, rowEnd);
          expect(got.every(Number.isFinite), what).toBe(true);
          expect(got, what).toEqual(unpad(testing().matmulQ8(c.handle, x, tokens, 'scalar', { rowBegin, rowEnd }), tokens, c.rows, rowBegin, rowEnd));
        }
      }
    }
  });

  it.each(levels)('%s: thread count, split and batch size never change a result (bit-exact)', (level) => {
    const c = cases[3]!;
    const tokens = 9;
    const x = activations(new Rng(5), tokens * c.cols);
    const one = testing().matmulQ8(c.handle, x, tokens, level, { threads: 1 });
    expect(testing().matmulQ8(c.handle, x, tokens, level, { threads: 2 })).toEqual(one);
    expect(testing().matmulQ8(c.handle, x, tokens, level, { threads: 3, grain: 3 })).toEqual(one); // splits inside tiles
    const alone = testing().matmulQ8(c.handle, x.subarray(5 * c.cols, 6 * c.cols), 1, level);
    expect(unpad(alone, 1, c.rows)).toEqual(unpad(one, tokens, c.rows).subarray(5 * c.rows, 6 * c.rows));
  });

  it.each(levels)('%s: a non-finite activation makes its token NaN, and only its token', (level) => {
    const c = cases[2]!;
    const x = activations(new Rng(9), 3 * c.cols);
    x[c.cols + 17] = Infinity;
    x[2 * c.cols + 200] = NaN;
    const y = unpad(testing().matmulQ8(c.handle, x, 3, level), 3, c.rows);
    expect(y.subarray(0, c.rows).every(Number.isFinite)).toBe(true);
    expect(y.subarray(c.rows).every(Number.isNaN)).toBe(true);
  });
});

describe('matmulDense, dotHalf, axpyHalf', () => {
  const levels = testing().simdLevels();
  const shapes: Array<[rows: number, cols: number]> = [
    [1, 5],
    [5, 37],
    [7, 128],
    [33, 1001],
    [6, 2048],
  ];
  const types = ['f32', 'f16', 'bf16'] as const;

  function weights(type: (typeof types)[number], n: number, rng: Rng): { w: Float32Array | Uint16Array; values: Float32Array } {
    const values = rng.floats(n, (r) => r.gauss());
    if (type === 'f32') return { w: values, values };
    if (type === 'f16') {
      const w = testing().convert('floatToHalf', values, 'scalar');
      return { w, values: testing().convert('halfToFloat', w, 'scalar') };
    }
    const w = Uint16Array.from(new Uint32Array(values.buffer), (bits) => bits >>> 16); // truncate to bf16
    return { w, values: testing().convert('bf16ToFloat', w, 'scalar') };
  }

  it.each(levels)('%s equals the reference (and fp64) for every type, odd shapes and token counts', (level) => {
    const rng = new Rng(21);
    for (const type of types) {
      for (const [rows, cols] of shapes) {
        const { w, values } = weights(type, rows * cols, rng);
        for (const tokens of [1, 3, 7]) {
          const what = `${level} ${type} ${rows}x${cols} tokens ${tokens}`;
          const x = rng.floats(tokens * cols, (r) => r.gauss());
          const [rowBegin, rowEnd] = rows > 2 ? [1, rows - 1] : [0, rows];
          const y = testing().matmulDense(type, w, rows, cols, x, tokens, level, { rowBegin, rowEnd });
          expectSentinels(y, tokens, rows, rowBegin, rowEnd, what);
          const ref = unpad(testing().matmulDense(type, w, rows, cols, x, tokens, 'scalar', { rowBegin, rowEnd }), tokens, rows, rowBegin, rowEnd);
          expectClose(unpad(y, tokens, rows, rowBegin, rowEnd), ref, TOLERANCE.floatOrder, what);
          const f64 = matmulF64(values, rows, cols, x, tokens);
          const f64Range = Float64Array.from({ length: tokens * (rowEnd - rowBegin) }, (_, i) => {
            const t = Math.floor(i / (rowEnd - rowBegin));
            return f64[t * rows + rowBegin + (i % (rowEnd - rowBegin))]!;
          });
          expectClose(ref, f64Range, TOLERANCE.floatOrder, `${what} reference vs fp64`);
        }
      }
    }
  });

  // kernels_avx512.cc keeps the AVX2 level's 8-lane accumulators (two tokens per zmm) and its reduction.
  it.runIf(levels.includes('avx512'))('avx512 equals avx2 bit for bit: every type, column tail and token count 1-9, 17', () => {
    const rng = new Rng(31);
    for (const type of types) {
      for (const [rows, cols] of [[5, 37], [9, 2048], [4, 64]] as const) {
        const { w } = weights(type, rows * cols, rng);
        for (const tokens of [1, 2, 3, 4, 5, 6, 7, 8, 9, 17]) {
          const x = rng.floats(tokens * cols, (r) => r.gauss());
          const options = { rowBegin: 1, rowEnd: rows };
          const a = testing().matmulDense(type, w, rows, cols, x, tokens, 'avx2', options);
          const b = testing().matmulDense(type, w, rows, cols, x, tokens, 'avx512', options);
          expect(b, `${type} ${rows}x${cols} tokens ${tokens}`).toEqual(a);
        }
      }
    }
  });

  it.each(levels)('%s: threads do not change results; Inf and NaN propagate like the reference', (level) => {
    const rng = new Rng(4);
    const [rows, cols, tokens] = [37, 1001, 4];
    const { w } = weights('f16', rows * cols, rng);
    const x = rng.floats(tokens * cols, (r) => r.gauss());
    const one = testing().matmulDense('f16', w, rows, cols, x, tokens, level);
    expect(testing().matmulDense('f16', w, rows, cols, x, tokens, level, { threads: 2, grain: 3 })).toEqual(one);
    x[cols + 3] = Infinity;
    x[2 * cols + 1000] = NaN; // in the column tail
    const y = testing().matmulDense('f16', w, rows, cols, x, tokens, level);
    expectClose(y, testing().matmulDense('f16', w, rows, cols, x, tokens, 'scalar'), TOLERANCE.floatOrder, level);
    expect(unpad(y, tokens, rows).subarray(rows, 3 * rows).every((v) => !Number.isFinite(v))).toBe(true);
  });

  it.each(levels)('%s: dotHalfRows and weightedSumHalf equal dotHalf and axpyHalf per row, bit for bit', (level) => {
    const rng = new Rng(9);
    for (const dim of [1, 7, 8, 24, 64, 72, 128, 131]) {
      for (const n of [1, 5, 33]) {
        const stride = dim + 3;
        const rows = testing().convert('floatToHalf', rng.floats(n * stride, (r) => r.gauss()), 'scalar');
        const q = rng.floats(dim, (r) => r.gauss());
        // softmax-like weights with masked (0) positions among them
        const w = rng.floats(n, (r) => (r.uniform() < 0.25 ? 0 : Math.abs(r.gauss()) / n));
        const { scores, sum } = testing().attentionRows(rows, stride, n, q, w, level);
        const expected = new Float32Array(dim);
        for (let t = 0; t < n; t++) {
          const row = rows.subarray(t * stride, t * stride + dim);
          expect(sameFloat(scores[t]!, testing().dotHalf(row, q, level)), `dotHalfRows dim ${dim} row ${t}`).toBe(true);
          if (w[t] !== 0) expected.set(testing().axpyHalf(w[t]!, row, expected, level));
        }
        for (let i = 0; i < dim; i++) {
          if (!sameFloat(sum[i]!, expected[i]!)) throw new Error(`${level} weightedSumHalf dim ${dim} n ${n} [${i}]: ${sum[i]} vs ${expected[i]}`);
        }
      }
    }
  });

  it.each(levels)('%s: several queries in one dotHalfRows / weightedSumHalf call give each query its one-query bits', (level) => {
    // The heads of one KV head share its rows; SIMD levels convert each row once for several queries (whole
    // and partial blocks of 4 or 8 at 16 and 19).
    const rng = new Rng(10);
    for (const dim of [24, 64, 72, 128]) {
      for (const queries of [2, 3, 4, 5, 7, 8, 9, 16, 19]) {
        const n = 37;
        const stride = dim + 5;
        const rows = testing().convert('floatToHalf', rng.floats(n * stride, (r) => r.gauss()), 'scalar');
        const q = rng.floats(queries * dim, (r) => r.gauss());
        const w = rng.floats(queries * n, (r) => (r.uniform() < 0.25 ? 0 : Math.abs(r.gauss()) / n));
        const all = testing().attentionRows(rows, stride, n, q, w, level, queries);
        for (let i = 0; i < queries; i++) {
          const one = testing().attentionRows(rows, stride, n, q.subarray(i * dim, (i + 1) * dim), w.subarray(i * n, (i + 1) * n), level);
          const label = `${level} dim ${dim} query ${i} of ${queries}`;
          expect(all.scores.subarray(i * n, (i + 1) * n).every((v, t) => sameFloat(v, one.scores[t]!)), `scores ${label}`).toBe(true);
          expect(all.sum.subarray(i * dim, (i + 1) * dim).every((v, c) => sameFloat(v, one.sum[c]!)), `sum ${label}`).toBe(true);
        }
      }
    }
  });

  it.each(levels)('%s: dotHalf and axpyHalf equal the reference for every length', (level) => {
    const rng = new Rng(8);
    for (const n of [1, 7, 8, 15, 16, 64, 128, 131]) {
      const k = testing().convert('floatToHalf', rng.floats(n, (r) => r.gauss()), 'scalar');
      const q = rng.floats(n, (r) => r.gauss());
      expectClose([testing().dotHalf(k, q, level)], [testing().dotHalf(k, q, 'scalar')], TOLERANCE.floatOrder, `dotHalf ${n}`);
      const kf = testing().convert('halfToFloat', k, 'scalar');
      let dot = 0;
      for (let i = 0; i < n; i++) dot += kf[i]! * q[i]!;
      expectClose([testing().dotHalf(k, q, 'scalar')], [dot], TOLERANCE.floatOrder, `dotHalf ${n} vs fp64`);
      const y = rng.floats(n, (r) => r.gauss());
      const ref = testing().axpyHalf(0.375, k, y, 'scalar');
      expectClose(testing().axpyHalf(0.375, k, y, level), ref, TOLERANCE.floatOrder, `axpyHalf ${n}`);
      expectClose(ref, Array.from(y, (v, i) => v + 0.375 * kf[i]!), TOLERANCE.floatOrder, `axpyHalf ${n} vs fp64`);
    }
  });
});

describe('siluMultiply', () => {
  const levels = testing().simdLevels();
  // Gates over the range an MLP produces and beyond the exponential's clamps, the clamp edges, signed
  // zeros, subnormals and non-finite values; lengths with every SIMD tail.
  const special = [0, -0, 1e-40, -1e-40, 1, -1, 20, -20, 86.9, 87, 87.1, -87.9, -88, -88.1, 100, -100, 1e30, -1e30, Infinity, -Infinity, NaN];
  function gates(n: number, rng: Rng): Float32Array {
    const g = rng.floats(n, (r) => r.gauss() * 4);
    for (let i = 0; i < n; i += 7) g[i] = special[(i / 7) % special.length]!;
    return g;
  }

  it.each(levels)('%s equals the reference bit for bit, every tail length and special value', (level) => {
    const rng = new Rng(21);
    for (const n of [1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 64, 127, 4864]) {
      const gate = gates(n, rng);
      const up = rng.floats(n, (r) => r.gauss());
      const ref = testing().siluMultiply(gate, up, 'scalar');
      const got = testing().siluMultiply(gate, up, level);
      for (let i = 0; i < n; i++) {
        if (!sameFloat(got[i]!, ref[i]!)) throw new Error(`${level} n=${n} [${i}] gate ${gate[i]}: ${got[i]} vs reference ${ref[i]}`);
      }
    }
  });

  it('the reference is silu to within 2e-7 relative (fp64 formula), exact limits at the clamps', () => {
    const rng = new Rng(22);
    const gate = new Float32Array(200_000);
    for (let i = 0; i < gate.length; i++) gate[i] = -90 + (180 * i) / gate.length + rng.gauss() * 1e-3;
    const up = new Float32Array(gate.length).fill(1);
    const out = testing().siluMultiply(gate, up, 'scalar');
    let worst = 0;
    for (let i = 0; i < gate.length; i++) {
      const g = gate[i]!;
      const exact = g / (1 + Math.exp(-g));
      if (g < -87) {
        // beyond the clamp exp(-g) stays at e^88: the result is tiny (|silu| < 1e-35) instead of tinier
        expect(Math.abs(out[i]!)).toBeLessThan(1e-35);
        continue;
      }
      worst = Math.max(worst, Math.abs(out[i]! - exact) / Math.max(Math.abs(exact), 1e-30));
    }
    expect(worst).toBeLessThan(2e-7);
    const edge = testing().siluMultiply(Float32Array.of(0, 90, 1e30, Infinity, NaN, -Infinity), new Float32Array(6).fill(2), 'scalar');
    expect(Array.from(edge.subarray(0, 4))).toEqual([0, 180, 2e30, Infinity].map((v) => Math.fround(v)));
    expect(Number.isNaN(edge[4]!)).toBe(true); // NaN gates stay NaN
    expect(edge[5]).toBe(-Infinity); // -Inf / (1 + e^88): the sign of the limit -Inf * 0 is kept, no NaN invented
  });
});


// The attention weights of one query (kernels.h softmax): one operation sequence at every level, so the bits
// match the reference; close to a float64 softmax; masked (-inf) scores get exactly 0 and a NaN score
// makes the row NaN, as libm's expf did.
describe('softmax', () => {
  const levels = testing().simdLevels();
  const scale = 0.125;
  it.each(levels)('%s: equals the reference bit for bit, tails, masked and extreme scores included', (level) => {
    const rng = new Rng(11);
    for (const n of [1, 3, 7, 8, 9, 15, 16, 17, 64, 100, 1029]) {
      const x = rng.floats(n, (r) => r.gauss() * 30);
      for (let i = 2; i < n; i += 5) x[i] = -Infinity;
      if (n > 4) x[4] = 2000; // the others underflow (d < kMin): weight 0
      if (n > 6) x[6] = 1999.5;
      const got = testing().softmax(x, scale, level);
      const ref = testing().softmax(x, scale, 'scalar');
      for (let i = 0; i < n; i++) {
        if (!sameFloat(got[i]!, ref[i]!)) throw new Error(`${level} softmax n ${n} [${i}]: ${got[i]} vs ${ref[i]}`);
      }
    }
    // Several rows in one call: each row's bits as if alone.
    const many = rng.floats(5 * 23, (r) => r.gauss() * 30);
    many[40] = -Infinity;
    const together = testing().softmax(many, scale, level, 5);
    for (let r = 0; r < 5; r++) {
      const alone = testing().softmax(many.subarray(r * 23, (r + 1) * 23), scale, level);
      expect(together.subarray(r * 23, (r + 1) * 23).every((v, i) => sameFloat(v, alone[i]!)), `${level} row ${r}`).toBe(true);
    }
    const nan = new Float32Array([1, 2, NaN, 4, 5, 6, 7, 8, 9, 10]);
    expect(testing().softmax(nan, scale, level).every((v) => Number.isNaN(v))).toBe(true);
    const masked = new Float32Array(12).fill(-Infinity);
    expect(testing().softmax(masked, scale, level).every((v) => Number.isNaN(v))).toBe(true); // 0 / 0, as before
  });

  it('gives a row with masked positions the bits of the same row without them (tree attention vs its path)', () => {
    const rng = new Rng(13);
    for (const level of levels) {
      const path = rng.floats(37, (r) => r.gauss() * 20);
      const withMasked = new Float32Array([...path.subarray(0, 30), -Infinity, -Infinity, -Infinity, ...path.subarray(30)]);
      const a = testing().softmax(path, scale, level);
      const b = testing().softmax(withMasked, scale, level);
      expect(Array.from(b.subarray(30, 33))).toEqual([0, 0, 0]);
      const kept = new Float32Array([...b.subarray(0, 30), ...b.subarray(33)]);
      expect(kept.every((v, i) => sameFloat(v, a[i]!)), level).toBe(true);
    }
  });

  it('is a softmax: within 1e-6 of float64, exactly 0 where masked, summing to 1', () => {
    const rng = new Rng(12);
    for (const n of [1, 9, 200]) {
      const x = rng.floats(n, (r) => r.gauss() * 40);
      for (let i = 1; i < n; i += 4) x[i] = -Infinity;
      const got = testing().softmax(x, scale, 'scalar');
      const v = Array.from(x, (a) => Math.fround(a * scale));
      const m = Math.max(...v);
      const e = v.map((a) => Math.exp(a - m));
      const sum = e.reduce((a, b) => a + b, 0);
      let total = 0;
      for (let i = 0; i < n; i++) {
        if (x[i] === -Infinity) expect(got[i]).toBe(0);
        expect(Math.abs(got[i]! - e[i]! / sum)).toBeLessThan(1e-6);
        total += got[i]!;
      }
      expect(Math.abs(total - 1)).toBeLessThan(1e-5);
    }
  });
});

// ThreadPool::parallelFor (native/core/thread_pool.h) hands every kernel its rows: the ranges must tile
// [0, n) exactly, in whole grains, for any thread count; and a thread that stalls must not hold up its share.
describe('ThreadPool.parallelFor', () => {
  it('covers [0, n) exactly once in multiples of the grain, for any n, grain and thread count', () => {
    for (const threads of [1, 2, 3, 7]) {
      for (const n of [0, 1, 5, 16, 17, 100, 1000]) {
        for (const grain of [1, 5, 16]) {
          const { begin, end } = testing().parallelForClaims(n, grain, threads, 0);
          const ranges = Array.from(begin, (b, i) => [b, end[i]!] as const).sort((a, b) => a[0] - b[0]);
          let next = 0;
          for (const [b, e] of ranges) {
            expect(b, `threads ${threads} n ${n} grain ${grain}`).toBe(next);
            expect(e).toBeGreaterThan(b);
            expect(b % grain).toBe(0);
            if (e !== n) expect((e - b) % grain).toBe(0);
            next = e;
          }
          expect(next).toBe(n);
        }
      }
    }
  });

  it('lets the other threads take over the share of a thread that stalls in its first range', () => {
    // 2 threads, 64 chunks: the caller owns chunks [0, 32), the worker [32, 64). The caller's first claim
    // is a quarter of its share; while it sleeps, the worker runs its own share front to back (one
    // sequential stream) and then the rest of the caller's.
    const { begin, end, byCaller } = testing().parallelForClaims(64, 1, 2, 200);
    const callerRanges = Array.from(begin).filter((_, i) => byCaller[i] === 1);
    expect(callerRanges).toEqual([0]);
    expect(end[Array.from(byCaller).indexOf(1)]).toBe(8);
    const workerBegins = Array.from(begin).filter((_, i) => byCaller[i] === 0);
    expect(workerBegins[0]).toBe(32);
    expect(workerBegins.filter((b) => b >= 32)).toEqual([...workerBegins.filter((b) => b >= 32)].sort((a, b) => a - b));
    expect(Math.min(...workerBegins)).toBe(8);
  });
});
