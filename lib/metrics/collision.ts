/**
 * The open-loop collision check of the Impromptu/SparseDrive `PlanningMetric` (impromptu-vla.md §4):
 * at each future step an ego box of 4.084 × 1.85 m, its centre moved 0.5 m forward along its yaw
 * ("following UniAD"), yaw taken from the trajectory, is tested for overlap with that step's
 * ground-truth object boxes. Touching counts as overlap, as shapely's `intersects` does.
 *
 * Frames: the reference works in the nuScenes lidar frame (x right, y forward); everything here is
 * in the ego frame (x forward, y left). Overlap does not change under the rotation between the two,
 * so results match as long as the object boxes are given in the same frame as the trajectory.
 */

export interface PlanarPoint {
  /** Forward, metres. */
  readonly x: number;
  /** Leftward, metres. */
  readonly y: number;
}

/** An object footprint in the ego frame. */
export interface OrientedBox {
  /** Centre, metres forward. */
  readonly x: number;
  /** Centre, metres left. */
  readonly y: number;
  /** Extent along the heading `yaw`, metres. */
  readonly length: number;
  /** Extent across the heading, metres. */
  readonly width: number;
  /** Heading, radians counter-clockwise from +x (forward). */
  readonly yaw: number;
}

export interface EgoBoxOptions {
  /** Ego length along its heading, metres. Default 4.084 (the reference's `H`). */
  length?: number;
  /** Ego width, metres. Default 1.85 (the reference's `W`). */
  width?: number;
  /** How far the box centre sits ahead of the trajectory point, metres. Default 0.5. */
  forwardOffset?: number;
}

export const EGO_BOX = Object.freeze({ length: 4.084, width: 1.85, forwardOffset: 0.5 });

/** Below this start-to-end distance (metres) the reference treats the ego as standing, heading forward. */
const STANDING_DISTANCE_M = 0.5;

/**
 * Per-point heading as the reference's `get_yaw`: a central difference with the origin before the
 * first point, a backward difference at the last point, and straight ahead (0) for every point when
 * the first and last points are less than 0.5 m apart.
 */
export function trajectoryYaws(trajectory: readonly PlanarPoint[]): number[] {
  const n = trajectory.length;
  if (n === 0) return [];
  const first = trajectory[0]!;
  const last = trajectory[n - 1]!;
  if (Math.hypot(last.x - first.x, last.y - first.y) < STANDING_DISTANCE_M) return Array<number>(n).fill(0);
  const withOrigin: PlanarPoint[] = [{ x: 0, y: 0 }, ...trajectory];
  // withOrigin[j + 1] is trajectory[j]; its neighbours are withOrigin[j] and withOrigin[j + 2].
  return trajectory.map((_, j) => {
    const from = withOrigin[j]!;
    const to = withOrigin[j === n - 1 ? j + 1 : j + 2]!;
    return Math.atan2(to.y - from.y, to.x - from.x);
  });
}

/** The ego footprint at a trajectory point: shifted forward along `yaw`. */
export function egoBoxAt(point: PlanarPoint, yaw: number, options: EgoBoxOptions = {}): OrientedBox {
  const offset = options.forwardOffset ?? EGO_BOX.forwardOffset;
  return {
    x: point.x + offset * Math.cos(yaw),
    y: point.y + offset * Math.sin(yaw),
    length: options.length ?? EGO_BOX.length,
    width: options.width ?? EGO_BOX.width,
    yaw,
  };
}

function corners(box: OrientedBox): PlanarPoint[] {
  const c = Math.cos(box.yaw);
  const s = Math.sin(box.yaw);
  const hl = box.length / 2;
  const hw = box.width / 2;
  return [
    [-hl, -hw],
    [-hl, hw],
    [hl, hw],
    [hl, -hw],
  ].map(([u, v]) => ({ x: box.x + u! * c - v! * s, y: box.y + u! * s + v! * c }));
}

/** Whether two oriented rectangles overlap or touch (separating-axis test). */
export function boxesIntersect(a: OrientedBox, b: OrientedBox): boolean {
  const ca = corners(a);
  const cb = corners(b);
  for (const yaw of [a.yaw, b.yaw]) {
    for (const axis of [
      { x: Math.cos(yaw), y: Math.sin(yaw) },
      { x: -Math.sin(yaw), y: Math.cos(yaw) },
    ]) {
      const project = (p: PlanarPoint): number => p.x * axis.x + p.y * axis.y;
      const pa = ca.map(project);
      const pb = cb.map(project);
      if (Math.max(...pa) < Math.min(...pb) || Math.max(...pb) < Math.min(...pa)) return false;
    }
  }
  return true;
}

/**
 * For each step, whether the ego box at `trajectory[t]` overlaps any of `boxesPerStep[t]`. Steps
 * without boxes never collide.
 */
export function collisionsPerStep(
  trajectory: readonly PlanarPoint[],
  boxesPerStep: readonly (readonly OrientedBox[])[],
  options: EgoBoxOptions = {},
): boolean[] {
  const yaws = trajectoryYaws(trajectory);
  return trajectory.map((point, t) => {
    const ego = egoBoxAt(point, yaws[t]!, options);
    return (boxesPerStep[t] ?? []).some((box) => boxesIntersect(ego, box));
  });
}
