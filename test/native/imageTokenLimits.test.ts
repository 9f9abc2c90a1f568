// The visual engine's limits on the CPU engine: a bundle whose visual/config.json carries visual_build's
// builder_config (Edge-LLM 0.6.1 cpp/builder/visualBuilder.h:46-53) gets the engine profile visual_build
// would make; each image is resized into the per-image token range (qwenViTRunner.cpp:344-346), and a
// request beyond the profile is refused with ERR_INVALID_ARGUMENT naming the numbers and the
// visual_build flag, before anything reaches an engine. loadModel's options lower the limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allocFrame, loadModel, type Model } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { nativeLoadSpec } from '../../lib/model/modelConfig.js';
import { native, type NativeModel } from '../../lib/native.js';
import { modelVariant, testModel } from '../helpers/models.js';

// min 16 / max 100 / 48 per image: the tiny model's processor allows up to 64 tokens per image
// (224 x 224 px), so the engine's per-image bound is the one that binds.
const BUILD = { min_image_tokens: 16, max_image_tokens: 100, max_image_tokens_per_image: 48 };
const withBuild = (build: Record<string, number>) => (json: Record<string, unknown>) => ({ ...json, builder_config: build });
const tokens = (grid: number[]) => (grid[0]! * grid[1]! * grid[2]!) / 4;
const HISTORY = [
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

describe('visual engine limits from builder_config (CPU engine)', () => {
  let dir: string;
  let model: Model;

  beforeAll(async () => {
    dir = modelVariant(await testModel('tiny', 'awq'), { 'visual/config.json': withBuild(BUILD) });
    model = await loadModel(dir, { backend: 'cpu', threads: 1 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('takes the profile visual_build makes from the flags', () => {
    expect(model.description.imageTokens).toEqual({ minPerImage: 16, maxPerImage: 48, maxTotal: 100, maxImages: 100 / 16 | 0 });
  });

  it('sizes a large frame down to the per-image maximum and a small one up to the minimum', async () => {
    const big = model.allocFrame({ width: 1600, height: 900, format: 'rgb8' });
    const small = model.allocFrame({ width: 56, height: 56, format: 'rgb8' });
    const prepared = await model.prepare({ images: [big, small], text: '<image><image>' });
    const [bigGrid, smallGrid] = prepared.imageGrids;
    expect(tokens(bigGrid!)).toBeLessThanOrEqual(48);
    expect(tokens(bigGrid!)).toBeGreaterThan(40); // not needlessly small: the closest 28-multiple size under the bound
    expect(tokens(smallGrid!)).toBeGreaterThanOrEqual(16);
    expect(tokens(smallGrid!)).toBeLessThanOrEqual(25);
  });

  it('plans from a 1600 x 900 frame sized into the range', async () => {
    const frame = model.allocFrame({ width: 1600, height: 900, format: 'rgb8' });
    const plan = await model.plan({ images: [frame], history: HISTORY });
    expect(plan.waypoints.length).toBeGreaterThan(0);
  });

  it('refuses three frames (more tokens than --maxImageTokens) naming the numbers and the flag', async () => {
    const frames = [0, 1, 2].map(() => model.allocFrame({ width: 1600, height: 900, format: 'rgb8' }));
    const err = await model.prepare({ images: frames, text: '<image><image><image>' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(String((err as Error).message)).toMatch(/3 images need 1\d\d image tokens \(4\d \+ 4\d \+ 4\d\); the visual engine takes at most 100 per call \(visual_build --maxImageTokens\)/);
  });

  it('refuses more images than cu_seqlens admits, naming the flags', async () => {
    const frames = Array.from({ length: 7 }, () => model.allocFrame({ width: 56, height: 56, format: 'rgb8' }));
    const err = await model.prepare({ images: frames, text: '<image>'.repeat(7) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(String((err as Error).message)).toMatch(/7 images; the visual engine takes at most 6 per call .*--maxImageTokens \/ --minImageTokens/);
  });

  it('options may lower the limits, not raise them past the engine', async () => {
    await expect(loadModel(dir, { backend: 'cpu', threads: 1, maxImageTokens: 200 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/maxImageTokens 200 exceeds the visual engine's 100, fixed when it was built \(visual_build --maxImageTokens\)/),
    });
    await using lower = await loadModel(dir, { backend: 'cpu', threads: 1, maxImageTokens: 60, maxImageTokensPerImage: 30 });
    expect(lower.description.imageTokens).toMatchObject({ maxPerImage: 30, maxTotal: 60 });
  });

  it('refuses a builder_config that visual_build itself would refuse', async () => {
    const bad = modelVariant(await testModel('tiny', 'awq'), { 'visual/config.json': withBuild({ ...BUILD, max_image_tokens_per_image: 200 }) });
    await expect(loadModel(bad, { backend: 'cpu', threads: 1 })).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/max_image_tokens_per_image/) });
  });
});

describe('the same limits without builder_config: loadModel options size the CPU engine', () => {
  it('refuses two frames above maxImageTokens; nothing reaches an engine', async () => {
    const dir = await testModel('tiny', 'awq');
    const spec = nativeLoadSpec(resolveModelFiles(dir), {
      backend: 'cpu',
      limits: { maxKvCapacity: 512, maxImageTokens: 80 },
      regularization: false,
      imagePad: 151655,
      visionStart: 151652,
    });
    const handle = (await native().loadModel({ ...spec, testing: { recordBindings: true } })) as NativeModel & { takeBindingLog(): unknown[] };
    try {
      expect(handle.describe().imageTokens).toEqual({ minPerImage: 1, maxPerImage: 80, maxTotal: 80, maxImages: 80 });
      expect(() => handle.imageGrids([{ width: 1600, height: 900 }, { width: 1600, height: 900 }])).toThrow(/at most 80 per call \(visual_build --maxImageTokens\)/);
      // The native request path checks too, from the frames' sizes, before preprocessing or any engine call.
      const frames = [0, 1].map(() => allocFrame({ width: 1600, height: 900, format: 'rgb8' }));
      const [grid] = handle.imageGrids([{ width: 1600, height: 900 }]);
      const prompt = [151652, ...Array<number>(2 * tokens(grid!)).fill(151655), 151653, 100];
      const session = handle.createSession();
      handle.takeBindingLog();
      await expect(
        session.generate({ inputIds: Int32Array.from(prompt), images: frames.map((f) => f._native), maxNewTokens: 1, requestId: 1, usePrefixCache: false }, () => {}),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(handle.takeBindingLog()).toEqual([]);
      for (const f of frames) f.dispose();
      session.dispose();
    } finally {
      handle.dispose();
    }
  });
});
