// Straightforward float64 reference implementations of the Qwen2 decoder and the Qwen2.5-VL vision
// tower, written from the model definitions (Hugging Face modeling_qwen2_5_vl) independently of the
// C++ engines, for small generated models. Keys and values are rounded to fp16 like the engines'
// fp16 KV store, so results agree closely.
import path from 'node:path';

import { dequantizeAwqJs, type JsTensor, readSafetensors, roundToHalf, toFloat64 } from './safetensors.js';

export class ReferenceWeights {
  private readonly tensors = new Map<string, JsTensor>();

  constructor(files: string[]) {
    for (const f of files) for (const [k, v] of readSafetensors(f)) this.tensors.set(k, v);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  vector(name: string): Float64Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return toFloat64(t);
  }

  /** A linear layer's weight [out][in] (dequantized from AutoAWQ when the prefix has a qweight). */
  matrix(prefix: string): { w: Float64Array; out: number; in: number } {
    const q = this.tensors.get(`${prefix}.qweight`);
    if (q) {
      const { weight, out, in: inFeatures } = dequantizeAwqJs(q, this.tensors.get(`${prefix}.qzeros`)!, this.tensors.get(`${prefix}.scales`)!);
      return { w: weight, out, in: inFeatures };
    }
    const t = this.tensors.get(`${prefix}.weight`) ?? this.tensors.get(prefix);
    if (!t) throw new Error(`reference: missing ${prefix}`);
    const out = t.shape[0]!;
    return { w: toFloat64(t), out, in: t.shape.slice(1).reduce((a, b) => a * b, 1) };
  }
}

export function linear(m: { w: Float64Array; out: number; in: number }, x: Float64Array, bias?: Float64Array): Float64Array {
  const y = new Float64Array(m.out);
  for (let r = 0; r < m.out; r++) {
    let s = bias ? bias[r]! : 0;
    const row = r * m.in;
    for (let c = 0; c < m.in; c++) s += m.w[row + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

export function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

/** Rotate-half rotary on `heads` vectors of length dim (cos/sin per i < dim/2). */
export function rotary(v: Float64Array, heads: number, dim: number, cos: ArrayLike<number>, sin: ArrayLike<number>): void {
  const half = dim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const a = v[h * dim + i]!;
      const b = v[h * dim + i + half]!;
      v[h * dim + i] = a * cos[i]! - b * sin[i]!;
      v[h * dim + i + half] = b * cos[i]! + a * sin[i]!;
    }
  }
}

function attend(q: Float64Array, keys: Float64Array[], values: Float64Array[], scale: number): Float64Array {
  const scores = keys.map((k) => {
    let s = 0;
    for (let i = 0; i < q.length; i++) s += q[i]! * k[i]!;
    return s * scale;
  });
  const max = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const out = new Float64Array(q.length);
  values.forEach((v, t) => {
    for (let i = 0; i < out.length; i++) out[i] += (e[t]! / sum) * v[i]!;
  });
  return out;
}

export interface ReferenceTextConfig {
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
}

/**
 * Full-sequence forward of the decoder: embeds [n][hidden], rope rows [n][headDim] (cos half, sin half)
 * for each token's position; returns the logits of the last token (tied head = embedding matrix).
 */
export function referenceDecoderLogits(
  dir: string,
  c: ReferenceTextConfig,
  embeds: Float64Array[],
  ropeRows: Float64Array[],
): Float64Array {
  const weights = new ReferenceWeights([path.join(dir, 'llm', 'model.safetensors')]);
  const embedding = new ReferenceWeights([path.join(dir, 'llm', 'embedding.safetensors')]).matrix('embedding');
  const d = c.headDim;
  const half = d / 2;
  let xs = embeds.map((e) => Float64Array.from(e));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const wq = weights.matrix(`${p}.self_attn.q_proj`);
    const wk = weights.matrix(`${p}.self_attn.k_proj`);
    const wv = weights.matrix(`${p}.self_attn.v_proj`);
    const wo = weights.matrix(`${p}.self_attn.o_proj`);
    const bq = weights.vector(`${p}.self_attn.q_proj.bias`);
    const bk = weights.vector(`${p}.self_attn.k_proj.bias`);
    const bv = weights.vector(`${p}.self_attn.v_proj.bias`);
    const n1 = weights.vector(`${p}.input_layernorm.weight`);
    const n2 = weights.vector(`${p}.post_attention_layernorm.weight`);
    const gate = weights.matrix(`${p}.mlp.gate_proj`);
    const up = weights.matrix(`${p}.mlp.up_proj`);
    const down = weights.matrix(`${p}.mlp.down_proj`);
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    xs.forEach((x, t) => {
      const n = rmsNorm(x, n1, c.rmsNormEps);
      const q = linear(wq, n, bq);
      const k = linear(wk, n, bk);
      const v = linear(wv, n, bv);
      const cos = ropeRows[t]!.subarray(0, half);
      const sin = ropeRows[t]!.subarray(half, d);
      rotary(q, c.heads, d, cos, sin);
      rotary(k, c.kvHeads, d, cos, sin);
      qs.push(q);
      ks.push(k.map(roundToHalf));
      vs.push(v.map(roundToHalf));
    });
    const group = c.heads / c.kvHeads;
    xs = xs.map((x, t) => {
      const attn = new Float64Array(c.heads * d);
      for (let h = 0; h < c.heads; h++) {
        const g = Math.floor(h / group);
        const out = attend(
          qs[t]!.subarray(h * d, (h + 1) * d),
          ks.slice(0, t + 1).map((k) => k.subarray(g * d, (g + 1) * d)),
          vs.slice(0, t + 1).map((v) => v.subarray(g * d, (g + 1) * d)),
          1 / Math.sqrt(d),
        );
        attn.set(out, h * d);
      }
      const y = Float64Array.from(x);
      linear(wo, attn).forEach((v, i) => (y[i] += v));
      const n = rmsNorm(y, n2, c.rmsNormEps);
      const g = linear(gate, n);
      const u = linear(up, n);
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      linear(down, act).forEach((v, i) => (y[i] += v));
      return y;
    });
  }
  const last = rmsNorm(xs[xs.length - 1]!, weights.vector('model.norm.weight'), c.rmsNormEps);
  return linear(embedding, last);
}

