// Speculative decoding in the session's decode loop (native/vla/session.cc), on the tiny random model and
// the CPU engine's verify call: greedy output identical to plain decoding whatever the drafts are, fewer
// engine calls when the drafts are right, and the loadModel option and model.description.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDrivingRecords } from '../../lib/bench/drivingRecords.js';
import { loadModel, type Model, type PlanRequest, TrtVlaError } from '../../lib/index.js';
import { testModel } from '../helpers/models.js';
import { referenceEncode } from '../helpers/qwen.js';
import { fill, HISTORY } from '../helpers/planInputs.js';

/** Deterministic pseudo-random integers (xorshift32). */
function generator(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

describe('speculative decoding on the CPU engine (tiny model)', () => {
  let plain: Model;
  let speculative: Model;
  let request: (seed: number) => PlanRequest;

  beforeAll(async () => {
    const dir = await testModel('tiny', 'awq');
    plain = await loadModel(dir, { maxKvCapacity: 1024, speculation: 'off' });
    speculative = await loadModel(dir, { maxKvCapacity: 1024, speculation: { maxDraft: 6 } });
    request = (seed) => {
      const frame = plain.allocFrame({ width: 224, height: 140, format: 'rgb8' });
      fill(frame.data, seed);
      return { images: [frame], history: HISTORY };
    };
  });
  afterAll(async () => {
    await plain?.dispose();
    await speculative?.dispose();
  });

  it('reports what it loaded in model.description.speculation', () => {
    expect(plain.description.speculation).toMatchObject({ enabled: false, maxDraft: 0 });
    expect(plain.description.speculation.reason).toMatch(/off/);
    expect(speculative.description.speculation).toEqual({
      enabled: true,
      maxDraft: 6,
      verifyTokens: 10,
      reason: 'on (options.speculation): up to 6 drafted tokens per call, verified by the CPU engine in calls of up to 10 tokens',
    });
    expect(speculative.description.maxVerifyTokens).toBe(10);
  });

  it('refuses a malformed speculation option', async () => {
    for (const bad of ['on', { maxDraft: 0 }, { maxDraft: 65 }, { maxDraft: 1.5 }, 5]) {
      const err = await loadModel('/nonexistent', { speculation: bad as never }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrtVlaError);
      expect((err as TrtVlaError).code).toBe('ERR_INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(/options\.speculation/);
    }
  });

  it('greedy: right drafts are all accepted, with fewer engine calls and the same tokens', async () => {
    const base = await plain.plan(request(1));
    const script = Int32Array.from(base.tokens);
    const spec = await speculative.plan({ ...request(1), _testingDraftScript: script } as unknown as PlanRequest);
    expect(Array.from(spec.tokens)).toEqual(Array.from(base.tokens));
    expect(spec.text).toBe(base.text);
    expect(spec.timings.verifyCalls).toBeGreaterThan(0);
    expect(spec.timings.acceptedDraftTokens).toBe(spec.timings.draftedTokens);
    expect(spec.timings.forwardPasses).toBeLessThan(base.timings.forwardPasses / 2);
    expect(base.timings.draftedTokens).toBe(0);
  });

  it('greedy: identical output with wrong drafts, over 16 inputs and perturbed scripts', { timeout: 300_000 }, async () => {
    let drafted = 0;
    let accepted = 0;
    for (let seed = 1; seed <= (process.env.TRT_VLA_SANITIZED === '1' ? 4 : 16); seed++) {
      const r = request(seed);
      const base = await plain.plan(r);
      // The plain output with a fifth of its tokens replaced by other ids (digits, punctuation, anything),
      // some scripts shifted by a token: drafts are accepted up to each change, then misaligned.
      const random = generator(seed * 7919);
      const script = Array.from(base.tokens, (t) => (random(5) === 0 ? [15, 16, 17, 13, 11, 220, 58, 60][random(8)]! : t));
      if (seed % 4 === 0) script.unshift(16);
      const spec = await speculative.plan({ ...r, _testingDraftScript: Int32Array.from(script) } as unknown as PlanRequest);
      expect(Array.from(spec.tokens), `input ${seed}`).toEqual(Array.from(base.tokens));
      drafted += spec.timings.draftedTokens;
      accepted += spec.timings.acceptedDraftTokens;
    }
    expect(drafted).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(drafted);
  });

  it('streams every waypoint as it completes, and the prefix cache keeps working', async () => {
    const base = await plain.plan(request(2));
    const session = speculative.createSession();
    const events: string[] = [];
    for await (const e of session.planStream({ ...request(2), _testingDraftScript: Int32Array.from(base.tokens) } as unknown as PlanRequest)) {
      if (e.type === 'waypoint') events.push(`w${e.index}`);
      if (e.type === 'done') expect(Array.from(e.result.tokens)).toEqual(Array.from(base.tokens));
    }
    expect(events).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'w5']);
    const again = await session.plan({ ...request(2), _testingDraftScript: Int32Array.from(base.tokens) } as unknown as PlanRequest);
    expect(again.timings.cachedPromptTokens).toBeGreaterThan(10);
    expect(Array.from(again.tokens)).toEqual(Array.from(base.tokens));
  });

  it('an aborted speculative plan rejects with ABORT_ERR and the session plans again', async () => {
    const base = await plain.plan(request(3));
    const session = speculative.createSession();
    const controller = new AbortController();
    let tokens = 0;
    const pending = session.plan({
      ...request(3),
      _testingDraftScript: Int32Array.from(base.tokens),
      signal: controller.signal,
    } as unknown as PlanRequest);
    void (async () => {
      while (tokens === 0) await new Promise((r) => setTimeout(r, 0));
    })();
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect((err as TrtVlaError).code ?? (err as Error).name).toMatch(/ABORT_ERR|AbortError/);
    tokens = 1;
    const after = await session.plan({ ...request(3), _testingDraftScript: Int32Array.from(base.tokens) } as unknown as PlanRequest);
    expect(Array.from(after.tokens)).toEqual(Array.from(base.tokens));
  });
});

