// Every SIMD kernel equals its reference (and the reference equals an independent JS computation).
import { describe, expect, it } from 'vitest';

import { testing } from '../helpers/native.js';

function halfToFloatJs(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('fp16 / bf16 conversion kernels', () => {
  const levels = testing().simdLevels();
  const allHalves = Uint16Array.from({ length: 65536 }, (_, i) => i);

  it.each(levels)('halfToFloat (%s) is exact for all 65536 halves', (level) => {
    const out = testing().convert('halfToFloat', allHalves, level);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (!sameFloat(out[i]!, halfToFloatJs(i))) mismatches++;
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
