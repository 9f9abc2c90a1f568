/**
 * Kinematic feasibility of a predicted trajectory: per step speed, longitudinal acceleration, jerk,
 * curvature and lateral acceleration from the waypoints, and which configurable limits they cross.
 * It reports; it never changes the trajectory (a planner downstream decides what to do about it).
 *
 * Finite differences on 0.5 s waypoints written with 2 decimals are coarse: they resolve sustained
 * manoeuvres (braking, turning), not brake onset. Samples are placed at their true times (segment
 * speeds at segment midpoints, the current speed at t = 0), so constant acceleration gives exactly
 * constant values and zero jerk.
 */
import { validateEgoHistory, type EgoHistoryEntry } from '../prompt/egoHistory.js';
import { invalidArgument, isObject, requireNumber } from '../validate.js';

const STANDARD_GRAVITY = 9.80665; // m/s²

/** Limits a trajectory is checked against. All magnitudes are positive. */
export interface FeasibilityLimits {
  /** Highest speed, m/s. */
  readonly maxSpeed: number;
  /** Highest longitudinal acceleration (speed gain), m/s². */
  readonly maxAcceleration: number;
  /** Highest deceleration (speed loss), m/s², as a positive number. */
  readonly maxDeceleration: number;
  /** Highest |lateral acceleration| (speed² × |curvature|), m/s². */
  readonly maxLateralAcceleration: number;
  /** Highest |curvature|, 1/m (1 / the smallest turning radius). */
  readonly maxCurvature: number;
  /** Highest |longitudinal jerk|, m/s³. */
  readonly maxJerk: number;
}

/**
 * What a passenger car can physically do (the default). Sources of the numbers:
 * - braking and cornering: a tyre–road friction coefficient of about 0.9 on dry asphalt caps the
 *   combined acceleration near 0.9 g ≈ 8.83 m/s² (friction-circle limit);
 * - acceleration: 5 m/s² ≈ 0–100 km/h in 5.6 s, beyond ordinary passenger cars (7–12 s);
 * - speed: 250 km/h ≈ 69.4 m/s, the electronic limit of most fast passenger cars;
 * - curvature: a smallest turning radius of about 5 m (kerb-to-kerb turning circles of 10–12 m);
 * - jerk: the largest change a 0.5 s difference can show between full throttle and full braking,
 *   (5 + 8.83) / 0.5 ≈ 27.7 m/s³; anything above is not a car.
 */
export const PASSENGER_CAR_LIMITS: Readonly<FeasibilityLimits> = Object.freeze({
  maxSpeed: 250 / 3.6,
  maxAcceleration: 5,
  maxDeceleration: 0.9 * STANDARD_GRAVITY,
  maxLateralAcceleration: 0.9 * STANDARD_GRAVITY,
  maxCurvature: 0.2,
  maxJerk: (5 + 0.9 * STANDARD_GRAVITY) / 0.5,
});

/**
 * Comfort rather than physics: the thresholds of nuPlan's `ego_is_comfortable` metric (nuplan-devkit
 * default metric config: ego_lon_acceleration −4.05 … 2.40 m/s², ego_lat_acceleration 4.89 m/s²,
 * ego_lon_jerk 4.13 m/s³), with the physical speed and curvature limits. nuPlan smooths the signals
 * (Savitzky–Golay) before comparing; raw 0.5 s differences are noisier, so flags here are stricter.
 */
export const NUPLAN_COMFORT_LIMITS: Readonly<FeasibilityLimits> = Object.freeze({
  maxSpeed: PASSENGER_CAR_LIMITS.maxSpeed,
  maxAcceleration: 2.4,
  maxDeceleration: 4.05,
  maxLateralAcceleration: 4.89,
  maxCurvature: PASSENGER_CAR_LIMITS.maxCurvature,
  maxJerk: 4.13,
});

