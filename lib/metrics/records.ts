/**
 * The JSONL record formats of `trt-vla eval`, one JSON object per line (blank lines ignored):
 *
 * Prediction: `{"id": "…", "waypoints": [[x, y], …]}` or `{"id": "…", "text": "<PLANNING>…"}`
 *   (exactly one of the two; `text` is the raw model answer, parsed with parsePlanning).
 * Ground truth: `{"id": "…", "waypoints": [[x, y], …], "mask"?: [1, 1, …], "boxes"?: [[box, …], …]}`
 *   with `boxes[t]` the object footprints at future step t, each `{"x", "y", "length", "width", "yaw"}`.
 *
 * Points may also be written `{"x": …, "y": …}`. All positions are in the current ego frame (x
 * forward, y left, metres), the first waypoint one step (0.5 s) after now; yaw in radians
 * counter-clockwise from +x, length along the yaw. Ids are strings (numbers are converted).
 */
import { TrtVlaError } from '../errors.js';
import { parsePlanning } from '../action/parsePlanning.js';
import { PLANNING_FORMATS, type PlanningFormat } from '../prompt/formats.js';
import { invalidArgument, isObject, requireNumber } from '../validate.js';
import type { OrientedBox, PlanarPoint } from './collision.js';
import type { GroundTruth, OpenLoopSample } from './openLoop.js';

export interface PredictionRecord {
  readonly id: string;
  readonly waypoints?: readonly PlanarPoint[];
  readonly text?: string;
}

export interface GroundTruthRecord extends GroundTruth {
  readonly id: string;
}

/** One parsed line: its 1-based number and value. */
export interface JsonLine {
  readonly line: number;
  readonly value: unknown;
}

/** Splits JSONL text into values; a malformed line is an ERR_INVALID_ARGUMENT naming `source:line`. */
export function parseJsonLines(text: string, source: string): JsonLine[] {
  const out: JsonLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (err) {
      throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${source}:${i + 1}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  });
  return out;
}

function readId(record: Record<string, unknown>, where: string): string {
  const id = record.id;
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  throw invalidArgument(`${where}.id`, 'a non-empty string', id);
}

function readPoint(value: unknown, name: string): PlanarPoint {
  if (Array.isArray(value) && value.length === 2) return { x: requireNumber(value[0], `${name}[0]`), y: requireNumber(value[1], `${name}[1]`) };
  if (isObject(value)) return { x: requireNumber(value.x, `${name}.x`), y: requireNumber(value.y, `${name}.y`) };
  throw invalidArgument(name, 'a point [x, y] or { x, y }', value);
}

function readPoints(value: unknown, name: string): PlanarPoint[] {
  if (!Array.isArray(value)) throw invalidArgument(name, 'an array of points', value);
  return value.map((p, i) => readPoint(p, `${name}[${i}]`));
}

function readBox(value: unknown, name: string): OrientedBox {
  if (!isObject(value)) throw invalidArgument(name, 'a box { x, y, length, width, yaw }', value);
  return {
    x: requireNumber(value.x, `${name}.x`),
    y: requireNumber(value.y, `${name}.y`),
    length: requireNumber(value.length, `${name}.length`, 0),
    width: requireNumber(value.width, `${name}.width`, 0),
    yaw: requireNumber(value.yaw, `${name}.yaw`),
  };
}

