/**
 * The ego history a planning prompt describes: where the vehicle was over the last seconds, in the
 * current ego frame, plus the kinematic status the prompt wording prints. One validator turns
 * untrusted input (API callers, JSON files) into this shape with messages that name the bad entry.
 */
import { readFile } from 'node:fs/promises';

import { TrtVlaError } from '../errors.js';
import { invalidArgument, isObject, requireString } from '../validate.js';

/** The spacing of history entries and of predicted waypoints, in seconds. */
export const HISTORY_STEP_SECONDS = 0.5;

/** At most this many entries (t-3.0 s … t-0.0 s), the longest history any Impromptu prompt used. */
export const MAX_HISTORY_ENTRIES = 7;

/**
 * Positions are in metres; a t = 0 entry farther than this from the origin is rejected (the frame is
 * the current ego frame, so the current position is the origin by definition).
 */
const ORIGIN_TOLERANCE_M = 1e-6;

/** Tolerance on `t` when checking the 0.5 s grid, in seconds (JSON writers may print 0.49999999). */
const TIME_TOLERANCE_S = 1e-6;

/** One history sample in the current ego frame: x forward, y left. */
export interface EgoHistoryEntry {
  /** Time relative to now, in seconds: ≤ 0, on the 0.5 s grid; the last entry is t = 0. */
  readonly t: number;
  /** Forward position, metres. The t = 0 entry is 0. */
  readonly x: number;
  /** Leftward position, metres. The t = 0 entry is 0. */
  readonly y: number;
  /** Longitudinal acceleration, m/s² (nuScenes: CAN bus `pose.accel[0]`). */
  readonly ax?: number;
  /** Lateral acceleration, m/s² (nuScenes: CAN bus `pose.accel[1]`). */
  readonly ay?: number;
  /** Longitudinal velocity, m/s (nuScenes: CAN bus `pose.vel[0]`). */
  readonly vx?: number;
  /** Lateral velocity, m/s. */
  readonly vy?: number;
  /** Speed, m/s. The released nuScenes wording `Velocity: {v} m/s` prints this (falls back to `vx`). */
  readonly speed?: number;
  /** Steering angle as the nuScenes CAN bus reports it (`steeranglefeedback`); positive = left turn. */
  readonly steering?: number;
}

/** Entries oldest first, ending with the t = 0 entry. */
export type EgoHistory = readonly EgoHistoryEntry[];

/** The optional kinematic fields of an entry. */
export type EgoStatusField = 'ax' | 'ay' | 'vx' | 'vy' | 'speed' | 'steering';

const STATUS_FIELDS: readonly EgoStatusField[] = ['ax', 'ay', 'vx', 'vy', 'speed', 'steering'];
const ALL_FIELDS: readonly string[] = ['t', 'x', 'y', ...STATUS_FIELDS];

export interface ValidateEgoHistoryOptions {
  /** Most entries accepted. Default {@link MAX_HISTORY_ENTRIES} (7, i.e. 3.0 s). */
  maxEntries?: number;
  /**
   * Status fields every entry must carry. Each item is a field name, or a list of alternatives of
   * which one must be present (e.g. `['speed', 'vx']`). Default none. For a planning prompt use
   * validatePlanHistory (prompt/historyFields.ts), which takes them from the prompt's row of
   * HISTORY_FIELDS and says how to plan without a missing one.
   */
  require?: readonly (EgoStatusField | readonly EgoStatusField[])[];
  /** Name used in error messages. Default `'history'`. */
  name?: string;
}

/**
 * The magnitude each field may have: far beyond any road vehicle, and small enough that every number
 * the prompt builders print stays an ordinary decimal (1e308 would print as `inf` after NumPy-style
 * rounding multiplies it by 100). The model was trained on physical values; anything past these is
 * a unit or sensor error, reported instead of written into the prompt.
 */
const FIELD_LIMITS: Readonly<Record<string, { max: number; unit: string }>> = {
  // 3 s of history at 300 m/s.
  x: { max: 1000, unit: 'm' },
  y: { max: 1000, unit: 'm' },
  // Above 540 km/h.
  vx: { max: 150, unit: 'm/s' },
  vy: { max: 150, unit: 'm/s' },
  speed: { max: 150, unit: 'm/s' },
  // About 10 g.
  ax: { max: 100, unit: 'm/s^2' },
  ay: { max: 100, unit: 'm/s^2' },
  // Steering-wheel angle in radians (nuScenes CAN bus: within [-7.7, 6.3]); 20 is over three turns.
  steering: { max: 20, unit: 'rad' },
  // The time grid is checked separately; this only keeps t a number the checks can work with.
  t: { max: 1000, unit: 's' },
};

function requireField(value: unknown, entryName: string, field: string): number {
  const { max, unit } = FIELD_LIMITS[field]!;
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > max) {
    throw invalidArgument(`${entryName}.${field}`, `a finite number between -${max} and ${max} (${unit})`, value);
  }
  return value;
}

function historyError(message: string): TrtVlaError {
  return new TrtVlaError('ERR_INVALID_ARGUMENT', message);
}

