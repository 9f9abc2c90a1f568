/**
 * A streaming GGUF v3 writer (the file format of ggml / llama.cpp, spec: ggml `docs/gguf.md`) and
 * seeded random tensor sources in ggml's block layouts. It exists so that `bench:vs-llama` can hand
 * llama.cpp a model with exactly our decoder's shapes; nothing in the runtime reads GGUF.
 *
 * File layout (all little-endian): magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count,
 * the metadata (key string, u32 value type, value), one info per tensor (name, u32 n_dims, u64 ne[],
 * u32 ggml type, u64 offset into the data section), zero padding to the alignment, then each
 * tensor's bytes at its offset, each padded to the alignment. Strings are u64 length + UTF-8 bytes;
 * `ne[0]` is the contiguous dimension (a PyTorch [out, in] weight is ne = [in, out]).
 *
 * Tensor data is generated chunk by chunk and written as it is made: a 2 GB model never sits in
 * memory. The file appears under its name only when complete (written as `<file>.partial`, then
 * renamed).
 */
import { open, rename, rm } from 'node:fs/promises';

/** ggml_type ids (ggml.h) of the types this writer produces. */
export const GgmlType = { F32: 0, Q4_0: 2, Q8_0: 8, Q6_K: 14 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

/** Elements per block and bytes per block of each type (ggml-common.h block structs). */
const BLOCK: Readonly<Record<GgmlTypeId, { elements: number; bytes: number; name: string }>> = {
  [GgmlType.F32]: { elements: 1, bytes: 4, name: 'F32' },
  // block_q4_0 { ggml_half d; uint8_t qs[16]; }
  [GgmlType.Q4_0]: { elements: 32, bytes: 18, name: 'Q4_0' },
  // block_q8_0 { ggml_half d; int8_t qs[32]; }
  [GgmlType.Q8_0]: { elements: 32, bytes: 34, name: 'Q8_0' },
  // block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ggml_half d; }
  [GgmlType.Q6_K]: { elements: 256, bytes: 210, name: 'Q6_K' },
};

export function ggmlTypeName(type: GgmlTypeId): string {
  return BLOCK[type].name;
}

/** Bytes of a tensor of `type` with dimensions `ne` (ne[0] must be a whole number of blocks). */
export function ggmlTensorBytes(type: GgmlTypeId, ne: readonly number[]): number {
  const block = BLOCK[type];
  if (ne[0]! % block.elements !== 0) throw new Error(`ne[0] = ${ne[0]} is not a multiple of the ${block.name} block (${block.elements})`);
  return (ne.reduce((a, b) => a * b, 1) / block.elements) * block.bytes;
}

/** A typed metadata value (GGUF value types: u32 4, i32 5, f32 6, bool 7, string 8, array 9). */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]'; value: ArrayLike<number> };

export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'string[]', value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: 'i32[]', value }),
};

/**
 * One tensor: its name, type, dimensions (ne[0] first) and a source that fills consecutive whole
 * blocks of its data, in order, on each call.
 */
export interface GgufTensor {
  name: string;
  type: GgmlTypeId;
  ne: readonly number[];
  source: () => BlockFiller;
}

/** Fills `out` (a whole number of blocks) with the next blocks of a tensor. */
export type BlockFiller = (out: Uint8Array) => void;