/** Validates one prediction record. `where` names it in errors (e.g. "pred.jsonl:3"). */
export function parsePredictionRecord(value: unknown, where: string): PredictionRecord {
  if (!isObject(value)) throw invalidArgument(where, 'a prediction object { id, waypoints | text }', value);
  const id = readId(value, where);
  const hasWaypoints = value.waypoints !== undefined;
  const hasText = value.text !== undefined;
  if (hasWaypoints === hasText) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected exactly one of "waypoints" or "text" in ${where} (id ${id})`);
  }
  if (hasText) {
    if (typeof value.text !== 'string') throw invalidArgument(`${where}.text`, 'a string', value.text);
    return { id, text: value.text };
  }
  return { id, waypoints: readPoints(value.waypoints, `${where}.waypoints`) };
}

/** Validates one ground-truth record. */
export function parseGroundTruthRecord(value: unknown, where: string): GroundTruthRecord {
  if (!isObject(value)) throw invalidArgument(where, 'a ground-truth object { id, waypoints, mask?, boxes? }', value);
  const id = readId(value, where);
  const waypoints = readPoints(value.waypoints, `${where}.waypoints`);
  let mask: (number | boolean)[] | undefined;
  if (value.mask !== undefined) {
    if (!Array.isArray(value.mask) || value.mask.length !== waypoints.length || !value.mask.every((m) => m === 0 || m === 1 || typeof m === 'boolean')) {
      throw invalidArgument(`${where}.mask`, `an array of ${waypoints.length} values 0/1 or booleans`, value.mask);
    }
    mask = value.mask as (number | boolean)[];
  }
  let boxes: OrientedBox[][] | undefined;
  if (value.boxes !== undefined) {
    if (!Array.isArray(value.boxes) || value.boxes.length !== waypoints.length) {
      throw invalidArgument(`${where}.boxes`, `an array of ${waypoints.length} box lists (one per step)`, value.boxes);
    }
    boxes = value.boxes.map((list: unknown, t) => {
      if (!Array.isArray(list)) throw invalidArgument(`${where}.boxes[${t}]`, 'an array of boxes', list);
      return list.map((box, k) => readBox(box, `${where}.boxes[${t}][${k}]`));
    });
  }
  return { id, waypoints, ...(mask && { mask }), ...(boxes && { boxes }) };
}

export interface JoinOptions {
  /** Answer format used to parse `text` predictions. Default: 'nuscenes' for 6 steps, 'q7' for 10. */
  format?: PlanningFormat;
}

export interface JoinedRecords {
  readonly samples: OpenLoopSample[];
  /** Prediction records whose id has no ground truth (ignored). */
  readonly unmatchedPredictions: number;
  /** Predictions given as text. */
  readonly textPredictions: number;
  /** Text predictions whose answer deviated from the exact format (parsePlanning diagnostics). */
  readonly textWithDiagnostics: number;
}

function indexById<T extends { id: string }>(records: readonly T[], what: string): Map<string, T> {
  const byId = new Map<string, T>();
  for (const record of records) {
    if (byId.has(record.id)) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Duplicate ${what} id ${JSON.stringify(record.id)}`);
    byId.set(record.id, record);
  }
  return byId;
}

