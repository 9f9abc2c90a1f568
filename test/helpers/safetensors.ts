// A minimal safetensors reader for tests: an implementation independent of native/core/safetensors.cc.
import { readFileSync, writeFileSync } from 'node:fs';

export interface JsTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

export function readSafetensors(file: string): Map<string, JsTensor> {
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + headerLength);
  const out = new Map<string, JsTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = t.data_offsets;
    out.set(name, { dtype: t.dtype, shape: t.shape, bytes: new Uint8Array(data.buffer, data.byteOffset + begin, end - begin) });
  }
  return out;
}

export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));
export function bf16ToNumber(b: number): number {
  bf16Scratch.setUint32(0, b << 16, true);
  return bf16Scratch.getFloat32(0, true);
}

/** Rounds to the nearest fp16 value (as the fp16 KV cache stores it). */
export function roundToHalf(x: number): number {
  return Math.fround(x) === 0 ? x : halfToNumber(numberToHalfBits(x));
}

export function numberToHalfBits(x: number): number {
  // Via float32 then round-to-nearest-even on the 13 dropped mantissa bits (normal range only; the
  // reference never needs subnormal halves at the magnitudes it rounds).
  const f = new DataView(new ArrayBuffer(4));
  f.setFloat32(0, x, true);
  const bits = f.getUint32(0, true);
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    const value = Math.round(Math.abs(x) / 2 ** -24);
    return sign | value;
  }
  let value = (abs >>> 13) - (112 << 10);
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (value & 1))) value++;
  return sign | value;
}

/** A float tensor (F32 / F16 / BF16) as float64 values. */
export function toFloat64(t: JsTensor): Float64Array {
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (t.dtype === 'F16') out[i] = halfToNumber(view.getUint16(2 * i, true));
    else if (t.dtype === 'BF16') out[i] = bf16ToNumber(view.getUint16(2 * i, true));
    else throw new Error(`unsupported dtype ${t.dtype}`);
  }
  return out;
}

export function toInt32(t: JsTensor): Int32Array {
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Int32Array(t.bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(4 * i, true);
  return out;
}

/**
 * AutoAWQ GEMM tensors -> weight [out][in] (nn.Linear layout), straight from the format description:
 * qweight int32 [in, out/8], nibble i of word (k, j) holds column 8j + [0,2,4,6,1,3,5,7][i];
 * qzeros [in/128, out/8] the same way; scales fp16 [in/128, out]; w = (q - z) * s.
 */
export function dequantizeAwqJs(qweight: JsTensor, qzeros: JsTensor, scales: JsTensor): { weight: Float64Array; out: number; in: number } {
  const order = [0, 2, 4, 6, 1, 3, 5, 7];
  const [inFeatures, words] = qweight.shape as [number, number];
  const out = words * 8;
  const qw = toInt32(qweight);
  const qz = toInt32(qzeros);
  const sc = toFloat64(scales);
  const weight = new Float64Array(out * inFeatures);
  for (let k = 0; k < inFeatures; k++) {
    const g = Math.floor(k / 128);
    for (let j = 0; j < words; j++) {
      const word = qw[k * words + j]!;
      const zword = qz[g * words + j]!;
      for (let i = 0; i < 8; i++) {
        const n = 8 * j + order[i]!;
        const q = (word >>> (4 * i)) & 0xf;
        const z = (zword >>> (4 * i)) & 0xf;
        weight[n * inFeatures + k] = (q - z) * sc[g * out + n]!;
      }
    }
  }
  return { weight, out, in: inFeatures };
}

/** Writes a safetensors file of int32 tensors (what vocab_map.safetensors holds). */
export function writeInt32Safetensors(file: string, tensors: Record<string, { shape: number[]; data: Int32Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'I32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  const parts = [size, Buffer.from(json, 'utf8'), ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
  writeFileSync(file, Buffer.concat(parts));
}
