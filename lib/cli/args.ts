/**
 * Command-line arguments of the trt-vla commands: one parser and one set of flag checks, so that every
 * usage problem (unknown flag, missing value, bad number, unusable path) is a {@link UsageError} that
 * main.ts prints as one line plus the command's usage, with exit code 2, never a stack trace.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { describeValue } from '../validate.js';

/** A problem with the command line itself (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** "Expected <what> for <flag> but received <value>": the API's message template, for a flag. */
export function flagError(flag: string, expected: string, value: unknown): UsageError {
  return new UsageError(`Expected ${expected} for ${flag} but received ${describeValue(value)}`);
}

type Options = NonNullable<ParseArgsConfig['options']>;

// node:util parseArgs errors, reworded into one short line each.
function parseProblem(err: Error & { code?: string }): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  const flag = quoted.split(' ')[0] ?? quoted;
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message) ? `${flag} takes no value` : `${flag} needs a value`;
    default:
      return err.message;
  }
}

/** parseArgs in strict mode (no positionals); its errors become UsageErrors. */
export function parseFlags<T extends Options>(argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) throw new UsageError(parseProblem(e));
    throw err;
  }
}

/** A flag that must be given. */
export function requiredFlag(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required (${what})`);
  return value;
}

/** An integer flag in [min, max]; undefined when absent. "1e3", "0x10", " 2" and "2.5" are not integers here. */
export function integerFlag(value: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw flagError(flag, `an integer between ${min} and ${max}`, value);
  return n;
}

/** A flag with one of a few values. */
export function choiceFlag<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T {
  if (value === undefined || !(choices as readonly string[]).includes(value)) {
    throw flagError(flag, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  }
  return value as T;
}

/** An input file that must exist and be readable (checked before any work starts). */
export function inputFileFlag(file: string, flag: string): string {
  let stats;
  try {
    stats = statSync(file);
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable'}`);
  }
  if (!stats.isFile()) throw new UsageError(`${flag} ${file}: not a regular file`);
  return file;
}

/**
 * An output path the command will write (a file, or with `directory` a folder it may create), checked
 * before any work starts: the nearest existing ancestor must be a writable directory, and the path
 * itself, when it exists, of the right kind and writable.
 */
export function outputPathFlag(target: string, flag: string, kind: 'file' | 'directory' = 'file'): string {
  const resolved = path.resolve(target);
  const problem = (why: string) => new UsageError(`${flag} ${target}: ${why}`);
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(resolved);
  } catch {
    existing = undefined;
  }
  if (existing) {
    if (kind === 'file' && existing.isDirectory()) throw problem('is a directory');
    if (kind === 'directory' && !existing.isDirectory()) throw problem('exists and is not a directory');
    try {
      accessSync(resolved, constants.W_OK);
    } catch {
      throw problem('not writable');
    }
    return resolved;
  }
  // The folders that will be created end at an existing ancestor, which must be a writable folder.
  let ancestor = path.dirname(resolved);
  for (;;) {
    let stats;
    try {
      stats = statSync(ancestor);
    } catch {
      const parent = path.dirname(ancestor);
      if (parent === ancestor) throw problem('no existing parent folder');
      ancestor = parent;
      continue;
    }
    if (!stats.isDirectory()) throw problem(`${ancestor} is not a directory`);
    try {
      accessSync(ancestor, constants.W_OK | constants.X_OK);
    } catch {
      throw problem(`cannot create it: ${ancestor} is not writable`);
    }
    return resolved;
  }
}
