/**
 * `trt-vla plan` over many requests: a JSONL manifest or a folder of records, read and checked in full
 * before the model loads, then planned one by one into predictions JSONL that `trt-vla eval --pred`
 * reads as is (lib/metrics/records.ts: `{"id", "waypoints": [[x, y], …]}`; the answer text rides along
 * as `answer`, which eval ignores, so that each line holds exactly one of eval's `waypoints` / `text`).
 *
 * Manifest line: `{"id": "…", "images": ["a.jpg", …], "history": [...] | "historyFile": "h.json",
 * "format"?: "nuscenes" | "q7", "mode"?: "fast" | "slow"}`, paths relative to the manifest.
 * Folder: one subfolder per record, its name the id, holding the camera images (*.jpg, *.jpeg, *.png,
 * in name order: front first for q7's 3 views) and `history.json`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';
import { parseJsonLines } from '../metrics/records.js';
import { loadEgoHistory, validateEgoHistory, type EgoHistoryEntry } from '../prompt/egoHistory.js';
import { planHistory, type NuScenesStatusWording, type PlanHistory } from '../prompt/historyFields.js';
import type { Model } from '../model/Model.js';
import { effectiveSampling, recordedHistory, type PlanRecorder } from '../record/planRecord.js';
import { planFromImageFiles } from '../record/replay.js';
import { isObject } from '../validate.js';
import { inputFileFlag, outputPathFlag, UsageError } from './args.js';
import { progressLine } from './progress.js';

export type BatchFormat = 'nuscenes' | 'q7';
export type BatchMode = 'fast' | 'slow';

/** The command's --format and --status-wording, for records that do not set their own format. */
export interface BatchDefaults {
  format: BatchFormat;
  /** Applies to records planned with the nuscenes prompt. */
  statusWording?: NuScenesStatusWording;
}

/** One request of a batch, with its inputs resolved and its history checked against its prompt. */
export interface BatchItem {
  readonly id: string;
  /** Absolute paths of the camera images. */
  readonly imageFiles: readonly string[];
  /** The record's format (its own, else the command's), wording and history, checked together. */
  readonly plan: PlanHistory;
  /** Per-record override of the command's --mode. */
  readonly mode?: BatchMode;
  /** Where the record came from (`manifest.jsonl:3` or the subfolder), for messages. */
  readonly source: string;
}

const IMAGE_FILE = /\.(jpe?g|png)$/i;

function invalid(where: string, message: string): TrtVlaError {
  return new TrtVlaError('ERR_INVALID_ARGUMENT', `${where}: ${message}`);
}

function readableFile(file: string, where: string, what: string): string {
  let ok = false;
  try {
    ok = statSync(file).isFile();
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(where, `${what} ${file} is not a readable file`);
  return file;
}

function choice<T extends string>(value: unknown, choices: readonly T[], where: string, field: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalid(where, `"${field}" must be one of ${choices.map((c) => `"${c}"`).join(', ')}`);
  }
  return value as T;
}

function checkUniqueIds(items: readonly BatchItem[]): void {
  const seen = new Map<string, string>();
  for (const item of items) {
    const first = seen.get(item.id);
    if (first) throw invalid(item.source, `duplicate id ${JSON.stringify(item.id)} (first at ${first})`);
    seen.set(item.id, item.source);
  }
}

/** The record's prompt (its format, else the default) with its history checked against that prompt's fields. */
function recordPlan(history: EgoHistoryEntry[], format: BatchFormat | undefined, defaults: BatchDefaults, name: string): PlanHistory {
  const chosen = format ?? defaults.format;
  return planHistory(chosen, chosen === 'nuscenes' ? defaults.statusWording : undefined, history, name);
}

/** Reads and checks a JSONL manifest; every problem is an ERR_INVALID_ARGUMENT naming `file:line`. */
export async function readManifest(file: string, defaults: BatchDefaults = { format: 'nuscenes' }): Promise<BatchItem[]> {
  const base = path.dirname(path.resolve(file));
  const items: BatchItem[] = [];
  for (const { line, value } of parseJsonLines(readFileSync(file, 'utf8'), file)) {
    const where = `${file}:${line}`;
    if (!isObject(value)) throw invalid(where, 'expected an object { id, images, history | historyFile }');
    const id = typeof value.id === 'number' && Number.isFinite(value.id) ? String(value.id) : value.id;
    if (typeof id !== 'string' || id === '') throw invalid(where, '"id" must be a non-empty string');
    if (!Array.isArray(value.images) || value.images.length === 0 || !value.images.every((f) => typeof f === 'string' && f !== '')) {
      throw invalid(where, '"images" must be a non-empty array of image paths');
    }
    const imageFiles = (value.images as string[]).map((f) => readableFile(path.resolve(base, f), where, 'image'));
    if ((value.history === undefined) === (value.historyFile === undefined)) throw invalid(where, 'give exactly one of "history" or "historyFile"');
    const format = choice(value.format, ['nuscenes', 'q7'] as const, where, 'format');
    const mode = choice(value.mode, ['fast', 'slow'] as const, where, 'mode');
    let plan: PlanHistory;
    try {
      if (value.history !== undefined) {
        plan = recordPlan(validateEgoHistory(value.history), format, defaults, 'history');
      } else {
        if (typeof value.historyFile !== 'string') throw invalid(where, '"historyFile" must be a path');
        const historyFile = path.resolve(base, value.historyFile);
        plan = recordPlan(await loadEgoHistory(historyFile), format, defaults, historyFile);
      }
    } catch (err) {
      throw err instanceof TrtVlaError && !err.message.startsWith(where) ? invalid(where, err.message) : err;
    }
    items.push({ id, imageFiles, plan, source: where, ...(mode && { mode }) });
  }
  if (items.length === 0) throw invalid(file, 'the manifest holds no record');
  checkUniqueIds(items);
  return items;
}

