// Hostile input at the TypeScript edge (issue 12): malformed request arguments, throwing callbacks,
// out-of-range model JSON files and process lifetimes. Each case is an attack that once got through
// (accepted, crashed, hung or kept the process alive); each must now be a coded TrtVlaError, and a
// process that used the API must exit on its own.
import { spawn } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model, planHistory, type PlanRequest, TrtVlaError } from '../../lib/index.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';
import { worstEventLoopGapOfBest } from '../helpers/eventLoop.js';

const HISTORY = [
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

async function rejection(promise: Promise<unknown>): Promise<TrtVlaError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a TrtVlaError').toBeInstanceOf(TrtVlaError);
  return err as TrtVlaError;
}

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<TrtVlaError> {
  const err = await rejection(promise);
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

/** A copy of a model folder (weights hard-linked, JSON copied) with `edit` applied to its JSON files. */
function variantModel(source: string, edit: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-hostile-'));
  const mirror = (from: string, to: string) => {
    for (const name of readdirSync(from)) {
      const src = path.join(from, name);
      const dst = path.join(to, name);
      if (statSync(src).isDirectory()) {
        mkdirSync(dst);
        mirror(src, dst);
      } else if (name.endsWith('.json')) {
        copyFileSync(src, dst);
      } else {
        try {
          linkSync(src, dst);
        } catch {
          copyFileSync(src, dst);
        }
      }
    }
  };
  mirror(source, dir);
  edit(dir);
  return dir;
}

function editJson(file: string, change: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(json);
  writeFileSync(file, JSON.stringify(json));
}

describe('request arguments are validated before native code sees them', () => {
  let model: Model;
  let request: () => PlanRequest;

  beforeAll(async () => {
    model = await loadModel(await testModel('tiny', 'awq'));
    const frame = model.allocFrame({ width: 64, height: 64, format: 'rgb8' });
    request = () => ({ images: [frame], history: HISTORY, maxTokens: 8 });
  });
  afterAll(() => model.dispose());

  it('token ids: null, 1.5, "a", negatives and ids past the vocabulary are rejected (not read as 0 or 1)', async () => {
    const vocab = model.description.vocabSize;
    for (const [tokens, index] of [[[null], 0], [[1.5], 0], [['a'], 0], [[5, -1], 1], [[vocab], 0], [[NaN], 0]] as const) {
      await expectCode(model.generate({ tokens: tokens as unknown as number[], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', new RegExp(`tokens\\[${index}\\]`));
    }
    await expectCode(model.generate({ tokens: [], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /tokens/);
    await expectCode(model.generate({ tokens: 'abc' as unknown as number[], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /tokens/);
    await expectCode(model.generate({ tokens: Int32Array.of(1, vocab), maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /tokens\[1\]/);
    // Valid ids still run.
    await expect(model.generate({ tokens: [9707, 11], maxTokens: 2 })).resolves.toMatchObject({ tokens: expect.any(Int32Array) });
  });

  it('plan options: constrained, format, mode and statusWording must be what they say', async () => {
    await expectCode(model.plan({ ...request(), constrained: 'yes' as unknown as boolean }), 'ERR_INVALID_ARGUMENT', /constrained/);
    await expectCode(model.plan({ ...request(), constrained: 0 as unknown as boolean }), 'ERR_INVALID_ARGUMENT', /constrained/);
    await expectCode(model.plan({ ...request(), mode: 'fastest' as 'fast' }), 'ERR_INVALID_ARGUMENT', /mode/);
    await expectCode(model.plan({ ...request(), format: 1 } as unknown as PlanRequest), 'ERR_INVALID_ARGUMENT', /format/);
    await expectCode(model.plan({ ...request(), prefixCache: 'no' as unknown as boolean }), 'ERR_INVALID_ARGUMENT', /prefixCache/);
  });

  it('sampling options: every field in its range, unknown fields named', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ topK: -5 }, /sampling\.topK/],
      [{ topK: 2.5 }, /sampling\.topK/],
      [{ topP: 0 }, /sampling\.topP/],
      [{ topP: 1.5 }, /sampling\.topP/],
      [{ temperature: -1 }, /sampling\.temperature/],
      [{ temperature: NaN }, /sampling\.temperature/],
      [{ temperature: Infinity }, /sampling\.temperature/],
      [{ repetitionPenalty: -1 }, /sampling\.repetitionPenalty/],
      [{ repetitionPenalty: 1e300 }, /sampling\.repetitionPenalty/],
      [{ seed: 0.5 }, /sampling\.seed/],
      [{ temperature: '0.5' }, /sampling\.temperature/],
      [{ topk: 5 }, /topk/],
    ];
    for (const [sampling, message] of bad) {
      await expectCode(model.plan({ ...request(), sampling: sampling as never }), 'ERR_INVALID_ARGUMENT', message);
      await expectCode(model.generate({ text: 'hi', maxTokens: 1, sampling: sampling as never }), 'ERR_INVALID_ARGUMENT', message);
    }
    await expectCode(model.plan({ ...request(), sampling: 5 as never }), 'ERR_INVALID_ARGUMENT', /sampling/);
  });

  it('planStream validates the same way', async () => {
    const events = model.planStream({ ...request(), constrained: 'yes' as unknown as boolean });
    const drain = async () => {
      for await (const _ of events) void _;
    };
    await expectCode(drain(), 'ERR_INVALID_ARGUMENT', /constrained/);
  });

  it('messages: a function (or another value structured cloning refuses) is ERR_INVALID_ARGUMENT, not a DOMException', async () => {
    await expectCode(model.generate({ messages: [{ role: 'user', content: (() => 'hi') as unknown as string }], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /messages\[0\]/);
    await expectCode(model.generate({ messages: [{ role: (() => 'user') as unknown as 'user', content: 'hi' }], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /messages\[0\]\.role/);
    await expectCode(model.generate({ messages: [{ role: 'user', content: Symbol('x') as unknown as string }], maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /messages\[0\]/);
    await expectCode(model.generate({ messages: 'hi' as never, maxTokens: 1 }), 'ERR_INVALID_ARGUMENT', /messages/);
    // Extra properties are not part of a message: they are dropped, never cloned.
    const message = { role: 'user' as const, content: 'hi', extra: () => 1 };
    await expect(model.generate({ messages: [message], maxTokens: 1 })).resolves.toMatchObject({ stopReason: expect.any(String) });
    await expectCode(model.generate({ text: 'hi', maxTokens: 1, onToken: 'log' as never }), 'ERR_INVALID_ARGUMENT', /onToken/);
  });

  it('history values that would print as inf / nan / 1e+308 are rejected naming the field; in-range extremes print as decimals', async () => {
    const at = (i: number, patch: Record<string, number>) => HISTORY.map((h, j) => (j === i ? { ...h, ...patch } : h));
    const cases: [Record<string, number>[], RegExp][] = [
      [at(0, { x: 1e308 }), /history\[0\]\.x/],
      [at(0, { x: -1e308 }), /history\[0\]\.x/],
      [at(1, { y: -1.7976931348623157e308 }), /history\[1\]\.y/],
      [at(2, { speed: 1e308 }), /history\[2\]\.speed/],
      [at(2, { ax: -1e200 }), /history\[2\]\.ax/],
      [at(2, { steering: 1e20 }), /history\[2\]\.steering/],
      [at(1, { vx: Infinity }), /history\[1\]\.vx/],
      [at(1, { ay: NaN }), /history\[1\]\.ay/],
    ];
    for (const [history, message] of cases) {
      await expectCode(model.plan({ ...request(), history: history as never }), 'ERR_INVALID_ARGUMENT', message);
    }
    const extreme = HISTORY.map((h, i) => (i === 2 ? { ...h, ax: -100, ay: 100, speed: 150, vx: 150, steering: -20 } : { ...h, x: -1000 + i, y: 1000, ax: 100, speed: 150, steering: 20 }));
    for (const format of ['nuscenes', 'q7'] as const) {
      const history = format === 'q7' ? extreme.map((h) => ({ ...h, vy: -150 })) : extreme;
      const prepared = await model.prepare({ ...request(), ...planHistory(format, undefined, history) });
      expect(prepared.promptText).not.toMatch(/(?<![a-z])(inf|nan)(?![a-z])/i);
      expect(prepared.promptText).not.toMatch(/\de[+-]?\d/);
      expect(prepared.promptText).toContain('1000');
    }
  });

  it('an onToken that throws stops the request: it rejects with ERR_CALLBACK and the thrown error as cause', async () => {
    const thrown = new Error('consumer failed');
    let calls = 0;
    const err = await expectCode(
      model.generate({
        text: 'Hello',
        maxTokens: 64,
        sampling: { temperature: 0 },
        onToken: () => {
          calls++;
          throw thrown;
        },
      }),
      'ERR_CALLBACK',
      /consumer failed/,
    );
    expect(err.cause).toBe(thrown);
    expect(calls).toBe(1); // not called again once it threw
    // The session is usable afterwards.
    await expect(model.generate({ text: 'Hello', maxTokens: 2 })).resolves.toMatchObject({ tokens: expect.any(Int32Array) });
  });
});

describe('model JSON files are range-checked at load (ERR_MODEL_LOAD naming file and field)', () => {
  let source: string;
  beforeAll(async () => {
    source = await testModel('tiny', 'awq');
  });

  const generation: [Record<string, unknown>, string][] = [
    [{ top_k: -5 }, 'top_k'],
    [{ top_p: 0 }, 'top_p'],
    [{ top_p: 1.5 }, 'top_p'],
    [{ repetition_penalty: -1 }, 'repetition_penalty'],
    [{ repetition_penalty: 0 }, 'repetition_penalty'],
    [{ temperature: -0.5 }, 'temperature'],
    [{ temperature: '0.7' }, 'temperature'],
    [{ top_k: 2.5 }, 'top_k'],
    [{ do_sample: 'yes' }, 'do_sample'],
    [{ eos_token_id: [151645, 'x'] }, 'eos_token_id'],
  ];
  it.each(generation)('generation_config.json %o', async (patch, field) => {
    const dir = variantModel(source, (d) => editJson(path.join(d, 'llm', 'generation_config.json'), (g) => Object.assign(g, patch)));
    await expectCode(loadModel(dir), 'ERR_MODEL_LOAD', new RegExp(`generation_config\\.json: ${field} must be`));
  });

  it('generation_config.json with NaN (written by Python as a bare NaN token) is not valid JSON: ERR_MODEL_LOAD', async () => {
    const dir = variantModel(source, (d) => {
      const file = path.join(d, 'llm', 'generation_config.json');
      writeFileSync(file, readFileSync(file, 'utf8').replace('"temperature": 0.1', '"temperature": NaN'));
    });
    await expectCode(loadModel(dir), 'ERR_MODEL_LOAD', /generation_config\.json/);
  });

  const preprocessor: [Record<string, unknown>, string][] = [
    [{ image_std: [0, 0.26, 0.27] }, 'image_std'],
    [{ image_std: [0.26, 0.27] }, 'image_std'],
    [{ image_mean: [0.5, 'x', 0.5] }, 'image_mean'],
    [{ rescale_factor: 0 }, 'rescale_factor'],
    [{ min_pixels: 0 }, 'min_pixels'],
    [{ min_pixels: 1e7, max_pixels: 1e6 }, 'min_pixels'],
    [{ max_pixels: 1.5 }, 'max_pixels'],
    [{ patch_size: 0 }, 'patch_size'],
    [{ patch_size: 14.5 }, 'patch_size'],
    [{ merge_size: -2 }, 'merge_size'],
    [{ temporal_patch_size: 1e9 }, 'temporal_patch_size'],
    [{ do_normalize: false }, 'do_normalize'],
    // Every image would be scaled up past the per-image token limit: each plan used to fail instead.
    [{ min_pixels: 2 ** 30, max_pixels: 2 ** 30 }, 'min_pixels'],
    [{ size: { shortest_edge: -1 } , min_pixels: undefined }, 'size.shortest_edge'],
  ];
  it.each(preprocessor)('preprocessor_config.json %o', async (patch, field) => {
    const dir = variantModel(source, (d) =>
      editJson(path.join(d, 'visual', 'preprocessor_config.json'), (p) => {
        for (const [k, v] of Object.entries(patch)) {
          if (v === undefined) delete p[k];
          else p[k] = v;
        }
      }),
    );
    // An explicit per-image limit: the min_pixels bound is then the option's, checked with the file's fields.
    await expectCode(loadModel(dir, { maxImageTokensPerImage: 1024 }), 'ERR_MODEL_LOAD', new RegExp(`preprocessor_config\\.json: ${field.replace('.', '\\.')} must be`));
  });
});

/** Overwrites every element of an fp16 / bf16 / fp32 tensor of a safetensors file with NaN, in place. */
function poisonTensor(file: string, name: string): void {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const tensor = header[name];
  if (!tensor) throw new Error(`${file} has no tensor ${name}`);
  const [begin, end] = tensor.data_offsets.map((o) => 8 + headerLength + o) as [number, number];
  if (tensor.dtype === 'F32') for (let i = begin; i < end; i += 4) bytes.writeFloatLE(NaN, i);
  else for (let i = begin; i < end; i += 2) bytes.writeUInt16LE(tensor.dtype === 'BF16' ? 0x7fc0 : 0x7e00, i);
  writeFileSync(file, bytes);
}

describe('all-NaN logits fail the same way under every sampler (no made-up tokens)', () => {
  let model: Model;
  let frame: ReturnType<Model['allocFrame']>;
  beforeAll(async () => {
    // A model whose final norm weight is NaN: every hidden state, so every logit, is NaN; a real
    // forward pass produces them, no hook needed.
    const dir = variantModel(await testModel('tiny', 'awq'), (d) => {
      const file = path.join(d, 'llm', 'model.safetensors');
      const copy = `${file}.copy`;
      copyFileSync(file, copy); // a copy, not the shared hard link
      poisonTensor(copy, 'model.norm.weight');
      renameSync(copy, file);
    });
    model = await loadModel(dir);
    frame = model.allocFrame({ width: 64, height: 64, format: 'rgb8' });
  });
  afterAll(() => model?.dispose());

  const samplers = [
    ['greedy', { temperature: 0 }],
    ['top-k 1', { temperature: 1, topK: 1 }],
    ['temperature 1, no limits', { temperature: 1, topK: 0, topP: 1 }],
    ['temperature 0.7, top-k 40, top-p 0.9', { temperature: 0.7, topK: 40, topP: 0.9 }],
    ['with a repetition penalty', { temperature: 1.2, topK: 5, repetitionPenalty: 1.3 }],
  ] as const;
  it.each(samplers)('%s: plan (grammar-masked), unconstrained plan and generate reject with ERR_INTERNAL', async (_, sampling) => {
    const noScores = /every candidate logit is NaN or -inf: the model produced no usable scores/;
    await expectCode(model.plan({ images: [frame], history: HISTORY, sampling, maxTokens: 64 }), 'ERR_INTERNAL', noScores);
    await expectCode(model.plan({ images: [frame], history: HISTORY, sampling, maxTokens: 16, constrained: false }), 'ERR_INTERNAL', noScores);
    await expectCode(model.generate({ text: 'Hello', sampling, maxTokens: 4 }), 'ERR_INTERNAL', noScores);
  });
});

describe('the event loop while long inputs are tokenized', () => {
  it('a 400k-character prompt (text, chat messages, prepare) and 100k token ids never stall a 1 ms timer > 50 ms (best of 3 tries)', async () => {
    const m = await loadModel(await testModel('tiny', 'awq'), { threads: 1 }); // one core stays free for the event loop
    try {
      // About 89k tokens: past this KV capacity (rejected after tokenizing) but inside the model's context
      // length (max_position_embeddings 128000), so the whole tokenization runs.
      const text = 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(400_000 / 45)).slice(0, 400_000);
      const ids = Array.from({ length: 100_000 }, (_, i) => 1000 + (i % 5000));
      await m.generate({ text: 'warm up the session', maxTokens: 1 });
      const requests: [string, () => Promise<unknown>][] = [
        ['text', () => m.generate({ text, maxTokens: 1 })],
        ['messages', () => m.generate({ messages: [{ role: 'user', content: text }], maxTokens: 1 })],
        ['prepare', () => m.prepare({ text })],
        ['tokens', () => m.generate({ tokens: ids, maxTokens: 1 })],
        ['prepare tokens', () => m.prepare({ tokens: ids })],
      ];
      for (const [what, request] of requests) {
        const worst = await worstEventLoopGapOfBest(
          () =>
            request().catch((err: unknown) => {
              // Generation itself is refused for the KV capacity, only after the whole input was tokenized.
              expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/the prompt has \d+ tokens; the KV cache holds/) });
            }),
          50,
        );
        expect(worst, what).toBeLessThan(50);
      }
      // Token input's prompt text, now decoded on the tokenizer thread, is still the text of the ids.
      const fromText = await m.prepare({ text: 'Hello, world <|im_end|>' });
      expect((await m.prepare({ tokens: fromText.inputIds })).promptText).toBe('Hello, world <|im_end|>');
    } finally {
      await m.dispose();
    }
  }, 180_000);
});

/** Runs an ES module snippet under `node --input-type=module -e` (the failing form); exit code and output. */
function runModule(source: string, timeoutMs = 150_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, ms: performance.now() - started });
    });
  });
}

describe('process lifetimes: a script that used the API exits on its own', () => {
  let dir: string;
  const index = JSON.stringify(path.join(packageRoot, 'dist', 'index.js'));
  beforeAll(async () => {
    dir = JSON.stringify(await testModel('tiny', 'awq'));
  });
  const history = JSON.stringify(HISTORY);

  it('under node --input-type=module -e: load, plan, dispose, exit 0 (the tokenizer thread does not inherit execArgv)', async () => {
    const r = await runModule(`
      import { loadModel } from ${index};
      const m = await loadModel(${dir});
      const frame = m.allocFrame({ width: 64, height: 64, format: 'rgb8' });
      const plan = await m.plan({ images: [frame], history: ${history} });
      console.log('waypoints', plan.waypoints.length);
      await m.dispose();
    `);
    expect(r.output).toContain('waypoints 6');
    expect(r.signal, r.output).toBeNull();
    expect(r.code, r.output).toBe(0);
  }, 180_000);

  it('without dispose(), and after rejected requests (bad tokens, a throwing onToken, a function in messages), the process still exits', async () => {
    const r = await runModule(`
      import { loadModel } from ${index};
      const m = await loadModel(${dir});
      const codes = [];
      for (const request of [
        { tokens: [null], maxTokens: 1 },
        { text: 'Hello', maxTokens: 16, onToken: () => { throw new Error('boom'); } },
        { messages: [{ role: 'user', content: () => 'x' }], maxTokens: 1 },
      ]) {
        await m.generate(request).then(() => codes.push('resolved'), (e) => codes.push(e.code + (e.cause ? ':' + e.cause.message : '')));
      }
      const frame = m.allocFrame({ width: 64, height: 64, format: 'rgb8' });
      await m.plan({ images: [frame], history: ${history} });
      console.log(codes.join(' '));
    `);
    expect(r.output).toContain('ERR_INVALID_ARGUMENT ERR_CALLBACK:boom ERR_INVALID_ARGUMENT');
    expect(r.signal, r.output).toBeNull();
    expect(r.code, r.output).toBe(0);
  }, 180_000);
});
