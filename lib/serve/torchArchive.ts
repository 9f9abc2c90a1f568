/**
 * Reads the one thing NeuroNCAP's renderer sends as a camera image: a `torch.save`d uint8 tensor of
 * shape (H, W, 3). Since PyTorch 1.6 `torch.save` writes a zip archive (PyTorch docs, "Saving and
 * loading tensors" / `torch.save`, and the `_use_new_zipfile_serialization` note):
 *   <prefix>/data.pkl     pickle of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 *                         requires_grad, backward_hooks[, metadata])`, the storage a persistent id
 *                         ('storage', torch.<Type>Storage, key, location, numel)
 *   <prefix>/data/<key>   the storage's raw bytes
 *   <prefix>/byteorder, <prefix>/version, [<prefix>/.data/serialization_id]
 * The pickle is never executed: a small stack machine understands only the opcodes such a tensor
 * pickle uses (pickle protocol 2..5, Python's `pickletools` documents each) and only the three
 * globals it names; anything else is refused with ERR_INVALID_ARGUMENT.
 */
import { inflateRawSync } from 'node:zlib';

import { TrtVlaError } from '../errors.js';

/** A decoded uint8 image, rows of `width` × 3 RGB bytes, tightly packed. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

function bad(message: string): TrtVlaError {
  return new TrtVlaError('ERR_INVALID_ARGUMENT', `torch.save archive: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Zip (PKWARE APPNOTE 6.3: end of central directory 4.3.16, central directory header 4.3.12,
// local file header 4.3.7, zip64 extended information 4.5.3). torch writes entries stored.

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_EOCD_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;

function readZipDirectory(buf: Buffer): Map<string, ZipEntry> {
  if (buf.length < 22) throw bad('too short to be a zip archive');
  // The end record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no zip end-of-central-directory record');
  let count = buf.readUInt16LE(eocd + 10);
  let dirSize = buf.readUInt32LE(eocd + 12);
  let dirOffset = buf.readUInt32LE(eocd + 16);
  if (dirOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || buf.readUInt32LE(locator) !== ZIP64_EOCD_LOCATOR_SIGNATURE) throw bad('zip64 archive without its locator');
    const end64 = Number(buf.readBigUInt64LE(locator + 8));
    if (end64 + 56 > buf.length || buf.readUInt32LE(end64) !== ZIP64_EOCD_SIGNATURE) throw bad('bad zip64 end record');
    count = Number(buf.readBigUInt64LE(end64 + 32));
    dirSize = Number(buf.readBigUInt64LE(end64 + 40));
    dirOffset = Number(buf.readBigUInt64LE(end64 + 48));
  }
  if (dirOffset + dirSize > buf.length) throw bad('central directory beyond the end of the data');
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL_SIGNATURE) throw bad('corrupt central directory');
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLength = buf.readUInt16LE(p + 28);
    const extraLength = buf.readUInt16LE(p + 30);
    const commentLength = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLength);
    // Zip64 extra field: the 64-bit values, in this order, of those that are 0xFFFFFFFF above.
    let q = p + 46 + nameLength;
    const extraEnd = q + extraLength;
    while (q + 4 <= extraEnd) {
      const id = buf.readUInt16LE(q);
      const length = buf.readUInt16LE(q + 2);
      if (id === 0x0001) {
        let r = q + 4;
        if (size === 0xffffffff) (size = Number(buf.readBigUInt64LE(r))), (r += 8);
        if (compressedSize === 0xffffffff) (compressedSize = Number(buf.readBigUInt64LE(r))), (r += 8);
        if (localOffset === 0xffffffff) localOffset = Number(buf.readBigUInt64LE(r));
      }
      q += 4 + length;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    p = extraEnd + commentLength;
  }
  return entries;
}

function readZipEntry(buf: Buffer, entry: ZipEntry): Buffer {
  const p = entry.localOffset;
  if (p + 30 > buf.length || buf.readUInt32LE(p) !== LOCAL_SIGNATURE) throw bad(`bad local header of ${entry.name}`);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) throw bad(`${entry.name} extends beyond the end of the data`);
  const raw = buf.subarray(start, end);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    const inflated = inflateRawSync(raw, { maxOutputLength: entry.size });
    if (inflated.length !== entry.size) throw bad(`${entry.name} inflates to ${inflated.length} bytes, not ${entry.size}`);
    return inflated;
  }
  throw bad(`${entry.name} uses zip compression method ${entry.method}; only stored (0) and deflate (8) are read`);
}

// ---------------------------------------------------------------------------------------------
// The restricted unpickler.

const GLOBAL_REBUILD = 'torch._utils._rebuild_tensor_v2';
const GLOBAL_ORDERED_DICT = 'collections.OrderedDict';
/** Storage classes by dtype; only uint8 images are accepted, the others are named in the error. */
const STORAGE_CLASSES = new Set([
  'torch.ByteStorage',
  'torch.CharStorage',
  'torch.ShortStorage',
  'torch.IntStorage',
  'torch.LongStorage',
  'torch.HalfStorage',
  'torch.BFloat16Storage',
  'torch.FloatStorage',
  'torch.DoubleStorage',
  'torch.BoolStorage',
]);

