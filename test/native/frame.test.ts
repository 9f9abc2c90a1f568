import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { allocFrame, createFramePool, FrameBuffer, TrtVlaError } from '../../lib/index.js';
import { native, packageRoot } from '../../lib/native.js';

function fnv1a64(bytes: Uint8Array): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const b of bytes) {
    hash ^= BigInt(b);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrtVlaError);
    expect((e as TrtVlaError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('FrameBuffer', () => {
  it('has the documented size for every format', () => {
    expect(allocFrame({ width: 5, height: 3, format: 'rgb8' }).byteLength).toBe(45);
    expect(allocFrame({ width: 5, height: 3, format: 'bgr8' }).byteLength).toBe(45);
    expect(allocFrame({ width: 5, height: 3, format: 'rgba8' }).byteLength).toBe(60);
    expect(allocFrame({ width: 6, height: 4, format: 'nv12' }).byteLength).toBe(36);
    const padded = allocFrame({ width: 5, height: 3, format: 'rgb8', stride: 64 });
    expect(padded.stride).toBe(64);
    expect(padded.byteLength).toBe(192);
    expect(padded.data.byteLength).toBe(192);
  });

  it('is zero-copy: native code reads JS writes at the same address', () => {
    const frame = allocFrame({ width: 64, height: 48, format: 'rgb8' });
    expect(frame.zeroCopy).toBe(true);
    const n = frame._native;
    const address = n.address();
    for (let i = 0; i < frame.data.length; i++) frame.data[i] = (i * 7 + 3) & 0xff;
    expect(n.digest()).toBe(fnv1a64(frame.data));
    expect(n.address()).toBe(address);
    frame.data[100] ^= 0xff; // one byte changed in JS is seen natively, with no sync call
    expect(n.digest()).toBe(fnv1a64(frame.data));
    expect(n.address()).toBe(address);
  });

  it('is zero-copy the other way: JS sees native writes without a copy', () => {
    const frame = allocFrame({ width: 16, height: 8, format: 'rgba8' });
    const view = frame.data;
    frame._native.writeTestPattern(5);
    for (let i = 0; i < view.length; i++) expect(view[i]).toBe((i * 31 + 5) & 0xff);
  });

  it('is 64-byte aligned (or CUDA pinned)', () => {
    const frame = allocFrame({ width: 33, height: 7, format: 'bgr8' });
    if (!frame.pinned) expect(frame._native.address() % 64n).toBe(0n);
  });

  it('dispose() frees now; any use afterwards throws ERR_DISPOSED', () => {
    const before = native().memoryStats();
    const frame = allocFrame({ width: 100, height: 100, format: 'rgb8' });
    const view = frame.data;
    expect(native().memoryStats().frameLiveBytes).toBe(before.frameLiveBytes + 30000);
    frame.dispose();
    expect(native().memoryStats().frameLiveBytes).toBe(before.frameLiveBytes);
    expect(frame.disposed).toBe(true);
    expect(view.length).toBe(0); // the old view was detached, so JS cannot touch freed memory
    expectCode(() => frame.data, 'ERR_DISPOSED');
    expectCode(() => frame._native, 'ERR_DISPOSED');
    frame.dispose(); // idempotent
  });

  it('supports `using`', () => {
    const before = native().memoryStats().frameLiveCount;
    {
      using frame = allocFrame({ width: 8, height: 8, format: 'rgb8' });
      expect(frame.data.length).toBe(192);
      expect(native().memoryStats().frameLiveCount).toBe(before + 1);
    }
    expect(native().memoryStats().frameLiveCount).toBe(before);
  });

  it('rejects bad geometry and formats with ERR_INVALID_ARGUMENT', () => {
    expectCode(() => allocFrame({ width: 0, height: 10, format: 'rgb8' }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame({ width: 10.5, height: 10, format: 'rgb8' }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame({ width: 20000, height: 10, format: 'rgb8' }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame({ width: 10, height: 10, format: 'yuyv' as never }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame({ width: 10, height: 10, format: 'rgb8', stride: 29 }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame({ width: 11, height: 10, format: 'nv12' }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => allocFrame(null as never), 'ERR_INVALID_ARGUMENT');
    expect(() => allocFrame({ width: 0, height: 10, format: 'rgb8' })).toThrow(
      'Expected an integer between 1 and 16384 for width but received 0 of type number',
    );
  });

  it('native code re-checks what reaches it directly', () => {
    const NativeFrame = native().NativeFrame;
    expectCode(() => new NativeFrame(10, 10, 'rgb8', 5), 'ERR_INVALID_ARGUMENT');
    expectCode(() => new NativeFrame(-1, 10, 'rgb8'), 'ERR_INVALID_ARGUMENT');
    expectCode(() => new NativeFrame(10, 10, 'argb'), 'ERR_INVALID_ARGUMENT');
    expectCode(() => new NativeFrame(3, 4, 'nv12'), 'ERR_INVALID_ARGUMENT');
  });
});

describe('FramePool', () => {
  it('allocates nothing per frame after warm-up', () => {
    const pool = createFramePool({ width: 64, height: 48, format: 'rgb8', size: 2 });
    const a = pool.tryAcquire()!;
    const b = pool.tryAcquire()!;
    expect(pool.tryAcquire()).toBeUndefined(); // all frames out
    const addresses = new Set([a._native.address(), b._native.address()]);
    a.release();
    b.release();
    const allocationsAfterWarmup = native().memoryStats().frameAllocations;
    for (let i = 0; i < 200; i++) {
      const frame = pool.tryAcquire()!;
      frame.data[0] = i & 0xff;
      frame.data[frame.data.length - 1] = (i * 3) & 0xff;
      expect(frame._native.digest()).toBe(fnv1a64(frame.data));
      expect(addresses.has(frame._native.address())).toBe(true);
      frame.release();
    }
    expect(native().memoryStats().frameAllocations).toBe(allocationsAfterWarmup);
    expect(pool.allocated).toBe(2);
    pool.dispose();
  });

  it('a released frame cannot be used until acquired again', () => {
    const pool = createFramePool({ width: 4, height: 4, format: 'rgb8', size: 1 });
    const frame = pool.tryAcquire()!;
    frame.release();
    expectCode(() => frame.data, 'ERR_DISPOSED');
    const again = pool.tryAcquire()!;
    expect(again).toBe(frame);
    expect(again.data.length).toBe(48);
    pool.dispose();
    expect(again.disposed).toBe(true);
  });

  it('acquire() waits for a release and honours abort', async () => {
    const pool = createFramePool({ width: 4, height: 4, format: 'rgb8', size: 1 });
    const first = await pool.acquire();
    const waiting = pool.acquire();
    first.release();
    await expect(waiting).resolves.toBe(first);
    const controller = new AbortController();
    const aborted = pool.acquire({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const pending = pool.acquire();
    pool.dispose();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});

describe('external buffers forbidden (Electron memory cage)', () => {
  it('falls back to one copy and says so in zeroCopy', () => {
    const script = `
      import { allocFrame } from ${JSON.stringify(path.join(packageRoot, 'dist', 'index.js'))};
      const f = allocFrame({ width: 8, height: 4, format: 'rgb8' });
      for (let i = 0; i < f.data.length; i++) f.data[i] = i;
      let h = 0xcbf29ce484222325n;
      for (const b of f.data) { h ^= BigInt(b); h = (h * 0x100000001b3n) & 0xffffffffffffffffn; }
      const same = f._native.digest() === h;
      f.dispose();
      console.log(JSON.stringify({ zeroCopy: f.zeroCopy, same, detached: f.disposed }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TRT_VLA_NO_EXTERNAL_BUFFERS: '1' },
    });
    expect(JSON.parse(out)).toEqual({ zeroCopy: false, same: true, detached: true });
  });
});

describe('FrameBuffer construction', () => {
  it('is only made through allocFrame / pools', () => {
    expect(typeof FrameBuffer).toBe('function');
  });
});