/** Pairs predictions with ground truth by id (every ground-truth id needs a prediction). */
export function joinRecords(predictions: readonly PredictionRecord[], truths: readonly GroundTruthRecord[], options: JoinOptions = {}): JoinedRecords {
  if (truths.length === 0) throw invalidArgument('ground truth', 'at least one record', truths);
  const steps = truths[0]!.waypoints.length;
  const odd = truths.find((t) => t.waypoints.length !== steps);
  if (odd) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Ground truth ${odd.id} has ${odd.waypoints.length} waypoints but ${truths[0]!.id} has ${steps}`);
  const format = options.format ?? (steps === PLANNING_FORMATS.q7.waypoints ? 'q7' : 'nuscenes');
  const byId = indexById(predictions, 'prediction');
  indexById(truths, 'ground-truth');
  const missing = truths.filter((t) => !byId.has(t.id)).map((t) => t.id);
  if (missing.length) {
    const list = missing.slice(0, 5).map((id) => JSON.stringify(id)).join(', ');
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `No prediction for ${missing.length} ground-truth id(s): ${list}${missing.length > 5 ? ', …' : ''}`);
  }
  let textPredictions = 0;
  let textWithDiagnostics = 0;
  const samples = truths.map((truth): OpenLoopSample => {
    const prediction = byId.get(truth.id)!;
    let predicted = prediction.waypoints;
    if (prediction.text !== undefined) {
      const parsed = parsePlanning(prediction.text, { format, waypoints: steps });
      textPredictions++;
      if (parsed.diagnostics.length) textWithDiagnostics++;
      predicted = parsed.waypoints;
    }
    return { id: truth.id, predicted: predicted!, groundTruth: truth };
  });
  const truthIds = new Set(truths.map((t) => t.id));
  const unmatchedPredictions = predictions.filter((p) => !truthIds.has(p.id)).length;
  return { samples, unmatchedPredictions, textPredictions, textWithDiagnostics };
}

/** A JSONL value with the place it came from (`file:line`), or why that line is not JSON. */
export interface LocatedValue {
  readonly where: string;
  readonly value?: unknown;
  readonly jsonError?: string;
}

/** A record `trt-vla eval` could not score, where it is and why. */
export interface UnscoredRecord {
  /** The record's id when it has a readable one. */
  readonly id?: string;
  /** `file:line`. */
  readonly where: string;
  readonly reason: string;
}

export interface SortedRecords extends JoinedRecords {
  /** Every record left out, each with its place and reason. */
  readonly unscored: readonly UnscoredRecord[];
}

function rawId(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  return typeof value.id === 'string' || (typeof value.id === 'number' && Number.isFinite(value.id)) ? String(value.id) : undefined;
}

/**
 * The lenient join of `trt-vla eval`: instead of stopping at the first bad record, it scores every
 * pair it can and names each record it leaves out: a malformed record, a duplicate id (all copies),
 * a prediction without ground truth or ground truth without prediction, a ground truth whose waypoint
 * count differs from the first one's, a prediction with more waypoints than the ground truth. (Fewer
 * predicted points are padded, the reference's convention for incomplete answers, and counted.)
 */
export function sortRecords(predLines: readonly LocatedValue[], truthLines: readonly LocatedValue[], options: JoinOptions = {}): SortedRecords {
  const unscored: UnscoredRecord[] = [];
  const skip = (id: string | undefined, where: string, reason: string) => unscored.push({ ...(id !== undefined && { id }), where, reason });
  function parseAll<T extends { id: string }>(lines: readonly LocatedValue[], parse: (v: unknown, where: string) => T, what: string) {
    const parsed: { record: T; where: string }[] = [];
    for (const { where, value, jsonError } of lines) {
      if (jsonError !== undefined) {
        skip(undefined, where, `not valid JSON (${jsonError})`);
        continue;
      }
      try {
        parsed.push({ record: parse(value, where), where });
      } catch (err) {
        if (!(err instanceof TrtVlaError)) throw err;
        skip(rawId(value), where, `malformed ${what}: ${err.message}`);
      }
    }
    const counts = new Map<string, number>();
    for (const { record } of parsed) counts.set(record.id, (counts.get(record.id) ?? 0) + 1);
    const unique = parsed.filter(({ record, where }) => {
      const n = counts.get(record.id)!;
      if (n > 1) skip(record.id, where, `duplicate ${what} id (${n} records share it)`);
      return n === 1;
    });
    return new Map(unique.map((u) => [u.record.id, u] as const));
  }
  const predictions = parseAll(predLines, parsePredictionRecord, 'prediction');
  const truths = parseAll(truthLines, parseGroundTruthRecord, 'ground truth');
  const first = truths.values().next().value;
  const steps = first?.record.waypoints.length ?? 0;
  const scoredTruths: GroundTruthRecord[] = [];
  const scoredPredictions: PredictionRecord[] = [];
  let unmatchedPredictions = 0;
  for (const [id, { record, where }] of predictions) {
    if (!truths.has(id)) {
      skip(id, where, 'no ground truth with this id');
      unmatchedPredictions++;
    } else if (record.waypoints && record.waypoints.length > steps) {
      skip(id, where, `${record.waypoints.length} waypoints but the ground truth has ${steps}`);
    }
  }
  for (const [id, { record, where }] of truths) {
    const prediction = predictions.get(id);
    if (record.waypoints.length !== steps) {
      skip(id, where, `ground truth has ${record.waypoints.length} waypoints but ${first!.record.id} (${first!.where}) has ${steps}`);
    } else if (!prediction) {
      skip(id, where, 'no prediction with this id');
    } else if (!(prediction.record.waypoints && prediction.record.waypoints.length > steps)) {
      scoredTruths.push(record);
      scoredPredictions.push(prediction.record);
    }
  }
  if (scoredTruths.length === 0) {
    const reasons = unscored.slice(0, 3).map((u) => `${u.where}: ${u.reason}`).join('; ');
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `No record could be scored (${unscored.length} left out: ${reasons}${unscored.length > 3 ? '; …' : ''})`);
  }
  return { ...joinRecords(scoredPredictions, scoredTruths, options), unmatchedPredictions, unscored };
}
