// Shared pieces of the kernel tests: the one tolerance table, error metrics in the style of ggml's
// test-backend-ops (NMSE, with NaN / Inf compared separately), seeded data, and independent fp64 JS
// computations of what the kernels compute.
import { expect } from 'vitest';

import { OUTPUT_PAD, SENTINEL } from './native.js';
import { halfToNumber } from './safetensors.js';

/**
 * Every tolerance of the kernel tests, with the reason for its size. NMSE = sum (a - b)^2 / sum b^2.
 */
export const TOLERANCE = {
  /**
   * A SIMD kernel against the reference kernel when both compute the same exact integer dot products
   * (or the same products) and differ only in fp32 summation order and FMA contraction: ~1e-7 relative
   * per sum, NMSE ~1e-14..1e-12 in practice. 1e-9 still fails on any real bug (those give NMSE ~0.1-1).
   */
  floatOrder: 1e-9,
  /**
   * The int4 kernel against fp64 sum(dequantized W x dequantized Q8 activations): the same math
   * exactly, so only fp32 rounding remains, as for floatOrder.
   */
  q4ExactMath: 1e-9,
  /**
   * The int4 kernel against dequantized W times the ORIGINAL fp32 activations: this measures the int8
   * activation quantization, one d = max|x| / 127 per 128 columns (kernels.h, kQ4ActivationSpan). The
   * rounding error is uniform in +-d/2, so NMSE(x) = (d^2 / 12) / E[x^2], and y = W x inherits it for
   * weights independent of x. The test activations hold 1% outliers of 8 sigma: 1 - 0.99^128 = 72% of
   * the groups hold one, whose d is set by it (~6-10 sigma / 127): ~1.5e-4..3e-4 expected, measured
   * 1.8e-4..3.0e-4 on the test shapes (with one d per 32 columns it was ~5e-5). 1e-3 leaves 3x margin
   * and still catches a wrong nibble, scale or zero point (NMSE ~1e-2 and up).
   */
  q4ActivationQ8: 1e-3,
  /**
   * The int8 x int8 kernel (the LM head) against fp64 sum(dequantized W x dequantized Q8 activations):
   * the same math exactly (exact int32 block sums, then one fp32 product and one FMA per block), so
   * only fp32 rounding remains, as for floatOrder. Levels, splits and token counts are bit-exact
   * among themselves (kernels.h, Q8Matrix), so no tolerance is needed there.
   */
  q8ExactMath: 1e-9,
  /**
   * The int8 kernel against the ORIGINAL fp32 weights and activations: both sides rounded to int8 in
   * blocks of 32. Each side adds NMSE (d^2 / 12) / E[v^2] with d = max|v| / 127 of its block, and the
   * two errors are independent, so they add. Gaussian weights (max of 32 ~ 2.1 sigma): ~2.3e-5,
   * measured 1e-5..4e-5. The test activations: more, because their 1% outliers of 8 sigma sit in ~27%
   * of the blocks and raise those blocks' d about 4x. Measured in total 4.6e-5..1.3e-4 on the test
   * shapes; 4e-4 leaves 3x margin and still fails on a wrong code, scale or block (NMSE ~1e-2 and up).
   */
  q8WeightsAndActivations: 4e-4,
  /**
   * int8 weight round trip: |w - q d| <= d / 2 per element, relaxed by one part in 2^20 for the fp32
   * division w / d before rounding (as rtnHalfStep).
   */
  q8HalfStep: 0.5 * (1 + 2 ** -20),
  /** groupSum: the same fp32 sum of up to four products, with or without FMA contraction. */
  groupSum: 1e-12,
  /**
   * RTN round trip: |w - dequantized| <= scale / 2 per element, relaxed by one part in 2^20 for the fp32
   * division w / scale before rounding.
   */
  rtnHalfStep: 0.5 * (1 + 2 ** -20),
} as const;

export function nmse(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    num += (a - b) ** 2;
    den += b * b;
  }
  return den === 0 ? num : num / den;
}