class Global {
  constructor(readonly name: string) {}
}
class StorageRef {
  constructor(
    readonly storageClass: string,
    readonly key: string,
    readonly numel: number,
  ) {}
}
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}
const MARK = Symbol('mark');
type Value = null | boolean | number | string | Value[] | Global | StorageRef | TensorRef | Map<unknown, unknown> | typeof MARK;

// Opcodes (CPython Lib/pickletools.py names).
const OP = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e, // .
  MARK: 0x28, // (
  GLOBAL: 0x63, // c
  STACK_GLOBAL: 0x93,
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  MEMOIZE: 0x94,
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  BINUNICODE: 0x58, // X
  SHORT_BINUNICODE: 0x8c,
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  LONG1: 0x8a,
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  EMPTY_TUPLE: 0x29, // )
  TUPLE: 0x74, // t
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  EMPTY_LIST: 0x5d, // ]
  EMPTY_DICT: 0x7d, // }
  APPENDS: 0x65, // e
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
} as const;

function asInt(v: Value, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${what} must be a non-negative integer`);
  return v;
}
function asIntTuple(v: Value, what: string): number[] {
  if (!Array.isArray(v)) throw bad(`${what} must be a tuple of integers`);
  return v.map((x, i) => asInt(x, `${what}[${i}]`));
}

function unpickleTensor(pkl: Buffer): TensorRef {
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  let p = 0;
  const need = (n: number): void => {
    if (p + n > pkl.length) throw bad('data.pkl ends inside an opcode');
  };
  const pop = (): Value => {
    if (stack.length === 0) throw bad('data.pkl pops an empty stack');
    return stack.pop()!;
  };
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw bad('data.pkl has no MARK for a TUPLE/APPENDS');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const readLine = (): string => {
    const end = pkl.indexOf(0x0a, p);
    if (end < 0) throw bad('data.pkl ends inside a GLOBAL');
    const s = pkl.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const pushGlobal = (module: string, name: string): void => {
    const full = `${module}.${name}`;
    if (full !== GLOBAL_REBUILD && full !== GLOBAL_ORDERED_DICT && !STORAGE_CLASSES.has(full)) {
      throw bad(`data.pkl references ${full}; only a tensor (${GLOBAL_REBUILD}, torch.*Storage, ${GLOBAL_ORDERED_DICT}) is accepted`);
    }
    stack.push(new Global(full));
  };
  for (;;) {
    need(1);
    const op = pkl[p++]!;
    switch (op) {
      case OP.PROTO:
        need(1);
        if (pkl[p]! < 2 || pkl[p]! > 5) throw bad(`unsupported pickle protocol ${pkl[p]}`);
        p += 1;
        break;
      case OP.FRAME:
        need(8);
        p += 8;
        break;
      case OP.STOP: {
        const top = pop();
        if (!(top instanceof TensorRef)) throw bad('data.pkl does not hold a single tensor');
        return top;
      }
      case OP.MARK:
        stack.push(MARK);
        break;
      case OP.GLOBAL: {
        const module = readLine();
        pushGlobal(module, readLine());
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL needs two strings');
        pushGlobal(module, name);
        break;
      }
      case OP.BINPUT:
        need(1);
        memo.set(pkl[p++]!, stack[stack.length - 1]!);
        break;
      case OP.LONG_BINPUT:
        need(4);
        memo.set(pkl.readUInt32LE(p), stack[stack.length - 1]!);
        p += 4;
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, stack[stack.length - 1]!);
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const n = op === OP.BINGET ? 1 : 4;
        need(n);
        const key = n === 1 ? pkl[p]! : pkl.readUInt32LE(p);
        p += n;
        if (!memo.has(key)) throw bad(`data.pkl reads memo ${key} before writing it`);
        stack.push(memo.get(key)!);
        break;
      }
      case OP.BINUNICODE:
      case OP.SHORT_BINUNICODE: {
        const n = op === OP.BINUNICODE ? 4 : 1;
        need(n);
        const length = n === 4 ? pkl.readUInt32LE(p) : pkl[p]!;
        p += n;
        need(length);
        stack.push(pkl.toString('utf8', p, p + length));
        p += length;
        break;
      }
      case OP.BININT:
        need(4);
        stack.push(pkl.readInt32LE(p));
        p += 4;
        break;
      case OP.BININT1:
        need(1);
        stack.push(pkl[p++]!);
        break;
      case OP.BININT2:
        need(2);
        stack.push(pkl.readUInt16LE(p));
        p += 2;
        break;
      case OP.LONG1: {
        need(1);
        const n = pkl[p++]!;
        need(n);
        if (n > 8) throw bad('integer too large');
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pkl[p + i]!);
        if (n > 0 && pkl[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw bad('integer too large');
        stack.push(Number(v));
        break;
      }
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.EMPTY_TUPLE:
        stack.push([]);
        break;
      case OP.TUPLE:
        stack.push(popMark());
        break;
      case OP.TUPLE1:
        stack.push([pop()]);
        break;
      case OP.TUPLE2: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.APPENDS: {
        const items = popMark();
        const list = pop();
        if (!Array.isArray(list)) throw bad('APPENDS onto a non-list');
        list.push(...items);
        stack.push(list);
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.BINPERSID: {
        const pid = pop();
        if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage' || !(pid[1] instanceof Global) || typeof pid[2] !== 'string') {
          throw bad("persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
        }
        stack.push(new StorageRef(pid[1].name, pid[2], asInt(pid[4]!, 'storage numel')));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const callable = pop();
        if (!(callable instanceof Global) || !Array.isArray(args)) throw bad('REDUCE of something that is not an allowed global');
        if (callable.name === GLOBAL_ORDERED_DICT) {
          if (args.length !== 0) throw bad('OrderedDict with arguments');
          stack.push(new Map());
        } else if (callable.name === GLOBAL_REBUILD) {
          if (args.length < 6 || args.length > 7) throw bad(`_rebuild_tensor_v2 with ${args.length} arguments`);
          const [storage, offset, size, stride, , hooks] = args;
          if (!(storage instanceof StorageRef)) throw bad('_rebuild_tensor_v2 without a storage');
          if (!(hooks instanceof Map) || hooks.size !== 0) throw bad('tensor with backward hooks');
          stack.push(new TensorRef(storage, asInt(offset!, 'storage offset'), asIntTuple(size!, 'size'), asIntTuple(stride!, 'stride')));
        } else {
          throw bad(`REDUCE of ${callable.name}`);
        }
        break;
      }
      default:
        throw bad(`data.pkl uses pickle opcode 0x${op.toString(16).padStart(2, '0')}, which a saved tensor does not need`);
    }
  }
}

/** Whether the bytes start like a zip archive (local file header), as torch.save writes. */
export function isZipArchive(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * Decodes a torch.save archive holding one uint8 tensor of shape (H, W, 3), honouring its storage
 * offset and strides (a permuted or sliced tensor is gathered into packed rows). Throws
 * ERR_INVALID_ARGUMENT for anything else, saying what was found.
 */
export function decodeTorchImage(bytes: Uint8Array): RgbImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = readZipDirectory(buf);
  const pklName = [...entries.keys()].find((n) => n.endsWith('/data.pkl') && n.indexOf('/') === n.length - '/data.pkl'.length);
  if (pklName === undefined) throw bad('no <prefix>/data.pkl in the archive');
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && readZipEntry(buf, byteorder).toString('latin1') !== 'little') throw bad('big-endian archives are not read');
  const tensor = unpickleTensor(readZipEntry(buf, entries.get(pklName)!));
  if (tensor.storage.storageClass !== 'torch.ByteStorage') {
    throw bad(`the tensor's storage is ${tensor.storage.storageClass}; a camera image must be uint8 (torch.ByteStorage)`);
  }
  const { size, stride, offset } = tensor;
  if (size.length !== 3 || size[2] !== 3 || size[0]! < 1 || size[1]! < 1) throw bad(`tensor shape (${size.join(', ')}); expected (H, W, 3)`);
  if (stride.length !== 3) throw bad('stride rank differs from the shape rank');
  const storageEntry = entries.get(`${prefix}data/${tensor.storage.key}`);
  if (!storageEntry) throw bad(`storage ${tensor.storage.key} missing from the archive`);
  const storage = readZipEntry(buf, storageEntry);
  if (storage.length < tensor.storage.numel) throw bad(`storage holds ${storage.length} bytes, its header says ${tensor.storage.numel}`);
  const [height, width] = size as [number, number, number];
  const [sh, sw, sc] = stride as [number, number, number];
  const last = offset + (height - 1) * sh + (width - 1) * sw + 2 * sc;
  if (last >= tensor.storage.numel) throw bad(`shape and strides reach element ${last} of a ${tensor.storage.numel}-element storage`);
  if (sc === 1 && sw === 3 && sh === width * 3) {
    return { width, height, data: storage.subarray(offset, offset + height * width * 3) };
  }
  const data = new Uint8Array(height * width * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const base = offset + y * sh + x * sw;
      data[o++] = storage[base]!;
      data[o++] = storage[base + sc]!;
      data[o++] = storage[base + 2 * sc]!;
    }
  }
  return { width, height, data };
}
