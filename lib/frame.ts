/**
 * Camera frames in addon-owned memory. JS writes pixels into `frame.data` in place; native code reads
 * the same bytes without a copy (pinned and GPU-mapped where a CUDA device exists, 64-byte aligned
 * otherwise). Where external buffers are forbidden (Electron), `data` is JS memory copied once per use
 * and `zeroCopy` is false.
 */
import { abortError, TrtVlaError } from './errors.js';
import { native, type NativeFrame } from './native.js';
import { invalidArgument, optionalInteger, optionalSignal, requireInteger, requireObject, requireOneOf } from './validate.js';

export const PIXEL_FORMATS = ['rgb8', 'rgba8', 'bgr8', 'nv12'] as const;
export type PixelFormat = (typeof PIXEL_FORMATS)[number];

export interface FrameOptions {
  /** Pixels per row, 1..16384 (even for nv12). */
  width: number;
  /** Rows, 1..16384 (even for nv12). */
  height: number;
  /** 'rgb8' | 'rgba8' | 'bgr8' (interleaved 8-bit) or 'nv12' (Y plane, then interleaved UV at half resolution). */
  format: PixelFormat;
  /** Bytes per row (of the Y plane for nv12). Default: tightly packed (width × bytes per pixel). */
  stride?: number;
}

const MAX_DIMENSION = 16384;
const BYTES_PER_PIXEL: Record<PixelFormat, number> = { rgb8: 3, bgr8: 3, rgba8: 4, nv12: 1 };

interface ValidFrameOptions {
  width: number;
  height: number;
  format: PixelFormat;
  stride: number | undefined;
}

function validateFrameOptions(value: unknown): ValidFrameOptions {
  const options = requireObject(value, 'frame options');
  const width = requireInteger(options.width, 'width', 1, MAX_DIMENSION);
  const height = requireInteger(options.height, 'height', 1, MAX_DIMENSION);
  const format = requireOneOf(options.format, 'format', PIXEL_FORMATS);
  const rowBytes = width * BYTES_PER_PIXEL[format];
  const stride = optionalInteger(options.stride, 'stride', rowBytes, 4 * MAX_DIMENSION);
  if (format === 'nv12' && (width % 2 !== 0 || height % 2 !== 0)) {
    throw invalidArgument('width and height', 'even numbers for nv12', `${width}x${height}`);
  }
  return { width, height, format, stride };
}

export class FrameBuffer implements Disposable, AsyncDisposable {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
  /** Bytes per row (of the Y plane for nv12). */
  readonly stride: number;
  /** Bytes of the whole frame (nv12: stride × height × 3/2). */
  readonly byteLength: number;
  readonly #native: NativeFrame;
  readonly #data: Uint8Array;
  #pool: FramePool | undefined;
  #checkedOut = true;

  /** @internal Use {@link allocFrame}, `model.allocFrame` or a {@link FramePool}. */
  constructor(nativeFrame: NativeFrame, options: ValidFrameOptions, pool?: FramePool) {
    this.#native = nativeFrame;
    this.#data = nativeFrame.data;
    this.#pool = pool;
    this.width = options.width;
    this.height = options.height;
    this.format = options.format;
    this.stride = nativeFrame.stride;
    this.byteLength = nativeFrame.byteLength;
  }

  /** The pixels: a view of addon-owned memory. Write camera data here in place. */
  get data(): Uint8Array {
    this.#ensureUsable();
    return this.#data;
  }

  /** True when `data` is the memory native code reads (no copy); false in the one-copy fallback. */
  get zeroCopy(): boolean {
    return this.#native.zeroCopy;
  }

