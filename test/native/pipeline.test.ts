// The Model / Session API end to end on the tiny generated model (CPU backend): generation from images
// and text, determinism, streaming, prefix cache, chunked prefill, concurrency, abort, the event loop,
// and clean errors for bad input.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model, type PlanRequest, TrtVlaError } from '../../lib/index.js';
import { referenceEncode } from '../helpers/qwen.js';
import { testModel } from '../helpers/models.js';
import { fill, HISTORY } from '../helpers/planInputs.js';
import { worstEventLoopGapOfBest } from '../helpers/eventLoop.js';

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(TrtVlaError);
  expect((err as TrtVlaError).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('Model / Session on the tiny model', () => {
  let dir: string;
  let model: Model;
  let request: () => PlanRequest;

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    model = await loadModel(dir, { maxKvCapacity: 1024 });
    const frame = model.allocFrame({ width: 320, height: 180, format: 'rgb8' });
    fill(frame.data, 3);
    request = () => ({ images: [frame], history: HISTORY });
  });
  afterAll(() => model.dispose());

  it('plans from an image and the ego history: every plan parses, with per-stage timings', async () => {
    const plan = await model.plan(request());
    expect(plan.waypoints).toHaveLength(6);
    expect(plan.complete).toBe(true);
    expect(plan.waypoints.map((w) => w.t)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(plan.text.startsWith('<PLANNING>Predicted future movement details for the next 3 seconds')).toBe(true);
    expect(plan.text.endsWith('</PLANNING>')).toBe(true);
    expect(plan.stopReason).toBe('grammar');
    const t = plan.timings;
    for (const key of ['preprocessMs', 'visionMs', 'prefillMs', 'decodeMs', 'firstTokenMs', 'totalMs'] as const) expect(t[key]).toBeGreaterThan(0);
    expect(t.imageTokens).toBeGreaterThan(0);
    expect(t.promptTokens).toBeGreaterThan(t.imageTokens);
    expect(t.generatedTokens).toBe(plan.tokens.length);
    // Jump-forward: the preamble and separators go in as chunks, not one decode step per token.
    expect(t.forwardPasses / t.generatedTokens).toBeLessThanOrEqual(0.45);
  });

  it('generates from chat messages with an image; same seed, same tokens', async () => {
    const frame = request().images[0]!;
    const run = (seed: number) =>
      model.generate({
        messages: [{ role: 'user', content: 'Describe the road ahead. <image>' }],
        images: [frame],
        maxTokens: 12,
        sampling: { temperature: 0.9, topK: 40, topP: 0.95, seed },
      });
    const a = await run(7);
    const b = await run(7);
    expect(a.tokens.length).toBe(12);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(a.stopReason).toBe('length');
    expect(typeof a.text).toBe('string');
  });

  it('streams exactly what plan returns (greedy), waypoints in order as they complete', async () => {
    const plan = await model.plan(request());
    const events = [];
    for await (const e of model.planStream(request())) events.push(e);
    const done = events.at(-1)!;
    expect(done.type).toBe('done');
    const streamed = done.type === 'done' ? done.result : undefined;
    expect(Array.from(streamed!.tokens)).toEqual(Array.from(plan.tokens));
    const waypoints = events.filter((e) => e.type === 'waypoint');
    expect(waypoints.map((e) => (e.type === 'waypoint' ? e.index : -1))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(waypoints.map((e) => (e.type === 'waypoint' ? e.waypoint : undefined))).toEqual(plan.waypoints);
    const tokenText = events.map((e) => (e.type === 'token' ? e.text : '')).join('');
    expect(tokenText).toBe(plan.text);
    // Each waypoint event comes right after the token that closed its bracket.
    const firstWaypoint = events.findIndex((e) => e.type === 'waypoint');
    const before = events.slice(0, firstWaypoint).map((e) => (e.type === 'token' ? e.text : '')).join('');
    expect(before.endsWith(']') || before.endsWith('],')).toBe(true);
  });

  it('constrained greedy equals unconstrained greedy when the model follows the format anyway', async () => {
    // Make the random model "prefer" a well-formed answer with other numbers than it would choose: a
    // logit bias towards the canonical tokens of that answer, step by step (tests-only hook).
    const first = await model.plan(request());
    // Numbers as Python's str(round(v, 2)) writes them (the nuScenes answer style).
    const xs = ['1.76', '3.51', '5.26', '7.01', '8.76', '10.51'];
    const ys = ['-0.26', '-0.51', '-0.76', '-1.01', '-1.26', '-1.51'];
    let i = 0;
    const answer = first.text.replace(/\[(-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)\]/g, () => {
      const point = `[${xs[i]}, ${ys[i]}]`;
      i++;
      return point;
    });
    expect(i).toBe(6);
    const IM_END = 151645; // the grammar ends the turn
    const target = Int32Array.from([...referenceEncode(answer), IM_END]);
    const biased = { _testingBias: { tokens: target, value: 60 } };
    const free = await model.plan({ ...request(), ...biased, constrained: false, maxTokens: target.length });
    expect(Array.from(free.tokens)).toEqual(Array.from(target)); // the model follows the format
    const constrained = await model.plan({ ...request(), ...biased });
    expect(Array.from(constrained.tokens)).toEqual(Array.from(target));
    expect(constrained.waypoints.map((w) => [w.x, w.y])).toEqual(xs.map((x, k) => [Number(x), Number(ys[k])]));
    expect(constrained.timings.forwardPasses).toBeLessThan(free.timings.forwardPasses);
  });

  it('never samples the LM head rows past the tokenizer (Qwen pads 151,665 tokens to 151,936 rows)', async () => {
    // A bias that makes padded row 151,700 the model's favourite at every step: free text must still
    // pick only tokens the tokenizer has (before the fix, decoding the answer threw ERR_INVALID_ARGUMENT).
    const padded = new Int32Array(8).fill(151_700);
    const plan = await model.plan({ ...request(), constrained: false, maxTokens: 8, _testingBias: { tokens: padded, value: 1e4 } } as unknown as PlanRequest);
    expect(plan.tokens.length).toBeGreaterThan(0);
    expect(Math.max(...plan.tokens)).toBeLessThan(151_665);
  });

  it('prefix-cached and uncached runs give identical tokens', async () => {
    const session = model.createSession();
    const first = await session.plan(request());
    const second = await session.plan(request());
    expect(second.timings.cachedPromptTokens).toBeGreaterThan(10); // system prompt + text before the image
    expect(first.timings.cachedPromptTokens).toBe(0);
    const uncached = await model.createSession().plan({ ...request(), prefixCache: false });
    expect(uncached.timings.cachedPromptTokens).toBe(0);
    expect(Array.from(second.tokens)).toEqual(Array.from(first.tokens));
    expect(Array.from(uncached.tokens)).toEqual(Array.from(first.tokens));
    await session.dispose();
  });

  it('chunked prefill (short maxInputLength) gives the same plan as one-shot prefill', async () => {
    const chunked = await loadModel(dir, { maxKvCapacity: 1024, maxInputLength: 48 });
    try {
      const frame = chunked.allocFrame({ width: 320, height: 180, format: 'rgb8' });
      frame.data.set(request().images[0]!.data);
      const a = await chunked.plan({ images: [frame], history: HISTORY });
      const b = await model.plan(request());
      expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    } finally {
      await chunked.dispose();
    }
  });

  it('two sessions planning concurrently return what they return sequentially', async () => {
    const other = model.allocFrame({ width: 224, height: 224, format: 'rgb8' });
    fill(other.data, 99);
    const r2: PlanRequest = { images: [other], history: HISTORY.slice(1) };
    const s1 = model.createSession();
    const s2 = model.createSession();
    const sequential = [await s1.plan(request()), await s2.plan(r2)];
    const s3 = model.createSession();
    const s4 = model.createSession();
    const concurrent = await Promise.all([s3.plan(request()), s4.plan(r2)]);
    expect(concurrent.map((p) => Array.from(p.tokens))).toEqual(sequential.map((p) => Array.from(p.tokens)));
    await Promise.all([s1, s2, s3, s4].map((s) => s.dispose()));
  });

  it('abort stops generation within one step with ABORT_ERR; the session stays usable', async () => {
    const session = model.createSession();
    const controller = new AbortController();
    let tokensSeen = 0;
    let tokensAfterAbort = 0;
    const running = session.generate({
      text: 'Tell me a long story. <image>',
      images: request().images,
      maxTokens: 400,
      signal: controller.signal,
      onToken: (e) => {
        if (controller.signal.aborted) tokensAfterAbort += e.ids.length;
        tokensSeen += e.ids.length;
        if (tokensSeen >= 3 && !controller.signal.aborted) controller.abort(new Error('driver took over'));
      },
    });
    await expectCode(running, 'ABORT_ERR');
    expect(tokensSeen).toBeLessThan(400);
    // Tokens reach JavaScript asynchronously: the ones decoded before abort() reached the native loop but
    // not yet delivered arrive afterwards (on an idle machine the tiny model decodes a token in about a
    // millisecond, so a few are in the queue). The loop itself stops at its next engine call.
    expect(tokensAfterAbort).toBeLessThanOrEqual(16);
    const after = await session.plan(request());
    const fresh = await model.createSession().plan(request());
    expect(Array.from(after.tokens)).toEqual(Array.from(fresh.tokens));
    // An already aborted signal rejects at once.
    await expectCode(session.plan({ ...request(), signal: AbortSignal.abort() }), 'ABORT_ERR');
    await session.dispose();
  });

  it('tokenizes the chat prompt exactly like the reference tokenizer', async () => {
    const prepared = await model.prepare(request());
    expect(Array.from(prepared.inputIds)).toEqual(referenceEncode(prepared.promptText));
    expect(prepared.promptText.startsWith('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n')).toBe(true);
    expect(prepared.promptText.endsWith('<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
  });

  it('rejects bad input with TrtVlaError codes', async () => {
    const frame = request().images[0]!;
    await expectCode(model.plan({ images: [frame, frame], history: HISTORY }), 'ERR_INVALID_ARGUMENT', /images/);
    await expectCode(model.plan({ images: [], history: HISTORY }), 'ERR_INVALID_ARGUMENT', /images/);
    await expectCode(model.plan({ images: [frame], history: [{ t: 0, x: 1, y: 0 }] as never }), 'ERR_INVALID_ARGUMENT');
    await expectCode(model.generate({ text: 'two <image> <image>', images: [frame] }), 'ERR_INVALID_ARGUMENT', /placeholder/);
    await expectCode(model.generate({ text: 'x', tokens: [1] }), 'ERR_INVALID_ARGUMENT', /exactly one/);
    await expectCode(model.generate({ tokens: [1, 2, 999999] }), 'ERR_INVALID_ARGUMENT', /token id/);
    await expectCode(model.generate({ tokens: [1, 151655, 2] }), 'ERR_INVALID_ARGUMENT', /image-pad/);
    await expectCode(model.plan({ images: [{} as never], history: HISTORY }), 'ERR_INVALID_ARGUMENT', /FrameBuffer/);
    const disposed = model.allocFrame({ width: 64, height: 64, format: 'rgb8' });
    disposed.dispose();
    await expectCode(model.plan({ images: [disposed], history: HISTORY }), 'ERR_DISPOSED');
    await expectCode(model.generate({ text: 'hi', maxTokens: 0 }), 'ERR_INVALID_ARGUMENT', /maxTokens/);
  });
});

describe('loading', () => {
  it('a bundle with a missing file is ERR_MODEL_LOAD naming it', async () => {
    const dir = await testModel('tiny', 'awq');
    const copy = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-bundle-'));
    cpSync(dir, copy, { recursive: true });
    rmSync(path.join(copy, 'llm', 'tokenizer.json'));
    await expectCode(loadModel(copy), 'ERR_MODEL_LOAD', /tokenizer\.json/);
    cpSync(dir, copy, { recursive: true });
    rmSync(path.join(copy, 'llm', 'embedding.safetensors'));
    await expectCode(loadModel(copy), 'ERR_MODEL_LOAD', /embedding\.safetensors/);
    cpSync(dir, copy, { recursive: true });
    rmSync(path.join(copy, 'visual', 'model.safetensors'));
    await expectCode(loadModel(copy), 'ERR_MODEL_LOAD', /safetensors/);
    await expectCode(loadModel(path.join(copy, 'nope')), 'ERR_MODEL_LOAD', /not found/);
    await expectCode(loadModel(dir, { backend: 'tensorrt' }), 'ERR_BACKEND_UNAVAILABLE');
    await expectCode(loadModel(dir, { threads: 0 }), 'ERR_INVALID_ARGUMENT');
    await expectCode(loadModel(dir, { signal: AbortSignal.abort() }), 'ABORT_ERR');
    rmSync(copy, { recursive: true, force: true });
  });

  it('lmHead: auto holds an int4 model\'s head in int8 (fewer bytes per token), fp16 keeps it; both plan', async () => {
    const dir = await testModel('tiny', 'awq');
    const history = HISTORY;
    const sizes: Record<string, number> = {};
    for (const [option, expected] of [['auto', 'q8'], ['q8', 'q8'], ['fp16', 'fp16']] as const) {
      await using m = await loadModel(dir, { lmHead: option, maxKvCapacity: 1024 });
      expect(m.description.lmHead).toBe(expected);
      sizes[option] = m.description.weightBytes;
      const frame = m.allocFrame({ width: 64, height: 64, format: 'rgb8' });
      fill(frame.data, 5);
      const plan = await m.plan({ images: [frame], history });
      expect(plan.complete).toBe(true);
    }
    // The tied head is vocab x hidden: int8 + one fp16 scale per 32 values against 2 bytes per value.
    await using plain = await loadModel(dir);
    const d = plain.description;
    const headFp16 = d.vocabSize * d.hiddenSize * 2;
    expect(sizes.fp16 - sizes.q8).toBe(headFp16 - (Math.ceil(d.vocabSize / 8) * 8 * d.hiddenSize * (1 + 2 / 32)));
    await expectCode(loadModel(dir, { lmHead: 'int2' as 'q8' }), 'ERR_INVALID_ARGUMENT', /lmHead/);
  });

  it('keeps the event loop ticking during load and plan (a 1 ms timer never stalls > 50 ms)', async () => {
    const dir = await testModel('tiny', 'awq');
    // The sanitizer build runs the same native calls 2-5x slower, synchronous ones on this thread
    // included (createSession's allocations); there this test checks the code path for memory errors
    // (one try), and the plain run holds the 50 ms bound (best of 3 tries, as hostileInput's check).
    const sanitized = process.env.TRT_VLA_SANITIZED === '1';
    const worst = await worstEventLoopGapOfBest(
      async () => {
        const m = await loadModel(dir, { threads: 1 }); // one core stays free for the event loop
        const frame = m.allocFrame({ width: 320, height: 180, format: 'rgb8' });
        await m.plan({ images: [frame], history: HISTORY });
        await m.plan({ images: [frame], history: HISTORY, mode: 'slow', maxTokens: 64 });
        await m.dispose();
      },
      50,
      sanitized ? 1 : 3,
    );
    if (!sanitized) expect(worst).toBeLessThan(50);
  });

  it('dispose stops a running plan with ERR_DISPOSED and completes; later calls throw ERR_DISPOSED', async () => {
    const dir = await testModel('tiny', 'awq');
    const m = await loadModel(dir);
    const frame = m.allocFrame({ width: 64, height: 64, format: 'rgb8' });
    const running = expectCode(m.plan({ images: [frame], history: HISTORY }), 'ERR_DISPOSED');
    await m.dispose();
    await running;
    expect(() => m.createSession()).toThrow(TrtVlaError);
    await expectCode(m.plan({ images: [frame], history: HISTORY }), 'ERR_DISPOSED');
    expect(frame.disposed).toBe(true);
  });
});