export interface FeasibilityOptions {
  /**
   * Speed at t = 0, m/s. Default: the t = 0 history entry's `speed`, else its `vx`. Without it (and
   * without a history of ≥ 2 entries) the first step's acceleration cannot be known: an error.
   */
  currentSpeed?: number;
  /** Seconds between waypoints (and history entries). Default 0.5. */
  stepSeconds?: number;
  /** Past motion (see `validateEgoHistory`); its positions give speeds before t = 0, so step 1 gets a jerk. */
  history?: readonly EgoHistoryEntry[];
  /** Limits to check, merged over {@link PASSENGER_CAR_LIMITS}. */
  limits?: Partial<FeasibilityLimits>;
  /**
   * Curvature is only computed where both segments it spans are at least this long, metres. Default
   * 0.5 (1 m/s): below that, 0.01 m rounding in the answer dominates the direction.
   */
  minCurvatureSegment?: number;
}

export interface FeasibilityStep {
  /** Waypoint time, seconds after now. */
  readonly t: number;
  /** Mean speed over the step (segment length / step), m/s. */
  readonly speed: number;
  /** Speed change per second, from the previous speed sample to this step's, m/s². */
  readonly longitudinalAcceleration: number;
  /** Change of acceleration per second, m/s³; null when there is no earlier acceleration. */
  readonly jerk: number | null;
  /**
   * Signed curvature (left positive), 1/m, of the circle through this waypoint and the two before it
   * (for step 1: the circle through the origin tangent to the current heading, +x); null when a
   * segment is shorter than `minCurvatureSegment`.
   */
  readonly curvature: number | null;
  /** speed² × curvature, m/s² (left positive); null when curvature is. */
  readonly lateralAcceleration: number | null;
}

export type FeasibilityQuantity = 'speed' | 'acceleration' | 'deceleration' | 'lateralAcceleration' | 'curvature' | 'jerk';

export interface FeasibilityViolation {
  /** 0-based waypoint index. */
  readonly step: number;
  readonly t: number;
  readonly quantity: FeasibilityQuantity;
  /** The signed value (deceleration: the negative acceleration). */
  readonly value: number;
  /** The bound crossed, in the same sign convention as `value` (deceleration: −maxDeceleration). */
  readonly limit: number;
}

export interface FeasibilityReport {
  readonly steps: readonly FeasibilityStep[];
  readonly violations: readonly FeasibilityViolation[];
  /** True when no limit is crossed. */
  readonly feasible: boolean;
  /** The limits that were applied. */
  readonly limits: FeasibilityLimits;
}

interface Sample {
  readonly time: number;
  readonly value: number;
}

interface Point {
  readonly x: number;
  readonly y: number;
}

/** Signed curvature of the circle through a, b, c (Menger curvature); left turns positive. */
function circleCurvature(a: Point, b: Point, c: Point): number {
  const cross = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
  const ab = Math.hypot(b.x - a.x, b.y - a.y);
  const bc = Math.hypot(c.x - b.x, c.y - b.y);
  const ca = Math.hypot(a.x - c.x, a.y - c.y);
  return (2 * cross) / (ab * bc * ca);
}

/** Differences of consecutive samples, placed midway between them. */
function differentiate(samples: readonly Sample[]): Sample[] {
  const out: Sample[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    out.push({ time: (a.time + b.time) / 2, value: (b.value - a.value) / (b.time - a.time) });
  }
  return out;
}

function resolveLimits(value: unknown): FeasibilityLimits {
  if (value === undefined) return { ...PASSENGER_CAR_LIMITS };
  if (!isObject(value)) throw invalidArgument('options.limits', 'an object of limits', value);
  const limits: Record<string, number> = { ...PASSENGER_CAR_LIMITS };
  for (const [key, limit] of Object.entries(value)) {
    if (!(key in PASSENGER_CAR_LIMITS)) throw invalidArgument('a key of options.limits', `one of ${Object.keys(PASSENGER_CAR_LIMITS).join(', ')}`, key);
    if (limit !== undefined) limits[key] = requireNumber(limit, `options.limits.${key}`, 0);
  }
  return limits as unknown as FeasibilityLimits;
}

/** A strictly positive, finite duration in seconds. */
function requirePositiveSeconds(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalidArgument(name, 'a positive number of seconds', value);
  return value;
}

/**
 * Computes per-step kinematics of `waypoints` (x forward, y left, metres, the first one step after
 * now) and flags every limit crossed.
 */