/**
 * Compares a kernel's output with a reference like test-backend-ops: NaN where and only where the
 * reference has NaN, the same infinities, then NMSE over the finite entries below `tolerance`.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    const x = actual[i]!;
    const y = expected[i]!;
    if (Number.isNaN(y) || Number.isNaN(x)) {
      if (Number.isNaN(y) !== Number.isNaN(x)) expect.fail(`${what}: [${i}] is ${x}, reference ${y}`);
      continue;
    }
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      if (x !== y) expect.fail(`${what}: [${i}] is ${x}, reference ${y}`);
      continue;
    }
    a.push(x);
    b.push(y);
  }
  const error = nmse(a, b);
  if (!(error <= tolerance)) expect.fail(`${what}: NMSE ${error.toExponential(2)} > ${tolerance}`);
}

/** Deterministic pseudo-random numbers (LCG + xorshift); `gauss` by Box-Muller. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  gauss(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  floats(n: number, f: (rng: Rng) => number): Float32Array {
    return Float32Array.from({ length: n }, () => f(this));
  }
}

export { halfToNumber };

/** fp64 Y[t][r] = sum_c W[r][c] X[t][c], W row-major [rows][cols]. */
export function matmulF64(w: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>, tokens: number): Float64Array {
  const y = new Float64Array(tokens * rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      const wo = r * cols;
      const xo = t * cols;
      for (let c = 0; c < cols; c++) acc += w[wo + c]! * x[xo + c]!;
      y[t * rows + r] = acc;
    }
  }
  return y;
}

/** Rows [rowBegin, rowEnd) of a matmul hook's padded output [tokens][rows + 3], as [tokens][count]. */
export function unpad(y: Float32Array, tokens: number, rows: number, rowBegin = 0, rowEnd = rows): Float32Array {
  const out = new Float32Array(tokens * (rowEnd - rowBegin));
  for (let t = 0; t < tokens; t++) {
    out.set(y.subarray(t * (rows + OUTPUT_PAD) + rowBegin, t * (rows + OUTPUT_PAD) + rowEnd), t * (rowEnd - rowBegin));
  }
  return out;
}

/** Every slot outside rows [rowBegin, rowEnd) of every token still holds the sentinel. */
export function expectSentinels(y: Float32Array, tokens: number, rows: number, rowBegin: number, rowEnd: number, what: string): void {
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows + OUTPUT_PAD; r++) {
      if (r >= rowBegin && r < rowEnd) continue;
      const v = y[t * (rows + OUTPUT_PAD) + r];
      if (v !== SENTINEL) expect.fail(`${what}: wrote ${v} at token ${t}, row ${r} outside [${rowBegin}, ${rowEnd})`);
    }
  }
}

/** Dequantizes quantizeQ8 output: values * block scale (a span's scale repeats over its blocks). */
export function dequantizeQ8(q: { values: Int8Array; scales: Float32Array }): Float64Array {
  return Float64Array.from(q.values, (v, i) => v * q.scales[Math.floor(i / 32)]!);
}

/** Codes [rows][cols] and fp16 scale bits [rows][cols / 32] of an int8 matrix, read from its tiled
 * arrays (testing.q8Layout) with the layout formula of kernels.h (Q8Matrix). */
export function untileQ8(layout: { values: Int8Array; scales: Uint16Array }, rows: number, cols: number): { q: Int8Array; scales: Uint16Array } {
  const blocks = cols / 32;
  const q = new Int8Array(rows * cols);
  const scales = new Uint16Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    const [tile, lane] = [Math.floor(r / 8), r % 8];
    for (let b = 0; b < blocks; b++) {
      const at = tile * blocks + b;
      scales[r * blocks + b] = layout.scales[at * 8 + lane]!;
      for (let c = 0; c < 32; c++) q[r * cols + b * 32 + c] = layout.values[at * 256 + Math.floor(c / 4) * 32 + lane * 4 + (c % 4)]!;
    }
  }
  return { q, scales };
}

/** Dequantized int8 weights [rows][cols]: q * d of its block. */
export function dequantizeQ8Weights(u: { q: Int8Array; scales: Uint16Array }, rows: number, cols: number): Float64Array {
  return Float64Array.from(u.q, (v, i) => v * halfToNumber(u.scales[Math.floor(i / cols) * (cols / 32) + Math.floor((i % cols) / 32)]!));
}