/** Reads a folder of records: each subfolder (in name order) is one, named by its folder. */
export async function readRecordFolder(dir: string, defaults: BatchDefaults = { format: 'nuscenes' }): Promise<BatchItem[]> {
  const items: BatchItem[] = [];
  const subfolders = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  for (const name of subfolders) {
    const folder = path.resolve(dir, name);
    const imageFiles = readdirSync(folder)
      .filter((f) => IMAGE_FILE.test(f))
      .sort()
      .map((f) => path.join(folder, f));
    if (imageFiles.length === 0) throw invalid(folder, 'no camera image (*.jpg, *.jpeg, *.png)');
    const historyFile = readableFile(path.join(folder, 'history.json'), folder, 'history');
    items.push({ id: name, imageFiles, plan: recordPlan(await loadEgoHistory(historyFile), undefined, defaults, historyFile), source: folder });
  }
  if (items.length === 0) throw invalid(dir, 'no record subfolder (one per record: images + history.json)');
  return items;
}

/** One predictions JSONL line: what `trt-vla eval --pred` reads, plus the raw answer and completeness. */
export function predictionLine(id: string, plan: { waypoints: readonly { x: number; y: number }[]; text: string; complete: boolean }): string {
  return JSON.stringify({ id, waypoints: plan.waypoints.map((w) => [w.x, w.y]), answer: plan.text, complete: plan.complete });
}

export interface BatchRunOptions {
  /** The command's --mode, for records that do not set their own. */
  mode: BatchMode;
  constrained: boolean;
  maxTokens?: number;
  /** Predictions JSONL file; stdout when absent. */
  out?: string;
  recorder?: PlanRecorder;
}

/**
 * Plans every item in order, writing each prediction line as soon as it is made (a stopped run keeps
 * what it finished). A record whose plan fails is named on stderr with the error and the run goes on.
 * Exit code: 1 when a record failed, else 3 when an answer was incomplete, else 0.
 */
export async function runBatch(model: Model, items: readonly BatchItem[], options: BatchRunOptions): Promise<number> {
  const file = options.out === undefined ? undefined : await open(options.out, 'w');
  const sampling = effectiveSampling(model);
  const progress = progressLine('planning', items.length);
  let failed = 0;
  let incomplete = 0;
  try {
    for (const [i, item] of items.entries()) {
      const settings = {
        mode: item.mode ?? options.mode,
        constrained: options.constrained,
        ...(options.maxTokens !== undefined && { maxTokens: options.maxTokens }),
      };
      const request = { ...item.plan, ...settings };
      let plan;
      try {
        plan = await planFromImageFiles(model, item.imageFiles, request);
      } catch (err) {
        if (!(err instanceof TrtVlaError)) throw err;
        console.error(`trt-vla plan: record ${JSON.stringify(item.id)} (${item.source}) failed: ${err.code}: ${err.message}`);
        failed++;
        continue;
      }
      const line = `${predictionLine(item.id, plan)}\n`;
      if (file) await file.write(line);
      else process.stdout.write(line);
      if (!plan.complete) incomplete++;
      await options.recorder?.add(item.imageFiles, { id: item.id, ...recordedHistory(item.plan), ...settings, sampling }, plan);
      progress.update(i + 1, 'plans');
    }
  } finally {
    await file?.close();
  }
  console.error(
    `trt-vla plan: ${items.length - failed} of ${items.length} records planned` +
      (incomplete ? `, ${incomplete} incomplete` : '') +
      (options.out ? ` -> ${options.out}` : '') +
      (options.recorder ? `; recorded in ${options.recorder.dir}` : ''),
  );
  return failed ? 1 : incomplete ? 3 : 0;
}

/** --manifest / --dir / --out of `plan`: where a batch comes from and goes; undefined for a single plan. */
export function batchSourceFlags(values: {
  manifest?: string | undefined;
  dir?: string | undefined;
  out?: string | undefined;
  image?: string[] | undefined;
  history?: string | undefined;
  viz?: string | undefined;
  json?: boolean | undefined;
}): { kind: 'manifest' | 'dir'; path: string; out?: string } | undefined {
  if (values.manifest === undefined && values.dir === undefined) {
    if (values.out !== undefined) throw new UsageError('--out needs --manifest or --dir (it writes their predictions)');
    return undefined;
  }
  if (values.manifest !== undefined && values.dir !== undefined) throw new UsageError('give --manifest or --dir, not both');
  const single = (['image', 'history', 'viz', 'json'] as const).find((f) => values[f] !== undefined && values[f] !== false);
  if (single) throw new UsageError(`--${single} is for a single plan; a batch takes its inputs from --manifest / --dir`);
  const out = values.out === undefined ? undefined : outputPathFlag(values.out, '--out');
  if (values.manifest !== undefined) return { kind: 'manifest', path: inputFileFlag(values.manifest, '--manifest'), ...(out && { out }) };
  let isDir = false;
  try {
    isDir = statSync(values.dir!).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UsageError(`--dir ${values.dir}: not a folder`);
  return { kind: 'dir', path: values.dir!, ...(out && { out }) };
}

/** --record DIR: a folder that is absent or empty, checked before the model loads. */
export function recordFolderFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const dir = outputPathFlag(value, '--record', 'directory');
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    entries = [];
  }
  if (entries.length > 0) throw new UsageError(`--record ${value}: the folder is not empty (a record needs a fresh one)`);
  return dir;
}
