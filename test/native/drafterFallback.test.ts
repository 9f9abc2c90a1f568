// A tokenizer the waypoint drafter cannot serve (one that breaks Qwen2's one-token digits) must not fail
// plans: ModelCore.drafterSpec warns once per format and mode and returns undefined, so the plan decodes
// without drafts; disposal and aborts still propagate.
import { afterEach, describe, expect, it } from 'vitest';

import { setLogHandler, TrtVlaError } from '../../lib/index.js';
import { ModelCore } from '../../lib/model/ModelCore.js';

function core(drafterTokens: () => Promise<unknown>): ModelCore {
  const files = { llm: { config: {} }, visual: { config: {} } };
  const tokenizer = { drafterTokens };
  const state = { enabled: true, maxDraft: 5, verifyTokens: 9, reason: 'on' };
  return new ModelCore({} as never, tokenizer as never, files as never, {} as never, [], state);
}

const HISTORY = [
  { t: -0.5, x: -2, y: 0, ax: 0, ay: 0, speed: 4, steering: 0 },
  { t: 0, x: 0, y: 0, ax: 0, ay: 0, speed: 4, steering: 0 },
];

describe('ModelCore.drafterSpec', () => {
  afterEach(() => setLogHandler(null));

  it('warns once per format and returns undefined when the tokenizer cannot serve the drafter', async () => {
    const warnings: string[] = [];
    setLogHandler((e) => {
      if (e.source === 'speculation') warnings.push(`${e.level}: ${e.message}`);
    });
    let calls = 0;
    const c = core(async () => {
      calls++;
      throw new TrtVlaError('ERR_INVALID_ARGUMENT', "digit '7' is not one token");
    });
    expect(await c.drafterSpec('nuscenes', 'fast', HISTORY)).toBeUndefined();
    expect(await c.drafterSpec('nuscenes', 'fast', HISTORY)).toBeUndefined();
    expect(calls).toBe(1);
    // Log entries reach the handler asynchronously (from native code through a thread-safe function).
    for (let i = 0; i < 100 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings).toEqual([expect.stringMatching(/^warning: no waypoint drafts for nuscenes \/ fast answers with this tokenizer: digit '7' is not one token/)]);
  });

  it('lets a disposed tokenizer fail the plan', async () => {
    const c = core(async () => {
      throw new TrtVlaError('ERR_DISPOSED', 'This Model was disposed');
    });
    await expect(c.drafterSpec('q7', 'fast', HISTORY)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});
