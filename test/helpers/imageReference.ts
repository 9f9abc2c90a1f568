// Straightforward TypeScript versions of Pillow's bicubic resize and of Hugging Face
// Qwen2VLImageProcessor's normalisation and patch order, independent of native/vla, for tests.

function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Pillow's resampling weights for one axis, in floating point. */
function weights(inSize: number, outSize: number): { first: number; w: number[] }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const out: { first: number; w: number[] }[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const last = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w: number[] = [];
    for (let x = first; x < last; x++) w.push(bicubic((x - center + 0.5) / filterScale));
    const sum = w.reduce((a, b) => a + b, 0);
    out.push({ first, w: w.map((v) => v / sum) });
  }
  return out;
}

/** RGB8 resize: horizontal pass to an 8-bit intermediate, then vertical, rounding and clipping each. */
export function resizeBicubicReference(rgb: Uint8Array, width: number, height: number, newWidth: number, newHeight: number): Uint8Array {
  const clip = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  let src = rgb;
  let w = width;
  if (newWidth !== width) {
    const k = weights(width, newWidth);
    const tmp = new Uint8Array(newWidth * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < newWidth; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          k[x]!.w.forEach((wt, j) => (s += wt * rgb[(y * width + k[x]!.first + j) * 3 + c]!));
          tmp[(y * newWidth + x) * 3 + c] = clip(s);
        }
      }
    }
    src = tmp;
    w = newWidth;
  }
  if (newHeight === height) return src;
  const k = weights(height, newHeight);
  const out = new Uint8Array(w * newHeight * 3);
  for (let y = 0; y < newHeight; y++) {
    for (let x = 0; x < w * 3; x++) {
      let s = 0;
      k[y]!.w.forEach((wt, j) => (s += wt * src[(k[y]!.first + j) * w * 3 + x]!));
      out[y * w * 3 + x] = clip(s);
    }
  }
  return out;
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/**
 * Hugging Face Qwen2VLImageProcessor for an image that needs no resize: rescale 1/255, normalise,
 * repeat the frame into both temporal slots, then
 *   reshape(grid_t, tps, C, gh/ms, ms, ps, gw/ms, ms, ps).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
 * flattened to [patches, C * tps * ps * ps].
 */
export function qwenPixelValues(rgb: Uint8Array, width: number, height: number, ps = 14, tps = 2, ms = 2): Float32Array {
  const gh = height / ps;
  const gw = width / ps;
  const value = (c: number, y: number, x: number) =>
    Math.fround(Math.fround(Math.fround(rgb[(y * width + x) * 3 + c]! * (1 / 255)) - Math.fround(CLIP_MEAN[c]!)) / Math.fround(CLIP_STD[c]!));
  const out: number[] = [];
  for (let bh = 0; bh < gh / ms; bh++) {
    for (let bw = 0; bw < gw / ms; bw++) {
      for (let mh = 0; mh < ms; mh++) {
        for (let mw = 0; mw < ms; mw++) {
          for (let c = 0; c < 3; c++) {
            for (let t = 0; t < tps; t++) {
              for (let py = 0; py < ps; py++) {
                for (let px = 0; px < ps; px++) {
                  out.push(value(c, (bh * ms + mh) * ps + py, (bw * ms + mw) * ps + px));
                }
              }
            }
          }
        }
      }
    }
  }
  return Float32Array.from(out);
}
