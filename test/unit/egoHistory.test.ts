import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isTrtVlaError } from '../../lib/errors.js';
import { loadEgoHistory, validateEgoHistory } from '../../lib/prompt/egoHistory.js';

const h = (...ts: number[]) => ts.map((t) => ({ t, x: t * 4, y: 0 }));

function rejects(value: unknown, message: string | RegExp, options = {}): void {
  let caught: unknown;
  try {
    validateEgoHistory(value, options);
  } catch (err) {
    caught = err;
  }
  expect(isTrtVlaError(caught, 'ERR_INVALID_ARGUMENT'), String(caught)).toBe(true);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}

describe('validateEgoHistory', () => {
  it('accepts 1 to 7 entries oldest first and returns a clean copy with t on the exact grid', () => {
    expect(validateEgoHistory(h(0))).toEqual([{ t: 0, x: 0, y: 0 }]);
    const seven = validateEgoHistory(h(-3, -2.5, -2, -1.5, -1, -0.5, 0));
    expect(seven.map((e) => e.t)).toEqual([-3, -2.5, -2, -1.5, -1, -0.5, 0]);
    const sloppy = validateEgoHistory([{ t: -0.50000001, x: -2, y: 0, speed: 4 }, { t: -1e-9, x: 0, y: 0 }]);
    expect(sloppy).toEqual([{ t: -0.5, x: -2, y: 0, speed: 4 }, { t: 0, x: 0, y: 0 }]);
    expect(Object.is(sloppy[1]!.t, -0)).toBe(false);
  });

  it('names the problem and the entry', () => {
    rejects([], 'Expected a non-empty array of history entries (oldest first, ending at t = 0) for history but received an array of length 0 of type array');
    rejects({ t: 0 }, /for history but received \[object Object\] of type object/);
    rejects(h(-3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0), /Expected at most 7 entries \(t-3\.0 s … t-0\.0 s\) for history but received an array of length 8/);
    rejects(h(-2, -3, 0), 'Expected history oldest first with increasing t, but history[1].t = -3 follows -2');
    rejects(h(-1.5, -0.5, 0), 'Expected history entries 0.5 s apart, but history[1].t = -0.5 follows -1.5 (a gap)');
    rejects(h(-1, -0.5), 'Expected the last entry of history to be the current one (t = 0) but received t = -0.5');
    rejects(h(-0.75, -0.25), 'Expected history[0].t on the 0.5 s grid (0, -0.5, -1.0, …) but received -0.75');
    rejects(h(0, 0.5), 'Expected history[1].t ≤ 0 (seconds relative to now) but received 0.5');
    rejects([{ t: -0.5, x: -2, y: 0 }, { t: 0, x: 0.3, y: 0 }], 'Expected the t = 0 entry of history to be at the origin (the current ego frame) but received x = 0.3, y = 0');
    rejects([{ t: 0, x: 0, y: '0' }], 'Expected a finite number between -1000 and 1000 (m) for history[0].y but received "0" of type string');
    rejects([{ t: 0, x: 0, y: 0, vx: Number.NaN }], 'Expected a finite number between -150 and 150 (m/s) for history[0].vx but received NaN of type number');
    rejects([{ t: 0, x: 0, y: 0, vel: 3 }], /Expected one of t, x, y, ax, ay, vx, vy, speed, steering for a key of history\[0\] but received "vel"/);
    rejects([null], 'Expected an object { t, x, y, ... } for history[0] but received null of type null');
    rejects(h(0), "Expected field 'ax' in history[0] (t = 0); the chosen prompt wording prints it", { require: ['ax'] });
    rejects(h(-0.5, 0), /at most 1 entries/, { maxEntries: 1 });
  });
});

describe('loadEgoHistory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trt-vla-history-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads an array or { history: [...] } and validates it, naming the file', async () => {
    const plain = join(dir, 'plain.json');
    await writeFile(plain, JSON.stringify(h(-0.5, 0)));
    expect(await loadEgoHistory(plain)).toEqual([{ t: -0.5, x: -2, y: 0 }, { t: 0, x: 0, y: 0 }]);
    const wrapped = join(dir, 'wrapped.json');
    await writeFile(wrapped, JSON.stringify({ history: h(0) }));
    expect(await loadEgoHistory(wrapped)).toEqual([{ t: 0, x: 0, y: 0 }]);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify(h(-1, 0)));
    await expect(loadEgoHistory(bad)).rejects.toThrow(`Expected ${bad} entries 0.5 s apart`);
  });

  it('reports unreadable files and broken JSON as ERR_INVALID_ARGUMENT', async () => {
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '[{"t": 0,');
    await expect(loadEgoHistory(broken)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('is not valid JSON') });
    await expect(loadEgoHistory(join(dir, 'missing.json'))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('Cannot read history file'),
    });
  });
});
