// The device pipeline (native/vla/device_pipeline_ops.h: preprocessing, embedding splice, M-RoPE table
// and sampling as CUDA kernels on device memory, what the TensorRT backend runs) against the host
// pipeline (the CPU code), on the same CPU engines: a model loaded with testing.devicePipeline puts the
// CPU engines behind device memory (native/vla/device_staged_engine.h), so the only difference between
// the two models is the pipeline. Every request must give the same tokens, stop reason and step counts.
//
// Needs a CUDA device: a GPU, or the CPU emulation of `npm run test:cuda-emulated` (which runs this
// file). Elsewhere the comparisons are skipped and loading with testing.devicePipeline must fail
// cleanly with ERR_BACKEND_UNAVAILABLE.
//
// On a real GPU the rope table may differ from the CPU's by a few ulp (device cosf / sinf, see
// native/cuda/kernels/rope.h), which could flip a near-tied greedy choice of the random test model;
// under the emulator both use the host's libm, so equality is exact there.
import { rmSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FrameBuffer, info, loadModel, type LoadModelOptions, type Model, type PlanRequest, TrtVlaError } from '../../lib/index.js';
import type { GenerateResult, PlanResult } from '../../lib/model/types.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { nativeLoadSpec } from '../../lib/model/modelConfig.js';
import { native } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';
import { withVocabMap } from '../helpers/vocabMap.js';
import { fill } from '../helpers/planInputs.js';

const runtime = await info();
const hasDevice = runtime.backends.cuda.available;

const HISTORY = [
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

type Frame = { width: number; height: number; format: 'rgb8' | 'bgr8' | 'rgba8' | 'nv12'; stride?: number; seed: number };

/** The same pixels in a frame of each model. */
function frames(models: Model[], f: Frame): FrameBuffer[] {
  return models.map((m) => {
    const frame = m.allocFrame({ width: f.width, height: f.height, format: f.format, stride: f.stride });
    fill(frame.data, f.seed);
    return frame;
  });
}

/** What must be equal between the pipelines (timings only by their fields). */
function outcome(r: PlanResult | GenerateResult): Record<string, unknown> {
  const t = r.timings;
  return {
    tokens: Array.from(r.tokens),
    stopReason: r.stopReason,
    forwardPasses: t.forwardPasses,
    generatedTokens: t.generatedTokens,
    forcedTokens: t.forcedTokens,
    promptTokens: t.promptTokens,
    cachedPromptTokens: t.cachedPromptTokens,
    imageTokens: t.imageTokens,
    timingFields: Object.keys(t).sort(),
  };
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TrtVlaError);
  return { code: (err as TrtVlaError).code, message: (err as Error).message };
}

function deviceOptions(options: LoadModelOptions, testing: Record<string, unknown> = {}): LoadModelOptions {
  return { ...options, _testing: { devicePipeline: true, ...testing } } as LoadModelOptions;
}

describe.skipIf(hasDevice)('device pipeline without a CUDA device', () => {
  it('refuses testing.devicePipeline with ERR_BACKEND_UNAVAILABLE', async () => {
    const dir = await testModel('tiny', 'awq');
    const err = await failure(loadModel(dir, deviceOptions({ backend: 'cpu' })));
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/no CUDA device/);
  });
});

describe('pipeline choice', () => {
  it('runs the CPU engines with the host pipeline', async () => {
    const model = await loadModel(await testModel('tiny', 'awq'), { backend: 'cpu', maxKvCapacity: 128, threads: 1 });
    try {
      expect(model.description.pipeline).toBe('host');
    } finally {
      await model.dispose();
    }
  });

  it('keeps testing.devicePipeline to the CPU backend: the TensorRT backend always runs the device pipeline', async () => {
    // Straight to the native loader (loadModel would refuse the TensorRT backend for this bundle first).
    const spec = nativeLoadSpec(resolveModelFiles(await testModel('tiny', 'awq')), {
      backend: 'tensorrt',
      tensorrt: { pluginLibrary: '', cudaGraphs: true },
      limits: { maxImageTokens: 256, maxImageTokensPerImage: 256 },
      regularization: false,
      imagePad: 151655,
      visionStart: 151652,
    });
    const err = await failure(native().loadModel({ ...spec, testing: { devicePipeline: true } }));
    expect(err.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err.message).toMatch(/testing\.devicePipeline runs the CPU engines/);
  });
});

