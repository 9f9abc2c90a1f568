/**
 * A recorded run (`trt-vla plan|bench --record DIR`): everything needed to re-run each plan and compare
 * (`trt-vla replay DIR`). Layout:
 *
 *   DIR/run.json       { version, command, createdAt, model: { dir, fingerprint, description } }
 *   DIR/NNNN/request.json  { id?, images: ["image-0.jpg", …], history, format, statusWording?, mode, constrained,
 *                            maxTokens?, sampling }   (images next to it, hard-linked or copied)
 *   DIR/NNNN/result.json   { text, tokens, waypoints, complete, stopReason, timings }
 *
 * The sampling is the effective one (the model's default when the request had none), so a replay on
 * another model folder decodes the same way; seeded sampling is deterministic, so tokens compare exactly.
 */
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { TrtVlaError } from '../errors.js';
import type { Model, ModelDescription } from '../model/Model.js';
import type { SamplingOptions } from '../model/modelConfig.js';
import type { FrameBuffer } from '../frame.js';
import type { PlanRequest, PlanResult } from '../model/types.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';
import { NUSCENES_STATUS_WORDINGS, type NuScenesStatusWording, type PlanHistory } from '../prompt/historyFields.js';
import { isObject } from '../validate.js';

export const RECORD_VERSION = 1;

export interface RecordedRun {
  version: number;
  command: string;
  createdAt: string;
  model: { dir: string; fingerprint: string; description: ModelDescription };
}

export interface RecordedRequest {
  id?: string;
  /** File names inside the plan's folder. */
  images: string[];
  history: EgoHistoryEntry[];
  format: 'nuscenes' | 'q7';
  /** nuscenes: the status wording, when not the default 'speed'. */
  statusWording?: NuScenesStatusWording;
  mode: 'fast' | 'slow';
  constrained: boolean;
  maxTokens?: number;
  sampling: SamplingOptions;
}

export interface RecordedResult {
  text: string;
  tokens: number[];
  waypoints: PlanResult['waypoints'];
  complete: boolean;
  stopReason: PlanResult['stopReason'];
  timings: PlanResult['timings'];
}

/** One recorded plan as read back. */
export interface RecordedPlan {
  readonly folder: string;
  readonly request: RecordedRequest;
  readonly result: RecordedResult;
}

/**
 * What identifies the model's behaviour: its description without the run-time choices (threads) that
 * do not change the tokens. Equal fingerprints: the same dimensions, limits, backend and sampling.
 */