export function checkFeasibility(waypoints: readonly Point[], options: FeasibilityOptions = {}): FeasibilityReport {
  if (!isObject(options)) throw invalidArgument('options', 'an object', options);
  if (!Array.isArray(waypoints) || waypoints.length === 0) throw invalidArgument('waypoints', 'a non-empty array of { x, y }', waypoints);
  const points: Point[] = waypoints.map((p: unknown, i) => {
    if (!isObject(p)) throw invalidArgument(`waypoints[${i}]`, 'an object { x, y }', p);
    return { x: requireNumber(p.x, `waypoints[${i}].x`), y: requireNumber(p.y, `waypoints[${i}].y`) };
  });
  const step = options.stepSeconds === undefined ? 0.5 : requirePositiveSeconds(options.stepSeconds, 'options.stepSeconds');
  const minSegment = options.minCurvatureSegment === undefined ? 0.5 : requireNumber(options.minCurvatureSegment, 'options.minCurvatureSegment', 0);
  const limits = resolveLimits(options.limits);
  const history = options.history === undefined ? undefined : validateEgoHistory(options.history, { name: 'options.history' });
  const current = history?.[history.length - 1];
  const currentSpeed =
    options.currentSpeed !== undefined ? requireNumber(options.currentSpeed, 'options.currentSpeed', 0) : (current?.speed ?? current?.vx);

  // Speed samples in time order: past segments (history), now, future segments.
  const speeds: Sample[] = [];
  if (history) {
    for (let j = 1; j < history.length; j++) {
      const a = history[j - 1]!;
      const b = history[j]!;
      speeds.push({ time: (a.t + b.t) / 2, value: Math.hypot(b.x - a.x, b.y - a.y) / step });
    }
  }
  if (currentSpeed !== undefined) speeds.push({ time: 0, value: currentSpeed });
  if (speeds.length === 0) {
    throw invalidArgument('options.currentSpeed', 'a speed in m/s (or a history with a t = 0 speed or ≥ 2 entries)', undefined);
  }
  const pastSamples = speeds.length;
  const path: Point[] = [{ x: 0, y: 0 }, ...points];
  const segment = (k: number): number => Math.hypot(path[k]!.x - path[k - 1]!.x, path[k]!.y - path[k - 1]!.y);
  for (let k = 1; k < path.length; k++) speeds.push({ time: (k - 0.5) * step, value: segment(k) / step });
  const accelerations = differentiate(speeds);
  const jerks = differentiate(accelerations);

  const steps: FeasibilityStep[] = [];
  const violations: FeasibilityViolation[] = [];
  for (let k = 1; k < path.length; k++) {
    const speedIndex = pastSamples + k - 1; // this step's speed sample
    const speed = speeds[speedIndex]!.value;
    const acceleration = accelerations[speedIndex - 1]!.value;
    const jerk = speedIndex >= 2 ? jerks[speedIndex - 2]!.value : null;
    let curvature: number | null = null;
    if (k === 1) {
      const p = path[1]!;
      const d2 = p.x * p.x + p.y * p.y;
      if (Math.sqrt(d2) >= minSegment) curvature = (2 * p.y) / d2; // circle through the origin, tangent to +x
    } else if (segment(k) >= minSegment && segment(k - 1) >= minSegment) {
      curvature = circleCurvature(path[k - 2]!, path[k - 1]!, path[k]!);
    }
    const lateral = curvature === null ? null : speed * speed * curvature;
    const t = k * step;
    steps.push({ t, speed, longitudinalAcceleration: acceleration, jerk, curvature, lateralAcceleration: lateral });

    const flag = (quantity: FeasibilityQuantity, value: number, limit: number): void => {
      violations.push({ step: k - 1, t, quantity, value, limit });
    };
    if (speed > limits.maxSpeed) flag('speed', speed, limits.maxSpeed);
    if (acceleration > limits.maxAcceleration) flag('acceleration', acceleration, limits.maxAcceleration);
    if (acceleration < -limits.maxDeceleration) flag('deceleration', acceleration, -limits.maxDeceleration);
    if (lateral !== null && Math.abs(lateral) > limits.maxLateralAcceleration) flag('lateralAcceleration', lateral, limits.maxLateralAcceleration);
    if (curvature !== null && Math.abs(curvature) > limits.maxCurvature) flag('curvature', curvature, limits.maxCurvature);
    if (jerk !== null && Math.abs(jerk) > limits.maxJerk) flag('jerk', jerk, limits.maxJerk);
  }
  return { steps, violations, feasible: violations.length === 0, limits };
}
