/**
 * Argument validation: one vocabulary and one message template for the whole API
 * ("Expected <what> for <name> but received <value> of type <type>"), thrown as ERR_INVALID_ARGUMENT.
 */
import { TrtVlaError } from './errors.js';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return Object.prototype.toString.call(value);
}

export function invalidArgument(name: string, expected: string, actual: unknown): TrtVlaError {
  const type = actual === null ? 'null' : Array.isArray(actual) ? 'array' : typeof actual;
  return new TrtVlaError(
    'ERR_INVALID_ARGUMENT',
    `Expected ${expected} for ${name} but received ${describe(actual)} of type ${type}`,
  );
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (!isObject(value)) throw invalidArgument(name, 'an object', value);
  return value;
}

export function requireInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(name, `an integer between ${min} and ${max}`, value);
  }
  return value;
}

export function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : requireInteger(value, name, min, max);
}

export function requireNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = Number.isFinite(min) || Number.isFinite(max) ? ` between ${min} and ${max}` : '';
    throw invalidArgument(name, `a finite number${range}`, value);
  }
  return value;
}

export function requireString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(name, 'a non-empty string', value);
  return value;
}

export function requireOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function optionalSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidArgument(name, 'an AbortSignal', value);
  return value;
}