const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = Buffer.alloc(1 << 20);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeUInt32LE(v, this.length);
  }
  i32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeInt32LE(v, this.length);
  }
  u64(v: number): void {
    this.reserve(8);
    this.length = this.buf.writeBigUInt64LE(BigInt(v), this.length);
  }
  f32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeFloatLE(v, this.length);
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(n);
    this.reserve(n);
    this.length += this.buf.write(s, this.length, 'utf8');
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(sink: ByteSink, value: GgufValue): void {
  switch (value.type) {
    case 'u32':
      sink.u32(VALUE_TYPE.u32);
      return sink.u32(value.value);
    case 'i32':
      sink.u32(VALUE_TYPE.i32);
      return sink.i32(value.value);
    case 'f32':
      sink.u32(VALUE_TYPE.f32);
      return sink.f32(value.value);
    case 'bool':
      sink.u32(VALUE_TYPE.bool);
      return sink.u8(value.value ? 1 : 0);
    case 'string':
      sink.u32(VALUE_TYPE.string);
      return sink.string(value.value);
    case 'string[]':
      sink.u32(VALUE_TYPE.array);
      sink.u32(VALUE_TYPE.string);
      sink.u64(value.value.length);
      for (const s of value.value) sink.string(s);
      return;
    case 'i32[]':
      sink.u32(VALUE_TYPE.array);
      sink.u32(VALUE_TYPE.i32);
      sink.u64(value.value.length);
      for (let i = 0; i < value.value.length; i++) sink.i32(value.value[i]!);
      return;
  }
}

export interface GgufWriteResult {
  /** Bytes of the whole file. */
  fileBytes: number;
  /** Bytes of each tensor's data (without padding), by name. */
  tensorBytes: Map<string, number>;
}

const ALIGNMENT = 32; // GGUF_DEFAULT_ALIGNMENT; `general.alignment` is not written
const CHUNK_BYTES = 8 << 20;

/** Writes a GGUF v3 file: `metadata` in the given order, then the tensors in the given order. */
export async function writeGguf(file: string, metadata: readonly (readonly [string, GgufValue])[], tensors: readonly GgufTensor[]): Promise<GgufWriteResult> {
  const header = new ByteSink();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(tensors.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) {
    header.string(key);
    writeValue(header, value);
  }
  const tensorBytes = new Map<string, number>();
  let offset = 0;
  for (const t of tensors) {
    const bytes = ggmlTensorBytes(t.type, t.ne);
    tensorBytes.set(t.name, bytes);
    header.string(t.name);
    header.u32(t.ne.length);
    for (const n of t.ne) header.u64(n);
    header.u32(t.type);
    header.u64(offset);
    offset += Math.ceil(bytes / ALIGNMENT) * ALIGNMENT;
  }
  header.pad(ALIGNMENT);

  const partial = `${file}.partial`;
  const handle = await open(partial, 'w');
  let position = 0;
  const put = async (data: Uint8Array): Promise<void> => {
    await handle.write(data, 0, data.length, position);
    position += data.length;
  };
  try {
    await put(header.bytes());
    const chunk = new Uint8Array(CHUNK_BYTES);
    for (const t of tensors) {
      const blockBytes = BLOCK[t.type].bytes;
      const perChunk = Math.floor(CHUNK_BYTES / blockBytes) * blockBytes;
      const fill = t.source();
      let left = tensorBytes.get(t.name)!;
      while (left > 0) {
        const view = chunk.subarray(0, Math.min(perChunk, left));
        fill(view);
        await put(view);
        left -= view.length;
      }
      const pad = (ALIGNMENT - (position % ALIGNMENT)) % ALIGNMENT;
      if (pad) await put(new Uint8Array(pad));
    }
  } catch (err) {
    await handle.close();
    await rm(partial, { force: true });
    throw err;
  }
  await handle.close();
  await rename(partial, file);
  return { fileBytes: position, tensorBytes };
}

// ---------------------------------------------------------------------------------------------
// Seeded random sources. Speed does not depend on weight values, but the values are scaled like a
// trained layer (a target standard deviation per tensor) so that activations stay finite.

/** mulberry32: a small, fast 32-bit generator; `seed` any 32-bit integer. */
export function rng32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A per-tensor seed: FNV-1a of the name mixed with the model seed. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed + 1, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float -> IEEE half bits, round to nearest even (finite inputs; overflow saturates to inf). */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

/**
 * Per-block scales: the block scale `d` varies by 0.75x..1.25x around `base`, as real blocks do;
 * 16 precomputed fp16 values picked by 4 random bits.
 */
