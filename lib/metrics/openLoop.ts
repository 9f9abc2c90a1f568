/**
 * Open-loop planning metrics in the convention of the Impromptu paper's nuScenes table (the ST-P3 /
 * VAD "average over the horizon" style, impromptu-vla.md §4): per-step L2 and collision rates are
 * averaged over samples; the "1s" figure is the mean of the 0.5 s and 1.0 s steps, "2s" of the first
 * four, "3s" of all six, and Avg is the mean of the 1s, 2s and 3s figures. Ten-step (q7) results add
 * 4s and 5s; Avg stays the mean of 1s/2s/3s so the numbers stay comparable with the paper.
 */
import { TrtVlaError } from '../errors.js';
import { invalidArgument, requireInteger, requireNumber } from '../validate.js';
import { collisionsPerStep, type EgoBoxOptions, type OrientedBox, type PlanarPoint } from './collision.js';

export interface GroundTruth {
  /** Future ego positions (x forward, y left, metres), one per step, the first one step after now. */
  readonly waypoints: readonly PlanarPoint[];
  /** Per-step validity (1 or true = valid). A sample with any invalid step is skipped. Default all valid. */
  readonly mask?: readonly (number | boolean)[];
  /** Object footprints per future step, in the same frame; enables the collision metric. */
  readonly boxes?: readonly (readonly OrientedBox[])[];
}

export interface OpenLoopSample {
  readonly id: string;
  /** Predicted waypoints; fewer than `steps` are padded with the last one (none: all zeros), as the reference does. */
  readonly predicted: readonly PlanarPoint[];
  readonly groundTruth: GroundTruth;
}

export interface OpenLoopOptions {
  /** Steps compared. Default: the ground truth's waypoint count (it must be the same in every sample). */
  steps?: number;
  /** Seconds per step. Default 0.5. */
  stepSeconds?: number;
  /** Ego footprint for the collision check. Default 4.084 × 1.85 m, 0.5 m forward offset. */
  egoBox?: EgoBoxOptions;
}

export interface HorizonMetric {
  /** Mean over samples at each step. */
  readonly perStep: readonly number[];
  /** Mean of the per-step values up to and including each step (the reference's table row). */
  readonly cumulative: readonly number[];
  /** The cumulative value at each whole second: { '1s': …, '2s': …, '3s': … }. */
  readonly horizons: Readonly<Record<string, number>>;
  /** Mean of the 1s, 2s and 3s horizons (those that exist). */
  readonly average: number;
}

export interface OpenLoopReport {
  readonly steps: number;
  readonly stepSeconds: number;
  readonly samples: {
    /** Samples given. */
    readonly total: number;
    /** Samples scored (complete ground truth). */
    readonly evaluated: number;
    /** Samples skipped because their ground-truth mask is incomplete. */
    readonly skippedIncompleteGroundTruth: number;
    /** Scored samples whose prediction had fewer than `steps` points and was padded. */
    readonly paddedPredictions: number;
    /** Scored samples with object boxes (the collision denominator). */
    readonly withBoxes: number;
  };
  /** L2 distance, metres. */
  readonly l2: HorizonMetric;
  /** Collision rate as a fraction (0–1); null when no scored sample has boxes. */
  readonly collision: HorizonMetric | null;
}

/** Euclidean distance between predicted and true positions at each step. */
export function l2PerStep(predicted: readonly PlanarPoint[], truth: readonly PlanarPoint[]): number[] {
  return truth.map((t, i) => Math.hypot(predicted[i]!.x - t.x, predicted[i]!.y - t.y));
}

/** Running means: out[i] = mean(values[0..i]). */
export function cumulativeMeans(values: readonly number[]): number[] {
  let sum = 0;
  return values.map((v, i) => {
    sum += v;
    return sum / (i + 1);
  });
}

