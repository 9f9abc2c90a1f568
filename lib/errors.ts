/**
 * Every failure trt-vla reports is a {@link TrtVlaError} with a stable `code`, from the TypeScript layer
 * and from native code alike (native errors are constructed through this class).
 */

/** Stable error codes. Branch on these, never on messages. */
export type TrtVlaErrorCode =
  /** A caller passed something malformed (wrong type, range, shape, size, count). */
  | 'ERR_INVALID_ARGUMENT'
  /** The object (model, session, frame) was disposed. */
  | 'ERR_DISPOSED'
  /** A model file is missing, truncated or inconsistent with its config. */
  | 'ERR_MODEL_LOAD'
  /** An engine does not match this runtime, device or config. */
  | 'ERR_ENGINE_INCOMPATIBLE'
  /** The requested backend cannot run on this machine (the message says why). */
  | 'ERR_BACKEND_UNAVAILABLE'
  /** The native addon could not be loaded (the message lists causes and fixes). */
  | 'ERR_ADDON_LOAD'
  /** The operation was aborted through its AbortSignal. */
  | 'ABORT_ERR'
  /** A frame pool has no free frame. */
  | 'ERR_POOL_EXHAUSTED'
  /** A native allocation failed. */
  | 'ERR_OUT_OF_MEMORY'
  /** A callback of the caller's (onToken) threw: the request was stopped; `cause` is what it threw. */
  | 'ERR_CALLBACK'
  /** A bug in trt-vla: please report it with the message and `nativeLocation`. */
  | 'ERR_INTERNAL';

const KNOWN_CODES = new Set<string>([
  'ERR_INVALID_ARGUMENT',
  'ERR_DISPOSED',
  'ERR_MODEL_LOAD',
  'ERR_ENGINE_INCOMPATIBLE',
  'ERR_BACKEND_UNAVAILABLE',
  'ERR_ADDON_LOAD',
  'ABORT_ERR',
  'ERR_POOL_EXHAUSTED',
  'ERR_OUT_OF_MEMORY',
  'ERR_CALLBACK',
  'ERR_INTERNAL',
]);

export class TrtVlaError extends Error {
  override readonly name = 'TrtVlaError';
  readonly code: TrtVlaErrorCode;
  /** Where native code raised the error ("file:line"), for bug reports. */
  nativeLocation?: string;

  constructor(code: TrtVlaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = KNOWN_CODES.has(code) ? code : 'ERR_INTERNAL';
  }
}

/** Whether `value` is a TrtVlaError, optionally with the given code. */
export function isTrtVlaError(value: unknown, code?: TrtVlaErrorCode): value is TrtVlaError {
  return value instanceof TrtVlaError && (code === undefined || value.code === code);
}

/** The error an aborted operation rejects with: code ABORT_ERR, the signal's reason as `cause`. */
export function abortError(signal: AbortSignal): TrtVlaError {
  return new TrtVlaError('ABORT_ERR', 'The operation was aborted', { cause: signal.reason });
}

/** Throws {@link abortError} when the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Runs an async native call and gives any TrtVlaError it rejects with the caller's stack
 * (native rejections carry no JS stack of their own).
 */
export async function withCallerStack<T>(call: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await call();
  } catch (err) {
    if (err instanceof TrtVlaError && site.stack) {
      err.stack = `${err.name}: ${err.message}\n${site.stack.split('\n').slice(1).join('\n')}`;
    }
    throw err;
  }
}
