// The CLI's progress line: a redrawn bar with an ETA on a terminal, throttled plain lines elsewhere.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { progressLine } from '../../lib/cli/progress.js';

const savedCi = process.env.CI;
beforeEach(() => {
  delete process.env.CI;
});
afterEach(() => {
  if (savedCi !== undefined) process.env.CI = savedCi;
});

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, write: (t: string) => writes.push(t) }, writes };
}

describe('progressLine', () => {
  it('on a terminal: one line redrawn in place, with the bar, the count and an ETA, ended by a newline', () => {
    const { stream, writes } = fakeStream(true);
    let t = 0;
    const p = progressLine('bench', 4, stream, () => t);
    t = 1000;
    p.update(1, 'plans');
    expect(writes[0]).toBe(`\r\x1b[2Kbench [######..................] 1/4 plans (1 s, ETA 3 s)`);
    t = 4000;
    p.update(4, 'plans');
    expect(writes.slice(1)).toEqual([`\r\x1b[2Kbench [########################] 4/4 plans (4 s)`, '\n']);
  });

  it('elsewhere: plain lines, at most one every 2 s, and always the last one', () => {
    const { stream, writes } = fakeStream(false);
    let t = 0;
    const p = progressLine('make-model tiny', 4, stream, () => t);
    p.update(1, 'configs and tokenizer');
    t = 500;
    p.update(2, 'decoder weights');
    t = 2600;
    p.update(3, 'embedding table');
    t = 2700;
    p.update(4, 'vision weights');
    expect(writes).toEqual([
      'trt-vla: make-model tiny 1/4 configs and tokenizer (0 s, ETA 0 s)\n',
      'trt-vla: make-model tiny 3/4 embedding table (3 s, ETA 1 s)\n',
      'trt-vla: make-model tiny 4/4 vision weights (3 s)\n',
    ]);
  });

  it('CI logs get plain lines even from a terminal', () => {
    process.env.CI = '1';
    const { stream, writes } = fakeStream(true);
    progressLine('quantize', 2, stream, () => 0).update(2, 'done');
    expect(writes).toEqual(['trt-vla: quantize 2/2 done (0 s)\n']);
  });
});