/** Cumulative values, whole-second horizons and the 1s/2s/3s average of a per-step series. */
export function horizonMetric(perStep: readonly number[], stepSeconds = 0.5): HorizonMetric {
  const cumulative = cumulativeMeans(perStep);
  const horizons: Record<string, number> = {};
  for (let seconds = 1; ; seconds++) {
    const index = Math.round(seconds / stepSeconds) - 1;
    if (index >= cumulative.length || Math.abs((index + 1) * stepSeconds - seconds) > 1e-9) break;
    horizons[`${seconds}s`] = cumulative[index]!;
  }
  const averaged = ['1s', '2s', '3s'].filter((key) => key in horizons).map((key) => horizons[key]!);
  const average = averaged.length ? averaged.reduce((a, b) => a + b, 0) / averaged.length : Number.NaN;
  return { perStep: [...perStep], cumulative, horizons, average };
}

/** Pads (with the last point, or zeros when empty) or truncates a prediction to `steps` points. */
export function padPrediction(predicted: readonly PlanarPoint[], steps: number): { points: PlanarPoint[]; padded: boolean } {
  const points = predicted.slice(0, steps).map((p) => ({ x: p.x, y: p.y }));
  const padded = points.length < steps;
  const fill = points[points.length - 1] ?? { x: 0, y: 0 };
  while (points.length < steps) points.push({ ...fill });
  return { points, padded };
}

const isComplete = (mask: readonly (number | boolean)[] | undefined, steps: number): boolean =>
  mask === undefined || mask.slice(0, steps).every((m) => m === true || m === 1);

/** A strictly positive, finite duration in seconds. */
function requirePositiveSeconds(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalidArgument(name, 'a positive number of seconds', value);
  return value;
}

/** Scores predictions against ground truth; see {@link OpenLoopReport}. */
export function evaluateOpenLoop(samples: readonly OpenLoopSample[], options: OpenLoopOptions = {}): OpenLoopReport {
  if (!Array.isArray(samples) || samples.length === 0) throw invalidArgument('samples', 'a non-empty array of samples', samples);
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const stepSeconds = options.stepSeconds === undefined ? 0.5 : requirePositiveSeconds(options.stepSeconds, 'options.stepSeconds');
  const steps = options.steps === undefined ? samples[0]!.groundTruth.waypoints.length : requireInteger(options.steps, 'options.steps', 1, 1000);

  const l2Sum = Array<number>(steps).fill(0);
  const collisionSum = Array<number>(steps).fill(0);
  let evaluated = 0;
  let skipped = 0;
  let padded = 0;
  let withBoxes = 0;
  for (const sample of samples) {
    const truth = sample.groundTruth;
    if (truth.waypoints.length < steps) {
      throw new TrtVlaError(
        'ERR_INVALID_ARGUMENT',
        `Expected ${steps} ground-truth waypoints for sample ${sample.id} but received ${truth.waypoints.length}`,
      );
    }
    if (!isComplete(truth.mask, steps)) {
      skipped++;
      continue;
    }
    evaluated++;
    const gt = truth.waypoints.slice(0, steps);
    const prediction = padPrediction(sample.predicted, steps);
    if (prediction.padded) padded++;
    l2PerStep(prediction.points, gt).forEach((d, i) => (l2Sum[i]! += d));
    if (truth.boxes) {
      withBoxes++;
      const boxes = truth.boxes.slice(0, steps);
      const truthCollides = collisionsPerStep(gt, boxes, options.egoBox);
      // A step counts only when the ground-truth trajectory itself is clear there (annotation noise).
      collisionsPerStep(prediction.points, boxes, options.egoBox).forEach((hit, i) => {
        if (hit && !truthCollides[i]) collisionSum[i]! += 1;
      });
    }
  }
  if (evaluated === 0) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `No sample has a complete ground-truth mask (${skipped} skipped); nothing to score`);
  }
  return {
    steps,
    stepSeconds,
    samples: { total: samples.length, evaluated, skippedIncompleteGroundTruth: skipped, paddedPredictions: padded, withBoxes },
    l2: horizonMetric(l2Sum.map((s) => s / evaluated), stepSeconds),
    collision: withBoxes ? horizonMetric(collisionSum.map((c) => c / withBoxes), stepSeconds) : null,
  };
}
