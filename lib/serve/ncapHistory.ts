/**
 * The ego history of one NeuroNCAP run, built from what `/infer` carries (speculation-and-closed-loop.md
 * §1.3-1.4): `ego2world` (4×4 pose of the rear axle in the nuScenes global frame) and `canbus` (16
 * numbers: [0:3] global position, [7], [8] ego-frame acceleration x / y, [12] yaw rate, [13], [14]
 * ego-frame velocity x / y). Past positions are expressed in the current ego frame, x forward, y left:
 * p_ego = Rᵀ (p_world − t) with R, t of the current `ego2world`.
 */
import { HISTORY_STEP_SECONDS, MAX_HISTORY_ENTRIES, type EgoHistoryEntry } from '../prompt/egoHistory.js';

export type Matrix4 = readonly (readonly number[])[];

/** One /infer call as the history keeps it. */
export interface NcapStep {
  /** Microseconds (nuScenes timestamps). */
  timestampUs: number;
  ego2world: Matrix4;
  canbus: readonly number[];
}

/** Timestamps this far from the 0.5 s grid still count as consecutive steps. */
const STEP_TOLERANCE_US = 50_000;

/**
 * Steering angle for the training prompt, which prints the nuScenes CAN `steeranglefeedback` (the
 * steering-wheel angle in rad, positive left). NeuroNCAP sends no steering angle, so it is estimated
 * from the yaw rate with a kinematic bicycle model: wheel angle = atan(L·ω / v), steering-wheel angle
 * = ratio × wheel angle. L = 2.588 m (Renault Zoe, the nuScenes car) and ratio 16 are assumptions,
 * not measured values; below 0.5 m/s the estimate is 0 (the model is undefined at standstill).
 */
export const STEERING_ESTIMATE = { wheelbaseM: 2.588, steeringRatio: 16, minSpeedMps: 0.5 } as const;

export function estimateSteering(yawRate: number, speed: number): number {
  if (speed < STEERING_ESTIMATE.minSpeedMps) return 0;
  return STEERING_ESTIMATE.steeringRatio * Math.atan((STEERING_ESTIMATE.wheelbaseM * yawRate) / speed);
}

/** A global point in the ego frame of `ego2world`: Rᵀ (p − t), all three axes. */
export function worldToEgo(ego2world: Matrix4, p: readonly number[]): [number, number, number] {
  const d = [p[0]! - ego2world[0]![3]!, p[1]! - ego2world[1]![3]!, (p[2] ?? 0) - ego2world[2]![3]!];
  const out: [number, number, number] = [0, 0, 0];
  for (let j = 0; j < 3; j++) out[j] = ego2world[0]![j]! * d[0]! + ego2world[1]![j]! * d[1]! + ego2world[2]![j]! * d[2]!;
  return out;
}

export const translation = (m: Matrix4): [number, number, number] => [m[0]![3]!, m[1]![3]!, m[2]![3]!];

export const speedOf = (canbus: readonly number[]): number => Math.hypot(canbus[13]!, canbus[14]!);

/**
 * The steps of the current run. Keeps the most recent steps the prompts can show plus the first
 * ones (Impromptu's node pairs positions with the *oldest* status lines, §1.7), so memory stays
 * bounded however long a run is.
 */
export class RunHistory {
  #first: NcapStep[] = [];
  #recent: NcapStep[] = [];
  #count = 0;
  static readonly KEEP = Math.max(MAX_HISTORY_ENTRIES, 10);

  /** Steps since the last reset. */
  get count(): number {
    return this.#count;
  }

  /** The first steps of the run (at most KEEP). */
  get first(): readonly NcapStep[] {
    return this.#first;
  }

  /** The latest steps, oldest first (at most KEEP), ending with the current one. */
  get recent(): readonly NcapStep[] {
    return this.#recent;
  }

  reset(): void {
    this.#first = [];
    this.#recent = [];
    this.#count = 0;
  }

  push(step: NcapStep): void {
    this.#count++;
    if (this.#first.length < RunHistory.KEEP) this.#first.push(step);
    this.#recent.push(step);
    if (this.#recent.length > RunHistory.KEEP) this.#recent.shift();
  }

  /**
   * The training-format history: up to 7 entries (t-3.0 s … t-0.0 s), each step's position in the
   * current ego frame with that step's own status, going back while the timestamps are 0.5 s apart.
   */
  egoHistory(): EgoHistoryEntry[] {
    const steps = this.#recent;
    const current = steps[steps.length - 1];
    if (!current) return [];
    const chain: NcapStep[] = [current];
    for (let i = steps.length - 2; i >= 0 && chain.length < MAX_HISTORY_ENTRIES; i--) {
      const gap = chain[0]!.timestampUs - steps[i]!.timestampUs;
      if (Math.abs(gap - HISTORY_STEP_SECONDS * 1e6) > STEP_TOLERANCE_US) break;
      chain.unshift(steps[i]!);
    }
    const last = chain.length - 1;
    return chain.map((step, i) => {
      const [x, y] = i === last ? [0, 0] : worldToEgo(current.ego2world, translation(step.ego2world));
      const c = step.canbus;
      const speed = speedOf(c);
      return {
        t: -(last - i) * HISTORY_STEP_SECONDS || 0,
        x,
        y,
        ax: c[7]!,
        ay: c[8]!,
        vx: c[13]!,
        vy: c[14]!,
        speed,
        steering: estimateSteering(c[12]!, speed),
      };
    });
  }
}
