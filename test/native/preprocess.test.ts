// Image preprocessing and positions against independent references: Pillow's bicubic resize, the
// Hugging Face processor's patch order, Qwen2.5-VL's window index, and hand-computed M-RoPE ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { nativeLoadSpec } from '../../lib/model/modelConfig.js';
import { native, testingAddon } from '../../lib/native.js';
import { resizeBicubicReference, qwenPixelValues } from '../helpers/imageReference.js';
import { testModel } from '../helpers/models.js';
import { cuSeqlens, type Grid, inversePermutation, rotaryAngles, windowIndex } from '../helpers/visionInputs.js';

interface ResizeHooks {
  resizeBicubic(rgb: Uint8Array, w: number, h: number, nw: number, nh: number): Uint8Array;
  smartResize(h: number, w: number, factor: number, min: number, max: number): [number, number];
}
const hooks = () => testingAddon() as ResizeHooks;

function randomImage(w: number, h: number, seed: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    // Smooth-ish content with edges: a gradient plus noise, like a camera frame.
    out[i] = (((i / 3) % w) * 2 + (s >>> 24)) & 0xff;
  }
  return out;
}

describe('Pillow-compatible bicubic resize', () => {
  const cases: Array<[number, number, number, number]> = [
    [160, 90, 68, 38], // downscale (antialiased support)
    [64, 48, 112, 84], // upscale
    [100, 60, 100, 33], // vertical only
    [37, 29, 56, 29], // horizontal only, odd sizes
    [1600, 900, 682, 384], // the nuScenes frame regularised as in training
  ];
  it.each(cases)('%ix%i -> %ix%i matches a float reference of the algorithm within 1 level', (w, h, nw, nh) => {
    const input = randomImage(w, h, w * 7 + h);
    const actual = hooks().resizeBicubic(input, w, h, nw, nh);
    const expected = resizeBicubicReference(input, w, h, nw, nh);
    expect(actual.length).toBe(nw * nh * 3);
    let worst = 0;
    let differing = 0;
    for (let i = 0; i < actual.length; i++) {
      const d = Math.abs(actual[i]! - expected[i]!);
      worst = Math.max(worst, d);
      if (d > 0) differing++;
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(differing / actual.length).toBeLessThan(0.01); // fixed point rounding: rare ±1
  });

  it('keeps the image when the size is unchanged', () => {
    const input = randomImage(20, 10, 3);
    expect(hooks().resizeBicubic(input, 20, 10, 20, 10)).toEqual(input);
  });
});

describe('smart resize', () => {
  it('matches Qwen2-VL smart_resize', () => {
    const s = (h: number, w: number, min = 3136, max = 12845056) => hooks().smartResize(h, w, 28, min, max);
    // The nuScenes frame after LLaMA-Factory's regularisation (682 x 384) with the processor's default
    // bounds: 392 x 672 = 336 image tokens, as in training.
    expect(s(384, 682)).toEqual([392, 672]);
    // With max_pixels 262144 in the processor itself, 392 x 672 would exceed it: scaled down.
    expect(s(384, 682, 1024, 262144)).toEqual([364, 672]);
    expect(s(900, 1600, 1024, 262144)).toEqual([364, 672]);
    expect(s(56, 56)).toEqual([56, 56]);
    expect(s(10, 10)).toEqual([56, 56]); // below min_pixels: scaled up
    expect(s(42, 42)).toEqual([56, 56]); // 42/28 = 1.5 rounds to even (2)
    expect(s(70, 70)).toEqual([56, 56]); // 2.5 rounds to even (2): Python's round
    expect(() => s(10, 3000)).toThrow(/aspect ratio/);
  });
});

describe('model.prepare()', () => {
  let model: Model;
  beforeAll(async () => {
    // No regularisation, so a 56 x 84 image needs no resize at all (multiples of 28, within bounds).
    model = await loadModel(await testModel('tiny', 'awq'), { imageRegularization: false });
  });
  afterAll(() => model.dispose());

  it('pixel values equal the Hugging Face processor patch order for an image that needs no resize', async () => {
    const frame = model.allocFrame({ width: 84, height: 56, format: 'rgb8' });
    const rgb = randomImage(84, 56, 11);
    frame.data.set(rgb);
    const prepared = await model.prepare({ text: 'Describe <image>.', images: [frame] }, { pixelValues: true });
    expect(prepared.imageGrids).toEqual([[1, 4, 6]]);
    const expected = qwenPixelValues(rgb, 84, 56);
    expect(prepared.pixelValues![0]!.length).toBe(expected.length);
    expect(Array.from(prepared.pixelValues![0]!)).toEqual(Array.from(expected));
  });

  it('converts bgr8, rgba8 and nv12 frames to the same pixels as rgb8', async () => {
    const w = 56;
    const h = 56;
    const rgb = randomImage(w, h, 5);
    const asRgb = model.allocFrame({ width: w, height: h, format: 'rgb8' });
    asRgb.data.set(rgb);
    const bgr = model.allocFrame({ width: w, height: h, format: 'bgr8' });
    const rgba = model.allocFrame({ width: w, height: h, format: 'rgba8' });
    for (let p = 0; p < w * h; p++) {
      bgr.data.set([rgb[p * 3 + 2]!, rgb[p * 3 + 1]!, rgb[p * 3]!], p * 3);
      rgba.data.set([rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!, 255], p * 4);
    }
    const pixels = async (f: typeof asRgb) => (await model.prepare({ text: '<image>', images: [f] }, { pixelValues: true })).pixelValues![0]!;
    const reference = await pixels(asRgb);
    expect(await pixels(bgr)).toEqual(reference);
    expect(await pixels(rgba)).toEqual(reference);
    // nv12 of a flat grey (Y=126, U=V=128) is RGB (128, 128, 128) in BT.601 limited range.
    const nv12 = model.allocFrame({ width: w, height: h, format: 'nv12' });
    nv12.data.fill(126, 0, w * h);
    nv12.data.fill(128, w * h);
    const grey = model.allocFrame({ width: w, height: h, format: 'rgb8' });
    grey.data.fill(128);
    expect(await pixels(nv12)).toEqual(await pixels(grey));
  });

  it('window indices, cumulative lengths and rotary angles equal the reference algorithms', async () => {
    const dir = await testModel('tiny', 'awq');
    const files = resolveModelFiles(dir);
    const handle = await native().loadModel(
      nativeLoadSpec(files, {
        backend: 'cpu',
        limits: { maxKvCapacity: 256, maxInputLength: 256, maxImageTokens: 1024, maxImageTokensPerImage: 1024 },
        regularization: false,
        imagePad: 151655,
        visionStart: 151652,
      }),
    );
    const session = handle.createSession();
    // Two images; 196 x 140 is 14 x 10 patches: several 4 x 4-unit windows with partial ones at the edges.
    const a = model.allocFrame({ width: 196, height: 140, format: 'rgb8' });
    const b = model.allocFrame({ width: 56, height: 112, format: 'rgb8' });
    const prepared = await session.prepare([a._native, b._native], false);
    const grids = prepared.grids as Grid[];
    expect(grids).toEqual([
      [1, 10, 14],
      [1, 8, 4],
    ]);
    const ref = windowIndex(grids);
    expect(Array.from(prepared.windowIndex)).toEqual(ref.windowIndex);
    expect(Array.from(prepared.reverseWindowIndex)).toEqual(inversePermutation(ref.windowIndex));
    expect(Array.from(prepared.cuWindowSeqlens)).toEqual(ref.cuWindowSeqlens);
    expect(Array.from(prepared.cuSeqlens)).toEqual(cuSeqlens(grids));
    const headDim = 64 / 2; // tiny vision: hidden 64, 2 heads
    const angles = rotaryAngles(grids, headDim);
    expect(prepared.rotaryPosEmb.length).toBe(angles.length);
    prepared.rotaryPosEmb.forEach((v, i) => expect(v).toBeCloseTo(angles[i]!, 5));
    session.dispose();
    handle.dispose();
  });

  it('gives the hand-computed M-RoPE ids for text, an image and text', async () => {
    const frame = model.allocFrame({ width: 56, height: 84, format: 'rgb8' }); // grid [1, 6, 4]: 6 image tokens (3 x 2)
    const prepared = await model.prepare({ text: 'ab<image>c', images: [frame] });
    const ids = Array.from(prepared.inputIds);
    const pads = ids.filter((id) => id === 151655).length;
    expect(pads).toBe(6);
    const start = ids.indexOf(151655);
    const [t, h, w] = prepared.positionIds.map((a) => Array.from(a));
    // Text before the image: 0 .. start-1 on all axes.
    for (let i = 0; i < start; i++) expect([t[i], h[i], w[i]]).toEqual([i, i, i]);
    // The image's 3 x 2 merged grid starts at position `start`: t stays, h is the row, w the column.
    const grid = [0, 1, 2].flatMap((row) => [0, 1].map((col) => [start, start + row, start + col]));
    grid.forEach((p, k) => expect([t[start + k], h[start + k], w[start + k]]).toEqual(p));
    // Text after the image continues from max + 1 = start + 3.
    const after = start + 6;
    for (let i = after; i < ids.length; i++) expect([t[i], h[i], w[i]]).toEqual([start + 3 + (i - after), start + 3 + (i - after), start + 3 + (i - after)]);
  });
});
