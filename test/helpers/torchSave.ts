/**
 * Writes what `torch.save(uint8_tensor, buffer)` writes, from the format's documentation, so the
 * tests can send NeuroNCAP-style images without Python:
 * - PyTorch docs, `torch.save` / "Serialization semantics": since 1.6 a zip archive (the
 *   `_use_new_zipfile_serialization` format) holding `archive/data.pkl`, `archive/data/<key>` (raw
 *   storage bytes), `archive/byteorder` ("little") and `archive/version` ("3\n"), entries stored
 *   uncompressed;
 * - `torch.Tensor.__reduce_ex__` → `torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
 *   stride, requires_grad, backward_hooks)` with backward_hooks an empty `collections.OrderedDict`,
 *   the storage pickled by persistent id `('storage', torch.ByteStorage, key, location, numel)`;
 * - pickle protocol 2 (torch's default `pickle_protocol=2`), opcodes as Python's `pickletools` lists.
 * Zip layout per PKWARE APPNOTE 6.3 (local header 4.3.7, central header 4.3.12, end record 4.3.16).
 */
import { crc32 } from 'node:zlib';

function pickleInt(n: number): Buffer {
  if (n < 256) return Buffer.from([0x4b, n]); // BININT1
  if (n < 65536) {
    const b = Buffer.alloc(3);
    b[0] = 0x4d; // BININT2
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0x4a; // BININT
  b.writeInt32LE(n, 1);
  return b;
}

function pickleString(s: string): Buffer {
  const text = Buffer.from(s, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 0x58; // BINUNICODE
  head.writeUInt32LE(text.length, 1);
  return Buffer.concat([head, text]);
}

const op = (...bytes: number[]): Buffer => Buffer.from(bytes);
const global = (module: string, name: string): Buffer => Buffer.from(`c${module}\n${name}\n`, 'latin1');
let memo = 0;
const put = (): Buffer => op(0x71, memo++ & 0xff); // BINPUT

function tuple(items: Buffer[]): Buffer {
  if (items.length === 3) return Buffer.concat([...items, op(0x87)]); // TUPLE3
  return Buffer.concat([op(0x28), ...items, op(0x74)]); // MARK ... TUPLE
}

export interface TorchSaveOptions {
  /** Element strides (default: contiguous H, W, 3). */
  stride?: [number, number, number];
  /** Storage offset in elements (default 0). */
  offset?: number;
  /** Storage class name in the `torch` module (default ByteStorage; others test rejection). */
  storageClass?: string;
  /** Replaces the rebuild global (tests that foreign globals are refused). */
  rebuildGlobal?: [string, string];
}

/** The pickle of data.pkl for a tensor of `size` over a storage of `numel` elements. */
export function tensorPickle(size: number[], numel: number, options: TorchSaveOptions = {}): Buffer {
  memo = 0;
  const stride = options.stride ?? [size[1]! * size[2]!, size[2]!, 1];
  const [rebuildModule, rebuildName] = options.rebuildGlobal ?? ['torch._utils', '_rebuild_tensor_v2'];
  const storage = Buffer.concat([
    op(0x28), // MARK
    pickleString('storage'),
    put(),
    global('torch', options.storageClass ?? 'ByteStorage'),
    put(),
    pickleString('0'),
    put(),
    pickleString('cpu'),
    put(),
    pickleInt(numel),
    op(0x74), // TUPLE
    put(),
    op(0x51), // BINPERSID
  ]);
  const args = Buffer.concat([
    op(0x28), // MARK
    storage,
    pickleInt(options.offset ?? 0),
    tuple(size.map(pickleInt)),
    put(),
    tuple(stride.map(pickleInt)),
    put(),
    op(0x89), // NEWFALSE: requires_grad
    global('collections', 'OrderedDict'),
    put(),
    op(0x29), // EMPTY_TUPLE
    op(0x52), // REDUCE → OrderedDict()
    put(),
    op(0x74), // TUPLE
    put(),
  ]);
  return Buffer.concat([op(0x80, 0x02), global(rebuildModule, rebuildName), put(), args, op(0x52), put(), op(0x2e)]);
}

/** A stored (uncompressed) zip archive of the given entries. */
export function zipStored(entries: [string, Buffer][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * torch.save of an (H, W, 3) uint8 tensor over `storage` (default: `pixels` packed HWC). With
 * `options.stride` the caller passes the storage laid out to match those strides.
 */
export function torchSaveUint8(size: [number, number, number], storage: Uint8Array, options: TorchSaveOptions = {}): Buffer {
  return zipStored([
    ['archive/data.pkl', tensorPickle(size, storage.length, options)],
    ['archive/byteorder', Buffer.from('little')],
    ['archive/data/0', Buffer.from(storage)],
    ['archive/version', Buffer.from('3\n')],
  ]);
}

/** An RGB test image whose pixel (x, y) is (x·k mod 256, y·k mod 256, seed): easy to check after decoding. */
export function patternImage(width: number, height: number, seed = 0): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 7) & 0xff;
      data[i + 1] = (y * 11) & 0xff;
      data[i + 2] = seed & 0xff;
    }
  }
  return data;
}

/** The same image stored planar (3, H, W), seen through strides (W, 1, H·W) as an (H, W, 3) tensor. */
export function planarStorage(hwc: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(hwc.length);
  for (let c = 0; c < 3; c++) for (let i = 0; i < width * height; i++) out[c * width * height + i] = hwc[i * 3 + c]!;
  return out;
}