// The kinematic drafter in the loop (plan() drafts by default): 200 cases over two random models, both
// answer formats, fast and slow mode, realistic ego histories (lib/bench/drivingRecords.ts). In half of
// them the model is biased towards the record's answer (a tests-only logit bias), so that it writes
// kinematically consistent waypoints and the drafts are often right; in the others it writes what random
// weights write. Greedy output must be identical with speculation on and off, always.
describe('speculative decoding with the kinematic drafter: greedy identity over 200 cases', () => {
  const IM_END = 151645;
  const models: { plain: Model; speculative: Model }[] = [];
  beforeAll(async () => {
    for (const seed of [7, 8]) {
      const dir = await testModel('tiny', 'awq', seed);
      models.push({
        plain: await loadModel(dir, { maxKvCapacity: 1024, speculation: 'off' }),
        speculative: await loadModel(dir, { maxKvCapacity: 1024 }),
      });
    }
  }, 300_000);
  afterAll(async () => {
    for (const m of models) {
      await m.plain.dispose();
      await m.speculative.dispose();
    }
  });

  // Under the sanitizers (10-20x slower) a tenth of the cases: the same code paths, not the same statistics.
  const CASES = process.env.TRT_VLA_SANITIZED === '1' ? 20 : 200;

  it('is token-for-token identical, and the drafts are used', { timeout: 1_800_000 }, async () => {
    const records = generateDrivingRecords(CASES, 2026);
    const totals = { drafted: 0, accepted: 0, plainPasses: 0, speculativePasses: 0, tokens: 0 };
    for (const [i, record] of records.entries()) {
      const { plain, speculative } = models[i % 4 < 2 ? 0 : 1]!;
      const frame = plain.allocFrame({ width: 56, height: 56, format: 'rgb8' });
      fill(frame.data, i + 1);
      const mode = i % 10 === 9 ? 'slow' : 'fast';
      const biased = i % 2 === 0 && mode === 'fast';
      const request = {
        images: [frame],
        format: record.format,
        history: record.history,
        mode,
        maxTokens: mode === 'slow' ? 96 : 256,
        ...(biased && { _testingBias: { tokens: Int32Array.from([...referenceEncode(record.answer), IM_END]), value: 8 } }),
      } as unknown as PlanRequest;
      const base = await plain.plan(request);
      const spec = await speculative.plan(request);
      expect(Array.from(spec.tokens), `case ${i} (${record.format}, ${mode}${biased ? ', biased' : ''})`).toEqual(Array.from(base.tokens));
      totals.drafted += spec.timings.draftedTokens;
      totals.accepted += spec.timings.acceptedDraftTokens;
      totals.plainPasses += base.timings.forwardPasses;
      totals.speculativePasses += spec.timings.forwardPasses;
      totals.tokens += base.tokens.length;
      frame.release();
    }
    expect(totals.drafted).toBeGreaterThan(5 * CASES);
    expect(totals.accepted).toBeGreaterThan(totals.drafted / 10);
    expect(totals.speculativePasses).toBeLessThan(totals.plainPasses);
    console.log(
      `${CASES} cases: ${totals.accepted}/${totals.drafted} drafted tokens accepted; engine calls per generated token ` +
        `${(totals.plainPasses / totals.tokens).toFixed(3)} plain, ${(totals.speculativePasses / totals.tokens).toFixed(3)} speculative`,
    );
  });
});