// Under the CUDA emulator every kernel block runs as real threads that meet at each barrier and warp
// shuffle, so one decode step costs ~0.3 s on two cores (a few ms on a GPU); the longest tests here
// make ~100 device-pipeline steps.
describe.skipIf(!hasDevice)('device pipeline = host pipeline on the same engines', { timeout: 240_000 }, () => {
  const LOAD: LoadModelOptions = { backend: 'cpu', threads: 1, maxKvCapacity: 1024 };
  let dir: string;
  let host: Model;
  let device: Model;
  const extra: Model[] = [];
  const temp: string[] = [];

  /** Runs the same request on both models (each its own frames) and expects the same outcome. */
  async function same<R extends PlanResult | GenerateResult>(run: (m: Model, images: FrameBuffer[]) => Promise<R>, f?: Frame[], models = [host, device]): Promise<R[]> {
    const perModel = models.map(() => [] as FrameBuffer[]);
    for (const spec of f ?? []) frames(models, spec).forEach((frame, i) => perModel[i]!.push(frame));
    const results: R[] = [];
    for (let i = 0; i < models.length; i++) results.push(await run(models[i]!, perModel[i]!));
    for (let i = 1; i < results.length; i++) expect(outcome(results[i]!)).toEqual(outcome(results[0]!));
    return results;
  }

  beforeAll(async () => {
    dir = await testModel('tiny', 'awq');
    host = await loadModel(dir, LOAD);
    const before = native().memoryStats().deviceLiveBytes;
    device = await loadModel(dir, deviceOptions(LOAD));
    const d = device.description;
    // The fp16 embedding table is uploaded once per model and counted as device memory.
    expect(native().memoryStats().deviceLiveBytes - before).toBeGreaterThanOrEqual(d.vocabSize * d.hiddenSize * 2);
  });
  afterAll(async () => {
    for (const m of [host, device, ...extra]) await m?.dispose();
    for (const d of temp) rmSync(d, { recursive: true, force: true });
  });

  it('loads the CPU engines with the device pipeline', () => {
    expect(host.description.pipeline).toBe('host');
    expect(device.description.pipeline).toBe('device');
    expect(device.description.backend).toBe('cpu');
  });

  it('plans greedily from an rgb8 frame: same tokens, stop reason and step counts; stage timings from events', async () => {
    const [a, b] = await same((m, images) => m.plan({ images, history: HISTORY }), [{ width: 320, height: 180, format: 'rgb8', seed: 3 }]);
    expect(a!.complete).toBe(true);
    expect(b!.waypoints).toEqual(a!.waypoints);
    for (const key of ['preprocessMs', 'visionMs', 'embedMs', 'prefillMs', 'decodeMs', 'firstTokenMs', 'totalMs'] as const) {
      expect(b!.timings[key], key).toBeGreaterThan(0);
    }
  });

  it('preprocesses every frame format and size as the CPU does (mapped frames and uploaded ones)', async () => {
    const uploaded = await loadModel(dir, deviceOptions(LOAD, { mappedFrames: false }));
    extra.push(uploaded);
    const cases: Frame[] = [
      { width: 64, height: 64, format: 'rgb8', seed: 1 },
      { width: 97, height: 61, format: 'bgr8', seed: 2 },
      { width: 130, height: 74, format: 'rgba8', stride: 130 * 4 + 24, seed: 4 },
      { width: 200, height: 112, format: 'nv12', seed: 5 },
      { width: 1600, height: 900, format: 'rgb8', seed: 6 }, // above the Impromptu regularisation's 262144 pixels
    ];
    for (const f of cases) {
      await same((m, images) => m.generate({ text: 'Describe the road. <image>', images, maxTokens: 4 }), [f], [host, device, uploaded]);
    }
    // Two images in one prompt.
    await same(
      (m, images) => m.generate({ text: 'Front <image> and back <image>.', images, maxTokens: 4 }),
      [
        { width: 96, height: 80, format: 'nv12', seed: 7 },
        { width: 120, height: 64, format: 'bgr8', seed: 8 },
      ],
      [host, device, uploaded],
    );
  });

  it('samples with a seed, top-k, top-p and a repetition penalty', async () => {
    for (const sampling of [
      { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 7 },
      { temperature: 1.3, topK: 5, topP: 1, repetitionPenalty: 1, seed: 11 },
      { temperature: 0.7, topK: 0, topP: 0.9, repetitionPenalty: 1.05, seed: 3 }, // every token a candidate
    ]) {
      await same((m, images) => m.generate({ text: 'What comes next? <image>', images, maxTokens: 10, sampling }), [{ width: 84, height: 84, format: 'rgb8', seed: 9 }]);
    }
    await same((m) => m.generate({ tokens: [151644, 872, 198, 3838, 374, 279, 1790, 3019, 30, 151645, 198], maxTokens: 12, sampling: { temperature: 1, topK: 20, seed: 5 } }));
  });

  it('plans under the grammar with sampling, and through free-text states (slow mode)', async () => {
    const image: Frame = { width: 112, height: 112, format: 'rgb8', seed: 12 };
    await same((m, images) => m.plan({ images, history: HISTORY, sampling: { temperature: 0.8, topK: 30, topP: 0.9, seed: 2 } }), [image]);
    await same((m, images) => m.plan({ images, history: HISTORY, mode: 'slow', maxTokens: 40 }), [image]);
    await same((m, images) => m.plan({ images, history: HISTORY, mode: 'slow', maxTokens: 40, sampling: { temperature: 1, topK: 50, seed: 9 } }), [image]);
  });

  it('applies the tests-only logit bias the same way', async () => {
    const target = Int32Array.from([27, 1, 13, 151645]);
    await same((m, images) => m.plan({ images, history: HISTORY, constrained: false, maxTokens: 4, _testingBias: { tokens: target, value: 60 } } as PlanRequest), [
      { width: 56, height: 56, format: 'rgb8', seed: 13 },
    ]);
  });

  it('reuses the prompt prefix cache the same way', async () => {
    const sessions = [host.createSession(), device.createSession()];
    const image: Frame = { width: 160, height: 90, format: 'rgb8', seed: 14 };
    const run = (i: number) => (m: Model, images: FrameBuffer[]) => sessions[m === host ? 0 : 1]!.plan({ images, history: HISTORY.slice(i) });
    const [first] = await same(run(0), [image]);
    const [second] = await same(run(1), [image]);
    expect(first!.timings.cachedPromptTokens).toBe(0);
    expect(second!.timings.cachedPromptTokens).toBeGreaterThan(10);
    await Promise.all(sessions.map((s) => s.dispose()));
  });

  it('prefills in chunks the same way', async () => {
    const chunked = { ...LOAD, maxInputLength: 48 };
    const models = [await loadModel(dir, chunked), await loadModel(dir, deviceOptions(chunked))];
    extra.push(...models);
    await same((m, images) => m.plan({ images, history: HISTORY }), [{ width: 140, height: 84, format: 'bgr8', seed: 15 }], models);
  });

  it('maps a reduced vocabulary back to full ids the same way', async () => {
    const ascii = withVocabMap(dir, [...Array.from({ length: 1000 }, (_, i) => i), 151643, 151644, 151645, 151652, 151653, 151655]);
    temp.push(ascii);
    const models = [await loadModel(ascii, LOAD), await loadModel(ascii, deviceOptions(LOAD))];
    extra.push(...models);
    const image: Frame = { width: 64, height: 64, format: 'rgb8', seed: 16 };
    const [plan] = await same((m, images) => m.plan({ images, history: HISTORY }), [image], models);
    expect(plan!.complete).toBe(true);
    const [free] = await same((m, images) => m.generate({ text: 'Go <image>', images, maxTokens: 8, sampling: { temperature: 1, topK: 0, seed: 4 } }), [image], models);
    for (const t of free!.tokens) expect(t < 1000 || t >= 151643).toBe(true);
    // The grammar needs digits that this map lacks: the same error from both pipelines.
    const noDigits = withVocabMap(dir, [...Array.from({ length: 1000 }, (_, i) => i).filter((i) => i < 15 || i > 24), 151643, 151644, 151645]);
    temp.push(noDigits);
    const crippled = [await loadModel(noDigits, LOAD), await loadModel(noDigits, deviceOptions(LOAD))];
    extra.push(...crippled);
    const errors = [];
    for (const m of crippled) errors.push(await failure(m.plan({ images: frames([m], image), history: HISTORY })));
    expect(errors[1]).toEqual(errors[0]);
    expect(errors[0]!.message).toMatch(/reduced vocabulary lacks/);
  });

  it('rejects bad prompts with the same errors', async () => {
    for (const tokens of [
      [1, 2, 999999],
      [1, 151655, 2],
      [-3, 5],
    ]) {
      const a = await failure(host.generate({ tokens }));
      const b = await failure(device.generate({ tokens }));
      expect(b).toEqual(a);
    }
  });
});
