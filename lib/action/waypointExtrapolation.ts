/**
 * The kinematic prior of the waypoint drafter: where the next point of a 0.5 s-spaced path probably
 * is. Points are metres in the current ego frame (x forward, y left). The path's last two segments
 * fix a speed change and a heading change per step; the next segment repeats both (constant
 * acceleration, constant yaw rate). That is exact for straight constant-velocity or
 * constant-acceleration motion and for a constant-speed arc (equal chords turning by equal angles).
 */
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** Time between points, seconds (history entries and answer waypoints alike). */
export const STEP_SECONDS = 0.5;

/**
 * Segments shorter than this (metres per 0.5 s, ~1.4 km/h) carry no usable heading: printed points
 * are rounded to 0.01 m, so a crawling or stopped car would otherwise get a random yaw rate.
 */
const MIN_HEADING_SEGMENT_M = 0.2;

function wrapAngle(a: number): number {
  return Math.atan2(Math.sin(a), Math.cos(a));
}

/**
 * The next point after `path` (oldest first, at least one point). One point: the history's status
 * fields at that point (speed or vx, ax, and ay for the yaw rate) if given, else standing still.
 */
export function extrapolateNext(path: readonly Point[], status?: EgoHistoryEntry): Point {
  const n = path.length;
  const last = path[n - 1]!;
  if (n === 1) {
    const v = status?.speed ?? status?.vx ?? 0;
    const a = status?.ax ?? 0;
    const yawRate = v > 0.5 ? (status?.ay ?? 0) / v : 0;
    const length = Math.max(0, v * STEP_SECONDS + 0.5 * a * STEP_SECONDS * STEP_SECONDS);
    const heading = (yawRate * STEP_SECONDS) / 2; // the chord's direction is the mean heading
    return { x: last.x + length * Math.cos(heading), y: last.y + length * Math.sin(heading) };
  }
  const prev = path[n - 2]!;
  const s2x = last.x - prev.x;
  const s2y = last.y - prev.y;
  if (n === 2) return { x: last.x + s2x, y: last.y + s2y };
  const first = path[n - 3]!;
  const s1x = prev.x - first.x;
  const s1y = prev.y - first.y;
  const l1 = Math.hypot(s1x, s1y);
  const l2 = Math.hypot(s2x, s2y);
  const l3 = Math.max(0, 2 * l2 - l1);
  if (l3 === 0) return last;
  const turn = l1 >= MIN_HEADING_SEGMENT_M && l2 >= MIN_HEADING_SEGMENT_M ? wrapAngle(Math.atan2(s2y, s2x) - Math.atan2(s1y, s1x)) : 0;
  // Heading of the latest segment; a zero-length one (starting from standstill) takes the older one's.
  const heading = (l2 > 0 ? Math.atan2(s2y, s2x) : Math.atan2(s1y, s1x)) + turn;
  return { x: last.x + l3 * Math.cos(heading), y: last.y + l3 * Math.sin(heading) };
}

/**
 * The predicted y of a waypoint whose x is already written: along the predicted segment, scaled to
 * the x actually written (a model that is faster or slower than the prior keeps the same heading).
 * Falls back to the predicted y where the segment has too little forward motion to scale.
 */
export function predictYGivenX(predicted: Point, previous: Point, writtenX: number): number {
  const dx = predicted.x - previous.x;
  if (Math.abs(dx) < 0.1) return predicted.y;
  const scale = (writtenX - previous.x) / dx;
  return scale >= 0.5 && scale <= 2 ? previous.y + (predicted.y - previous.y) * scale : predicted.y;
}

/** The ego history's positions, oldest first (the last is the origin), as the path the answer continues. */
export function historyPath(history: readonly EgoHistoryEntry[]): Point[] {
  return history.map((e) => ({ x: e.x, y: e.y }));
}