/**
 * Checks an ego history and returns a normalised copy (own fields only, no unknown keys). Rules: a
 * non-empty array of at most `maxEntries` objects, oldest first; `t` strictly increasing in 0.5 s steps
 * with no gaps, ending at t = 0; the t = 0 entry at the origin; optional fields finite numbers; the
 * `require`d status fields present on every entry. Throws `ERR_INVALID_ARGUMENT` naming the entry.
 */
export function validateEgoHistory(value: unknown, options: ValidateEgoHistoryOptions = {}): EgoHistoryEntry[] {
  const name = options.name ?? 'history';
  const maxEntries = options.maxEntries ?? MAX_HISTORY_ENTRIES;
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidArgument(name, 'a non-empty array of history entries (oldest first, ending at t = 0)', value);
  }
  if (value.length > maxEntries) {
    throw invalidArgument(name, `at most ${maxEntries} entries (t-${((maxEntries - 1) * HISTORY_STEP_SECONDS).toFixed(1)} s … t-0.0 s)`, value);
  }
  const entries: EgoHistoryEntry[] = [];
  for (let i = 0; i < value.length; i++) {
    const raw: unknown = value[i];
    const entryName = `${name}[${i}]`;
    if (!isObject(raw)) throw invalidArgument(entryName, 'an object { t, x, y, ... }', raw);
    for (const key of Object.keys(raw)) {
      if (!ALL_FIELDS.includes(key)) {
        throw invalidArgument(`a key of ${entryName}`, `one of ${ALL_FIELDS.join(', ')}`, key);
      }
    }
    const entry: Record<string, number> = {
      t: requireField(raw.t, entryName, 't'),
      x: requireField(raw.x, entryName, 'x'),
      y: requireField(raw.y, entryName, 'y'),
    };
    for (const field of STATUS_FIELDS) {
      if (raw[field] !== undefined) entry[field] = requireField(raw[field], entryName, field);
    }
    entries.push(entry as unknown as EgoHistoryEntry);
  }
  checkTimeGrid(entries, name);
  // Snap t onto the exact grid so later arithmetic (labels, finite differences) sees 0.5 s exactly.
  for (const entry of entries) (entry as { t: number }).t = Math.round(entry.t / HISTORY_STEP_SECONDS) * HISTORY_STEP_SECONDS || 0;
  const current = entries[entries.length - 1]!;
  if (Math.abs(current.x) > ORIGIN_TOLERANCE_M || Math.abs(current.y) > ORIGIN_TOLERANCE_M) {
    throw historyError(
      `Expected the t = 0 entry of ${name} to be at the origin (the current ego frame) but received x = ${current.x}, y = ${current.y}`,
    );
  }
  for (const requirement of options.require ?? []) {
    const alternatives: readonly EgoStatusField[] = typeof requirement === 'string' ? [requirement] : requirement;
    entries.forEach((entry, i) => {
      if (!alternatives.some((field) => entry[field] !== undefined)) {
        const what = alternatives.length === 1 ? `field '${alternatives[0]}'` : `one of the fields ${alternatives.map((f) => `'${f}'`).join(', ')}`;
        throw historyError(`Expected ${what} in ${name}[${i}] (t = ${entry.t}); the chosen prompt wording prints it`);
      }
    });
  }
  return entries;
}

function checkTimeGrid(entries: readonly EgoHistoryEntry[], name: string): void {
  for (let i = 0; i < entries.length; i++) {
    const t = entries[i]!.t;
    if (t > TIME_TOLERANCE_S) throw historyError(`Expected ${name}[${i}].t ≤ 0 (seconds relative to now) but received ${t}`);
    const steps = t / HISTORY_STEP_SECONDS;
    if (Math.abs(steps - Math.round(steps)) > TIME_TOLERANCE_S / HISTORY_STEP_SECONDS) {
      throw historyError(`Expected ${name}[${i}].t on the 0.5 s grid (0, -0.5, -1.0, …) but received ${t}`);
    }
    if (i > 0) {
      const previous = entries[i - 1]!.t;
      if (t <= previous) {
        throw historyError(`Expected ${name} oldest first with increasing t, but ${name}[${i}].t = ${t} follows ${previous}`);
      }
      if (Math.abs(t - previous - HISTORY_STEP_SECONDS) > TIME_TOLERANCE_S) {
        throw historyError(`Expected ${name} entries 0.5 s apart, but ${name}[${i}].t = ${t} follows ${previous} (a gap)`);
      }
    }
  }
  const last = entries[entries.length - 1]!.t;
  if (Math.abs(last) > TIME_TOLERANCE_S) {
    throw historyError(`Expected the last entry of ${name} to be the current one (t = 0) but received t = ${last}`);
  }
}

/**
 * Reads a history JSON file: either an array of entries or `{ "history": [...] }`, validated with
 * {@link validateEgoHistory}. File and JSON errors are `ERR_INVALID_ARGUMENT` naming the path.
 */
export async function loadEgoHistory(path: string, options: ValidateEgoHistoryOptions = {}): Promise<EgoHistoryEntry[]> {
  requireString(path, 'path');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Cannot read history file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `History file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const entries = isObject(parsed) && 'history' in parsed ? parsed.history : parsed;
  return validateEgoHistory(entries, { ...options, name: options.name ?? path });
}
