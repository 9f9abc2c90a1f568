/**
 * Argument validation: one vocabulary and one message template for the whole API
 * ("Expected <what> for <name> but received <value> of type <type>"), thrown as ERR_INVALID_ARGUMENT.
 */
import { TrtVlaError } from './errors.js';

/** A value as error messages quote it (strings shortened, arrays by length). */
export function describeValue(value: unknown): string {
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
    `Expected ${expected} for ${name} but received ${describeValue(actual)} of type ${type}`,
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

/**
 * A numeric range, stated once and used both to check a value and to describe the range in messages,
 * so an API argument and a model file's field with the same meaning share one rule.
 */
export interface NumberRule {
  integer?: boolean;
  min?: number;
  /** The minimum itself is excluded (e.g. top-p > 0). */
  minExclusive?: boolean;
  max?: number;
}

/** Whether `value` is a finite number (an integer where the rule says so) inside the rule's range. */
export function satisfiesRule(value: unknown, rule: NumberRule): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (rule.integer && !Number.isInteger(value)) return false;
  if (rule.min !== undefined && (rule.minExclusive ? value <= rule.min : value < rule.min)) return false;
  return rule.max === undefined || value <= rule.max;
}

/** "an integer between 0 and 16", "a finite number > 0 and <= 1", "a finite number >= 0". */
export function describeRule(rule: NumberRule): string {
  const what = rule.integer ? 'an integer' : 'a finite number';
  if (rule.min !== undefined && rule.max !== undefined && !rule.minExclusive) return `${what} between ${rule.min} and ${rule.max}`;
  const bounds: string[] = [];
  if (rule.min !== undefined) bounds.push(`${rule.minExclusive ? '>' : '>='} ${rule.min}`);
  if (rule.max !== undefined) bounds.push(`<= ${rule.max}`);
  return bounds.length ? `${what} ${bounds.join(' and ')}` : what;
}

export function requireRule(value: unknown, name: string, rule: NumberRule): number {
  if (!satisfiesRule(value, rule)) throw invalidArgument(name, describeRule(rule), value);
  return value;
}

export function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgument(name, 'a boolean', value);
  return value;
}

export function optionalFunction<T extends (...args: never[]) => unknown>(value: unknown, name: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidArgument(name, 'a function', value);
  return value as T | undefined;
}

/**
 * A non-empty Int32Array, or array of integers, with every value in [min, max] (token ids): the same
 * Int32Array when given one, else a new one. null, 1.5 or "a" never become 0 or 1 on the way.
 */
export function requireInt32Array(value: unknown, name: string, min: number, max: number, what = 'an integer'): Int32Array {
  if (!(value instanceof Int32Array) && !Array.isArray(value)) throw invalidArgument(name, `an Int32Array or an array of ${what === 'an integer' ? 'integers' : 'ids'}`, value);
  if (value.length === 0) throw invalidArgument(name, 'at least one value', value);
  const ids = value instanceof Int32Array ? value : new Int32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidArgument(`${name}[${i}]`, `${what} between ${min} and ${max}`, v);
    ids[i] = v;
  }
  return ids;
}