export function modelFingerprint(description: ModelDescription): string {
  const { threads: _threads, ...rest } = description;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/** The sampling a request without its own gets: the model's default, without the note on its source. */
export function effectiveSampling(model: Model): SamplingOptions {
  const { source: _source, ...sampling } = model.description.sampling;
  return sampling;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/** Writes plans into a record folder as they are made. */
export class PlanRecorder {
  #count = 0;
  private constructor(readonly dir: string) {}

  /** Creates DIR (which must be empty or absent) and writes run.json. */
  static async create(dir: string, command: string, model: Model): Promise<PlanRecorder> {
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Record folder ${dir} is not empty`);
    const description = model.description;
    const run: RecordedRun = {
      version: RECORD_VERSION,
      command,
      createdAt: new Date().toISOString(),
      model: { dir: path.resolve(model.dir), fingerprint: modelFingerprint(description), description },
    };
    await writeFile(path.join(dir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
    return new PlanRecorder(dir);
  }

  /**
   * Records one plan. `images` are files (hard-linked, else copied, keeping their extension) or encoded
   * image bytes with their extension.
   */
  async add(images: readonly (string | { bytes: Uint8Array; ext: string })[], request: Omit<RecordedRequest, 'images'>, plan: PlanResult): Promise<string> {
    const folder = path.join(this.dir, String(this.#count++).padStart(4, '0'));
    await mkdir(folder);
    const names: string[] = [];
    for (const [i, image] of images.entries()) {
      const name = `image-${i}${typeof image === 'string' ? path.extname(image).toLowerCase() : image.ext}`;
      if (typeof image === 'string') await linkOrCopy(image, path.join(folder, name));
      else await writeFile(path.join(folder, name), image.bytes);
      names.push(name);
    }
    const result: RecordedResult = {
      text: plan.text,
      tokens: Array.from(plan.tokens),
      waypoints: plan.waypoints,
      complete: plan.complete,
      stopReason: plan.stopReason,
      timings: plan.timings,
    };
    await writeFile(path.join(folder, 'request.json'), `${JSON.stringify({ ...request, images: names }, null, 2)}\n`);
    await writeFile(path.join(folder, 'result.json'), `${JSON.stringify(result)}\n`);
    return folder;
  }
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** The history part of a recorded request: history, format and (when not the default) the status wording. */
export function recordedHistory(request: PlanHistory): Pick<RecordedRequest, 'history' | 'format' | 'statusWording'> {
  return {
    history: [...request.history],
    format: request.format ?? 'nuscenes',
    ...(request.statusWording !== undefined && request.statusWording !== 'speed' && { statusWording: request.statusWording }),
  };
}

/** What makes request.json / result.json unusable for a replay, or undefined. */
function recordedPlanProblem(request: unknown, result: unknown): string | undefined {
  if (!isObject(request)) return 'request.json is not an object';
  if (!Array.isArray(request.images) || request.images.length === 0 || !request.images.every((f) => typeof f === 'string' && path.basename(f) === f)) {
    return 'request.json "images" must list file names in the folder';
  }
  if (!Array.isArray(request.history)) return 'request.json "history" must be an array';
  if (!['nuscenes', 'q7'].includes(request.format as string) || !['fast', 'slow'].includes(request.mode as string)) return 'request.json "format" / "mode"';
  if (request.statusWording !== undefined && !(NUSCENES_STATUS_WORDINGS as readonly unknown[]).includes(request.statusWording)) return 'request.json "statusWording"';
  if (!isObject(result)) return 'result.json is not an object';
  if (!Array.isArray(result.tokens) || !result.tokens.every(Number.isInteger)) return 'result.json "tokens" must be integers';
  if (!Array.isArray(result.waypoints) || !result.waypoints.every((w) => isObject(w) && Number.isFinite(w.x) && Number.isFinite(w.y))) {
    return 'result.json "waypoints" must be { x, y } points';
  }
  if (!isObject(result.timings) || typeof result.timings.endToEndMs !== 'number') return 'result.json "timings.endToEndMs"';
  return undefined;
}

/** Reads a record folder back: run.json and every NNNN/ plan in order. */
export async function readRecord(dir: string): Promise<{ run: RecordedRun; plans: RecordedPlan[] }> {
  const run = await readJson(path.join(dir, 'run.json'));
  if (!isObject(run) || run.version !== RECORD_VERSION || !isObject(run.model) || typeof run.model.dir !== 'string') {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${dir}/run.json is not a version ${RECORD_VERSION} trt-vla record`);
  }
  const folders = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && /^\d{4,}$/.test(e.name))
    .map((e) => e.name)
    .sort();
  if (folders.length === 0) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${dir} holds no recorded plan (NNNN/ folders)`);
  const plans: RecordedPlan[] = [];
  for (const name of folders) {
    const folder = path.join(dir, name);
    const request = await readJson(path.join(folder, 'request.json'));
    const result = await readJson(path.join(folder, 'result.json'));
    const problem = recordedPlanProblem(request, result);
    if (problem) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${folder}: not a recorded plan (${problem})`);
    plans.push({ folder, request: request as unknown as RecordedRequest, result: result as unknown as RecordedResult });
  }
  return { run: run as unknown as RecordedRun, plans };
}

/**
 * `bench --record`: writes the measured plans of a benchmark. Its synthetic rgb8 frames become
 * lossless PNGs (each distinct frame encoded once), which decode back to the same pixels on replay.
 */
export async function recordPlans(dir: string, command: string, model: Model, plans: readonly { request: PlanRequest; plan: PlanResult }[]): Promise<void> {
  const recorder = await PlanRecorder.create(dir, command, model);
  const { default: sharp } = await import('sharp');
  const encoded = new Map<FrameBuffer, Uint8Array>();
  const png = async (frame: FrameBuffer): Promise<Uint8Array> => {
    let bytes = encoded.get(frame);
    if (!bytes) {
      if (frame.format !== 'rgb8' || frame.stride !== frame.width * 3) {
        throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Cannot record a ${frame.format} frame with stride ${frame.stride}; only packed rgb8`);
      }
      bytes = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toBuffer();
      encoded.set(frame, bytes);
    }
    return bytes;
  };
  const sampling = effectiveSampling(model);
  for (const { request, plan } of plans) {
    const images = await Promise.all(request.images.map(async (f) => ({ bytes: await png(f), ext: '.png' })));
    await recorder.add(
      images,
      {
        ...recordedHistory(request),
        mode: request.mode ?? 'fast',
        constrained: request.constrained ?? true,
        ...(request.maxTokens !== undefined && { maxTokens: request.maxTokens }),
        sampling: request.sampling ?? sampling,
      },
      plan,
    );
  }
}
