// Inputs and assertions that many native tests share: a 2 s ego history that every nuScenes and q7
// prompt wording accepts, deterministic frame pixels, and the check of a synchronous TrtVlaError.
import { expect } from 'vitest';

import { TrtVlaError } from '../../lib/errors.js';

/** A gently accelerating, slightly turning car at ~4 m/s: every status field each prompt prints. */
export const HISTORY = [
  { t: -1.5, x: -6.02, y: 0.11, ax: 0.12, ay: -0.03, vx: 4.01, speed: 4.02, steering: 0.5 },
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

/** Deterministic noise pixels (an LCG), so that plans of one seed are reproducible. */
export function fill(data: Uint8Array, seed: number): void {
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
}

/** fn throws a TrtVlaError with this code (and a message matching `message`). */
export function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrtVlaError);
    expect((e as TrtVlaError).code).toBe(code);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  expect.fail(`expected ${code}`);
}
