/**
 * The runtime's log: TensorRT's own messages (source 'tensorrt') and the runtime's notes (source
 * 'model': what was loaded and how). Default: warnings and errors to stderr.
 */
import { TrtVlaError } from './errors.js';
import { native } from './native.js';

export type LogLevel = 'error' | 'warning' | 'info' | 'verbose';

export interface LogEntry {
  level: LogLevel;
  /** Who wrote it: 'tensorrt', 'model'. */
  source: string;
  message: string;
}

const LEVELS: readonly LogLevel[] = ['error', 'warning', 'info', 'verbose'];

/** Messages up to this level are delivered (default 'warning'). */
export function setLogLevel(level: LogLevel): void {
  if (!LEVELS.includes(level)) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `log level must be one of ${LEVELS.join(', ')}, got ${String(level)}`);
  }
  native().setLogLevel(level);
}

/**
 * Receives every log entry on the main thread, instead of stderr; null restores stderr. Logging never
 * keeps the process alive, and a handler that throws surfaces as an uncaught exception.
 */
export function setLogHandler(handler: ((entry: LogEntry) => void) | null): void {
  if (handler !== null && typeof handler !== 'function') {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `the log handler must be a function or null, got ${typeof handler}`);
  }
  native().setLogHandler(handler);
}