  /** True when the memory is CUDA pinned (and mapped), so GPU preprocessing reads it in place. */
  get pinned(): boolean {
    return this.#native.pinned;
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /**
   * Hands the frame back: to its pool when it came from one (it may then be handed out again),
   * otherwise the same as {@link dispose}.
   */
  release(): void {
    if (this.#pool && !this.#native.disposed) {
      if (!this.#checkedOut) return;
      this.#checkedOut = false;
      this.#pool._return(this);
      return;
    }
    this.dispose();
  }

  /** Frees the memory now (a plan still using the frame keeps it alive until it finishes). Idempotent. */
  dispose(): void {
    if (this.#native.disposed) return;
    this.#native.dispose();
    this.#pool?._forget(this);
    this.#pool = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  /** @internal The native frame, for native calls. Throws when disposed or released to its pool. */
  get _native(): NativeFrame {
    this.#ensureUsable();
    return this.#native;
  }

  /** @internal Pool bookkeeping. */
  _checkOut(): void {
    this.#checkedOut = true;
  }

  #ensureUsable(): void {
    if (this.#native.disposed) throw new TrtVlaError('ERR_DISPOSED', 'This FrameBuffer was disposed');
    if (!this.#checkedOut) {
      throw new TrtVlaError('ERR_DISPOSED', 'This FrameBuffer was released to its pool; acquire a frame again');
    }
  }
}

/** Allocates one frame in addon-owned memory. */
export function allocFrame(options: FrameOptions): FrameBuffer {
  const valid = validateFrameOptions(options);
  return new FrameBuffer(new (native().NativeFrame)(valid.width, valid.height, valid.format, valid.stride), valid);
}

export interface FramePoolOptions extends FrameOptions {
  /** Most frames the pool allocates (default 4). Frames are allocated on first need, then reused. */
  size?: number;
}

interface PoolWaiter {
  resolve: (frame: FrameBuffer) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A fixed set of same-sized frames for a camera loop: after warm-up, acquiring a frame allocates
 * nothing. `frame.release()` returns a frame to the pool.
 */
export class FramePool implements Disposable, AsyncDisposable {
  readonly options: FrameOptions;
  readonly size: number;
  readonly #valid: ValidFrameOptions;
  readonly #free: FrameBuffer[] = [];
  readonly #all = new Set<FrameBuffer>();
  readonly #waiters: PoolWaiter[] = [];
  #disposed = false;

  constructor(options: FramePoolOptions) {
    this.#valid = validateFrameOptions(options);
    this.size = optionalInteger(options.size, 'size', 1, 1024) ?? 4;
    this.options = { ...this.#valid, stride: this.#valid.stride };
  }

  /** Frames allocated so far. */
  get allocated(): number {
    return this.#all.size;
  }

  /** Frames ready to hand out without allocating or waiting. */
  get available(): number {
    return this.#free.length + (this.size - this.#all.size);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** A free frame, or undefined when all `size` frames are in use. */
  tryAcquire(): FrameBuffer | undefined {
    this.#ensureLive();
    const frame = this.#free.pop() ?? this.#allocate();
    frame?._checkOut();
    return frame;
  }

  /** A free frame; waits for a release when all are in use. Rejects with ABORT_ERR when aborted. */
  acquire(options: { signal?: AbortSignal } = {}): Promise<FrameBuffer> {
    const signal = optionalSignal(options.signal, 'signal');
    try {
      if (signal?.aborted) return Promise.reject(abortError(signal));
      const frame = this.tryAcquire();
      if (frame) return Promise.resolve(frame);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const waiter: PoolWaiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Disposes every frame of the pool, including ones still checked out. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const frame of [...this.#all]) frame.dispose();
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(new TrtVlaError('ERR_DISPOSED', 'The FramePool was disposed'));
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  /** @internal */
  _return(frame: FrameBuffer): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      frame._checkOut();
      waiter.resolve(frame);
      return;
    }
    this.#free.push(frame);
  }

  /** @internal */
  _forget(frame: FrameBuffer): void {
    this.#all.delete(frame);
    const i = this.#free.indexOf(frame);
    if (i >= 0) this.#free.splice(i, 1);
  }

  #allocate(): FrameBuffer | undefined {
    if (this.#all.size >= this.size) return undefined;
    const v = this.#valid;
    const frame = new FrameBuffer(new (native().NativeFrame)(v.width, v.height, v.format, v.stride), v, this);
    this.#all.add(frame);
    return frame;
  }

  #ensureLive(): void {
    if (this.#disposed) throw new TrtVlaError('ERR_DISPOSED', 'This FramePool was disposed');
  }
}

/** Creates a {@link FramePool}. */
export function createFramePool(options: FramePoolOptions): FramePool {
  return new FramePool(options);
}