export interface ReferenceVisionConfig {
  depth: number;
  hiddenSize: number;
  heads: number;
  fullAttentionBlocks: number[];
  rmsNormEps: number;
}

function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** erf: Maclaurin series below 3 (cancellation stays ~1e-13), asymptotic erfc expansion above (~1e-7). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 3) {
    const x2 = ax * ax;
    const erfc = (Math.exp(-x2) / (ax * Math.sqrt(Math.PI))) * (1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2));
    return Math.sign(x) * (1 - erfc);
  }
  let sum = 0;
  let term = ax;
  for (let n = 0; n < 100; n++) {
    sum += term / (2 * n + 1);
    term *= (-ax * ax) / (n + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
}

/**
 * The vision tower (Hugging Face Qwen2_5_VisionTransformerPretrainedModel.forward) on pre-patchified
 * input [HW][patchDim] with the engine-contract index inputs. Returns [HW/4][outHidden].
 */
export function referenceVision(
  dir: string,
  c: ReferenceVisionConfig,
  input: Float64Array[],
  angles: Float32Array,
  cuSeqlens: number[],
  cuWindowSeqlens: number[],
  windowIndex: number[],
): Float64Array[] {
  const w = new ReferenceWeights([path.join(dir, 'visual', 'model.safetensors')]);
  const h = c.hiddenSize;
  const d = h / c.heads;
  const half = d / 2;
  const n = input.length;
  const patch = w.matrix('visual.patch_embed.proj');
  const embedded = input.map((x) => linear(patch, x));
  let x: Float64Array[] = [];
  const cos: Float64Array[] = [];
  const sin: Float64Array[] = [];
  for (const unit of windowIndex) {
    for (let j = 0; j < 4; j++) {
      const p = unit * 4 + j;
      x.push(embedded[p]!);
      cos.push(Float64Array.from(angles.subarray(p * half, (p + 1) * half), Math.cos));
      sin.push(Float64Array.from(angles.subarray(p * half, (p + 1) * half), Math.sin));
    }
  }
  for (let b = 0; b < c.depth; b++) {
    const p = `visual.blocks.${b}`;
    const cu = c.fullAttentionBlocks.includes(b) ? cuSeqlens : cuWindowSeqlens;
    const qkvW = w.matrix(`${p}.attn.qkv`);
    const qkvB = w.vector(`${p}.attn.qkv.bias`);
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    x.forEach((xi, t) => {
      const qkv = linear(qkvW, rmsNorm(xi, w.vector(`${p}.norm1.weight`), c.rmsNormEps), qkvB);
      const qt = qkv.slice(0, h);
      const kt = qkv.slice(h, 2 * h);
      rotary(qt, c.heads, d, cos[t]!, sin[t]!);
      rotary(kt, c.heads, d, cos[t]!, sin[t]!);
      q.push(qt);
      k.push(kt.map(roundToHalf));
      v.push(qkv.slice(2 * h).map(roundToHalf));
    });
    const segment = (t: number) => {
      for (let s = 0; s + 1 < cu.length; s++) if (t >= cu[s]! && t < cu[s + 1]!) return [cu[s]!, cu[s + 1]!] as const;
      throw new Error('token outside every segment');
    };
    const proj = w.matrix(`${p}.attn.proj`);
    const projB = w.vector(`${p}.attn.proj.bias`);
    x = x.map((xi, t) => {
      const [s0, s1] = segment(t);
      const attn = new Float64Array(h);
      for (let hd = 0; hd < c.heads; hd++) {
        const out = attend(
          q[t]!.subarray(hd * d, (hd + 1) * d),
          k.slice(s0, s1).map((kk) => kk.subarray(hd * d, (hd + 1) * d)),
          v.slice(s0, s1).map((vv) => vv.subarray(hd * d, (hd + 1) * d)),
          1 / Math.sqrt(d),
        );
        attn.set(out, hd * d);
      }
      const y = Float64Array.from(xi);
      linear(proj, attn, projB).forEach((val, i) => (y[i] += val));
      const nrm = rmsNorm(y, w.vector(`${p}.norm2.weight`), c.rmsNormEps);
      const g = linear(w.matrix(`${p}.mlp.gate_proj`), nrm, w.vector(`${p}.mlp.gate_proj.bias`));
      const u = linear(w.matrix(`${p}.mlp.up_proj`), nrm, w.vector(`${p}.mlp.up_proj.bias`));
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      linear(w.matrix(`${p}.mlp.down_proj`), act, w.vector(`${p}.mlp.down_proj.bias`)).forEach((val, i) => (y[i] += val));
      return y;
    });
  }
  const ln = w.vector('visual.merger.ln_q.weight');
  const fc1 = w.matrix('visual.merger.mlp.0');
  const fc2 = w.matrix('visual.merger.mlp.2');
  const merged: Float64Array[] = [];
  for (let u = 0; u < n / 4; u++) {
    const cat = new Float64Array(4 * h);
    for (let j = 0; j < 4; j++) cat.set(rmsNorm(x[u * 4 + j]!, ln, c.rmsNormEps), j * h);
    const hidden = linear(fc1, cat, w.vector('visual.merger.mlp.0.bias')).map(gelu);
    merged.push(linear(fc2, hidden, w.vector('visual.merger.mlp.2.bias')));
  }
  // Back to the original (raster) merge-unit order: output[i] = merged[reverse[i]].
  const reverse = new Array<number>(windowIndex.length);
  windowIndex.forEach((unit, i) => (reverse[unit] = i));
  return reverse.map((i) => merged[i]!);
}