function scaleTable(base: number): Uint16Array {
  return Uint16Array.from({ length: 16 }, (_, i) => f32ToF16(base * (0.75 + (0.5 * i) / 15)));
}

// RMS of the integer codes: Q4_0 (q - 8), q uniform in 0..15 -> E[x^2] = 21.5; int8 uniform -> 73.9;
// Q6_K (q - 32), q uniform in 0..63 -> E[x^2] = 341.5, times the sub-block scale (uniform 16..63).
const Q4_0_CODE_RMS = Math.sqrt(21.5);
const Q8_0_CODE_RMS = Math.sqrt((255 * 257) / 12 + 0.25);
const Q6_K_CODE_RMS = Math.sqrt(341.5);
const Q6_K_SCALE_MIN = 16;
const sumOfSquares = (n: number): number => (n * (n + 1) * (2 * n + 1)) / 6;
const Q6_K_SCALE_RMS = Math.sqrt((sumOfSquares(63) - sumOfSquares(Q6_K_SCALE_MIN - 1)) / 48);

/**
 * Random blocks of the "fp16 d, then packed codes" formats (Q4_0: 16 bytes of nibbles, Q8_0: 32 int8),
 * codes uniform, d drawn from a small table so that the weights' standard deviation is ~`std`.
 */
function randomScaledBlocks(seed: number, std: number, codeRms: number, blockBytes: number): BlockFiller {
  const next = rng32(seed);
  const scales = scaleTable(std / codeRms);
  return (out) => {
    for (let o = 0; o < out.length; o += blockBytes) {
      const d = scales[next() & 15]!;
      out[o] = d & 0xff;
      out[o + 1] = d >>> 8;
      for (let p = o + 2; p < o + blockBytes; p += 4) {
        const w = next();
        out[p] = w & 0xff;
        out[p + 1] = (w >>> 8) & 0xff;
        out[p + 2] = (w >>> 16) & 0xff;
        out[p + 3] = w >>> 24;
      }
    }
  };
}

/** Random Q4_0 blocks with weight standard deviation ~`std`. */
export function randomQ4_0(seed: number, std: number): BlockFiller {
  return randomScaledBlocks(seed, std, Q4_0_CODE_RMS, 18);
}

/** Random Q8_0 blocks with weight standard deviation ~`std`. */
export function randomQ8_0(seed: number, std: number): BlockFiller {
  return randomScaledBlocks(seed, std, Q8_0_CODE_RMS, 34);
}

/** Random Q6_K super-blocks (ql, qh, 16 int8 sub-block scales, fp16 d) with weight std ~`std`. */
export function randomQ6_K(seed: number, std: number): BlockFiller {
  const next = rng32(seed);
  const scales = scaleTable(std / (Q6_K_CODE_RMS * Q6_K_SCALE_RMS));
  return (out) => {
    for (let o = 0; o < out.length; o += 210) {
      for (let p = o; p < o + 192; p += 4) {
        const w = next();
        out[p] = w & 0xff;
        out[p + 1] = (w >>> 8) & 0xff;
        out[p + 2] = (w >>> 16) & 0xff;
        out[p + 3] = w >>> 24;
      }
      for (let p = o + 192; p < o + 208; p++) out[p] = Q6_K_SCALE_MIN + (next() % 48); // positive int8
      const d = scales[next() & 15]!;
      out[o + 208] = d & 0xff;
      out[o + 209] = d >>> 8;
    }
  };
}

/** F32 values: `mean` plus normal noise of `std` (Box-Muller), or the constant `mean` when std = 0. */
export function randomF32(seed: number, mean: number, std: number): BlockFiller {
  const next = rng32(seed);
  return (out) => {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let o = 0; o < out.length; o += 4) {
      let v = mean;
      if (std > 0) {
        const u1 = (next() + 1) / 4294967297;
        const u2 = next() / 4294967296;
        v += std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      }
      view.setFloat32(o, v, true);
    }
  };
}
