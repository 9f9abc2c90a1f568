// Independent TypeScript versions of the Qwen2.5-VL vision-side index computations (Hugging Face
// Qwen2_5_VisionTransformerPretrainedModel.get_window_index / rot_pos_emb), for tests.

export type Grid = [t: number, h: number, w: number];

/** window_index and cu_window_seqlens (consecutive duplicates removed, as HF's forward does). */
export function windowIndex(grids: Grid[], windowSize = 112, patchSize = 14, merge = 2): { windowIndex: number[]; cuWindowSeqlens: number[] } {
  const vws = windowSize / merge / patchSize;
  const index: number[] = [];
  const cu = [0];
  let offset = 0;
  for (const [t, h, w] of grids) {
    const lh = h / merge;
    const lw = w / merge;
    const padH = vws - (lh % vws);
    const padW = vws - (lw % vws);
    const nh = (lh + padH) / vws;
    const nw = (lw + padW) / vws;
    for (let f = 0; f < t; f++) {
      for (let wh = 0; wh < nh; wh++) {
        for (let ww = 0; ww < nw; ww++) {
          let count = 0;
          for (let i = 0; i < vws; i++) {
            for (let j = 0; j < vws; j++) {
              const y = wh * vws + i;
              const x = ww * vws + j;
              if (y < lh && x < lw) {
                index.push(offset + f * lh * lw + y * lw + x);
                count++;
              }
            }
          }
          cu.push(cu[cu.length - 1]! + count * merge * merge);
        }
      }
    }
    offset += t * lh * lw;
  }
  const unique = cu.filter((v, i) => i === 0 || v !== cu[i - 1]);
  return { windowIndex: index, cuWindowSeqlens: unique };
}

/** cu_seqlens for full attention: one segment per temporal frame of each image. */
export function cuSeqlens(grids: Grid[]): number[] {
  const cu = [0];
  for (const [t, h, w] of grids) for (let f = 0; f < t; f++) cu.push(cu[cu.length - 1]! + h * w);
  return cu;
}

/** rotary_pos_emb [HW][headDim/2]: (h, w) patch coordinates times the inverse frequencies. */
export function rotaryAngles(grids: Grid[], headDim: number, merge = 2, theta = 10000): Float32Array {
  const dim = headDim / 2;
  const freqs = Array.from({ length: dim / 2 }, (_, i) => 1 / theta ** ((2 * i) / dim));
  const rows: number[] = [];
  for (const [t, h, w] of grids) {
    for (let f = 0; f < t; f++) {
      for (let bh = 0; bh < h / merge; bh++) {
        for (let bw = 0; bw < w / merge; bw++) {
          for (let i = 0; i < merge; i++) {
            for (let j = 0; j < merge; j++) {
              const hp = bh * merge + i;
              const wp = bw * merge + j;
              rows.push(...freqs.map((q) => hp * q), ...freqs.map((q) => wp * q));
            }
          }
        }
      }
    }
  }
  return Float32Array.from(rows);
}

export function inversePermutation(p: number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}
