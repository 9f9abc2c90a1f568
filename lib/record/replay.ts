/** Re-runs recorded plans (lib/record/planRecord.ts) and compares them with what was recorded. */
import path from 'node:path';

import { frameFromImage } from '../frameFromImage.js';
import type { Model } from '../model/Model.js';
import type { FrameBuffer } from '../frame.js';
import type { PlanRequestBase, PlanResult } from '../model/types.js';
import { planHistory, type PlanHistory } from '../prompt/historyFields.js';
import type { RecordedPlan } from './planRecord.js';

export interface PlanComparison {
  /** The plan's folder name (NNNN) and its id when it had one. */
  readonly name: string;
  readonly id?: string;
  readonly tokensIdentical: boolean;
  /** First index where the token sequences differ (-1 when identical). */
  readonly firstTokenDiff: number;
  readonly recordedTokens: number;
  readonly replayedTokens: number;
  /** Largest |Δx|, |Δy| over the waypoints both plans have (metres); Infinity when their counts differ. */
  readonly waypointMaxDiff: number;
  /** Replayed / recorded end-to-end time. */
  readonly timingRatio: number;
  readonly recordedMs: number;
  readonly replayedMs: number;
}

export interface ReplaySummary {
  readonly plans: readonly PlanComparison[];
  readonly tokenMismatches: number;
  readonly waypointMaxDiff: number;
  /** Median of the per-plan timing ratios. */
  readonly medianTimingRatio: number;
}

function firstDifference(a: readonly number[], b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export function comparePlan(recorded: RecordedPlan, replayed: PlanResult): PlanComparison {
  const firstTokenDiff = firstDifference(recorded.result.tokens, replayed.tokens);
  const a = recorded.result.waypoints;
  const b = replayed.waypoints;
  let waypointMaxDiff = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    waypointMaxDiff = Math.max(waypointMaxDiff, Math.abs(a[i]!.x - b[i]!.x), Math.abs(a[i]!.y - b[i]!.y));
  }
  const recordedMs = recorded.result.timings.endToEndMs;
  const replayedMs = replayed.timings.endToEndMs;
  return {
    name: path.basename(recorded.folder),
    ...(recorded.request.id !== undefined && { id: recorded.request.id }),
    tokensIdentical: firstTokenDiff === -1,
    firstTokenDiff,
    recordedTokens: recorded.result.tokens.length,
    replayedTokens: replayed.tokens.length,
    waypointMaxDiff,
    timingRatio: recordedMs > 0 ? replayedMs / recordedMs : Number.NaN,
    recordedMs,
    replayedMs,
  };
}

/** Decodes image files into frames, plans, and frees the frames whatever happens. */
export async function planFromImageFiles(model: Model, imageFiles: readonly string[], request: Omit<PlanRequestBase, 'images'> & PlanHistory): Promise<PlanResult> {
  const images: FrameBuffer[] = [];
  try {
    for (const file of imageFiles) images.push(await frameFromImage(model, file));
    return await model.plan({ ...request, images });
  } finally {
    for (const frame of images) frame.dispose();
  }
}

/** Re-runs one recorded plan with its recorded images, history and options (sampling included). */
export function replayPlan(model: Model, recorded: RecordedPlan): Promise<PlanResult> {
  const r = recorded.request;
  return planFromImageFiles(
    model,
    r.images.map((name) => path.join(recorded.folder, name)),
    {
      ...planHistory(r.format, r.statusWording, r.history, `${recorded.folder}/request.json history`),
      mode: r.mode,
      constrained: r.constrained,
      sampling: r.sampling,
      ...(r.maxTokens !== undefined && { maxTokens: r.maxTokens }),
    },
  );
}

export function summarize(plans: readonly PlanComparison[]): ReplaySummary {
  const ratios = plans.map((p) => p.timingRatio).filter(Number.isFinite).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return {
    plans,
    tokenMismatches: plans.filter((p) => !p.tokensIdentical).length,
    waypointMaxDiff: plans.reduce((m, p) => Math.max(m, p.waypointMaxDiff), 0),
    medianTimingRatio: ratios.length === 0 ? Number.NaN : ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2,
  };
}
