/**
 * The answer formats of the Impromptu VLA checkpoints, as exact strings (see shared docs
 * impromptu-vla.md §3). Prompt builders, the trajectory parser and the decoding grammar all take
 * their text from here, so the three cannot drift apart.
 */
import { invalidArgument } from '../validate.js';
import { numpyRound, pythonFixed, pythonFloatRepr } from './pythonNumbers.js';

/** Which training format the checkpoint answers in. */
export type PlanningFormat = 'nuscenes' | 'q7';

export interface PlanningFormatSpec {
  readonly name: PlanningFormat;
  /** Waypoints in the answer. */
  readonly waypoints: number;
  /** Seconds between waypoints. */
  readonly stepSeconds: number;
  /**
   * How numbers are written. 'round2': NumPy `str(np.round(v, 2))` with zero printed as `0.0` (1–2
   * decimals, trailing zeros dropped: `3.8`, `-12.53`, `12.0`); the nuScenes pipeline. 'fixed2':
   * `f'{v:.2f}'` (always 2 decimals, `-0.00` possible); the q7 generators.
   */
  readonly numberStyle: 'round2' | 'fixed2';
  /** Text from `<PLANNING>` up to the first waypoint, including the trailing space. */
  readonly preamble: string;
  /** Between two waypoints. */
  readonly separator: string;
  /** After the last waypoint. */
  readonly closing: string;
}

/** The opening tag of the planning block; `preamble` starts with it. */
export const PLANNING_OPEN_TAG = '<PLANNING>';
/** The closing tag of the planning block; equals `closing` of both formats. */
export const PLANNING_CLOSE_TAG = '</PLANNING>';

const preamble = (seconds: number): string =>
  `${PLANNING_OPEN_TAG}Predicted future movement details for the next ${seconds} seconds (sampled at 0.5-second intervals), ` +
  'including BEV location in x and y directions (in meters). Positive x means forward direction while positive y ' +
  'means leftwards. The output is formatted as [x, y]: ';

export const PLANNING_FORMATS: Readonly<Record<PlanningFormat, PlanningFormatSpec>> = {
  nuscenes: {
    name: 'nuscenes',
    waypoints: 6,
    stepSeconds: 0.5,
    numberStyle: 'round2',
    preamble: preamble(3),
    separator: ', ',
    closing: PLANNING_CLOSE_TAG,
  },
  q7: {
    name: 'q7',
    waypoints: 10,
    stepSeconds: 0.5,
    numberStyle: 'fixed2',
    preamble: preamble(5),
    separator: ', ',
    closing: PLANNING_CLOSE_TAG,
  },
};

/**
 * The slow-thinking answer's reasoning sections, in order, before the PLANNING block. Each section is
 * `open + text + close` and the sections follow each other with nothing in between (the generators
 * concatenate the pieces; only the first section's close lacks a trailing newline).
 */
export const REASONING_SECTIONS = [
  { key: 'sceneDescription', open: "<Scene Description>Let's start with the environment description: \n", close: '\n</Scene Description>' },
  { key: 'roadAgentAnalysis', open: '<Road Agent Analysis>\n', close: '\n</Road Agent Analysis>\n' },
  { key: 'metaPlanning', open: '<Meta Planning>\n', close: '\n</Meta Planning>\n' },
] as const;

export type ReasoningSectionKey = (typeof REASONING_SECTIONS)[number]['key'];
export type ReasoningSectionSpec = (typeof REASONING_SECTIONS)[number];

/**
 * Formats one coordinate the way the training data did.
 * - 'round2': the nuScenes pipeline's `np.round(v, 2)` printed with `str`, after its `if v == -0.0: v
 *   = 0.0` (which also catches +0), so every zero prints `0.0`. NumPy rounds `v * 100` in floating
 *   point, so near-ties can differ from Python's `round()`: 0.015 → `0.02`.
 * - 'fixed2': the q7 generators' `f'{v:.2f}'`: exact value, ties to even (0.125 → `0.12`), and the sign
 *   of zero is kept (`-0.00`, also for tiny negatives such as -0.001).
 */
export function formatCoordinate(value: number, style: 'round2' | 'fixed2'): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidArgument('coordinate', 'a finite number', value);
  if (style === 'fixed2') return pythonFixed(value, 2);
  const rounded = numpyRound(value, 2);
  return rounded === 0 ? '0.0' : pythonFloatRepr(rounded);
}

/** One waypoint as the answer writes it: `[x, y]` with the format's number style. */
export function formatWaypoint(point: { readonly x: number; readonly y: number }, spec: PlanningFormatSpec): string {
  return `[${formatCoordinate(point.x, spec.numberStyle)}, ${formatCoordinate(point.y, spec.numberStyle)}]`;
}

/**
 * The exact PLANNING block the checkpoint was trained to write for these waypoints (x forward, y
 * left, metres): preamble, waypoints joined by the separator, closing tag. Useful as a reference
 * answer and for tests; the point count must equal the format's.
 */
export function formatPlanningBlock(
  points: readonly { readonly x: number; readonly y: number }[],
  spec: PlanningFormatSpec,
): string {
  if (!Array.isArray(points) || points.length !== spec.waypoints) {
    throw invalidArgument('points', `an array of ${spec.waypoints} waypoints`, points);
  }
  return spec.preamble + points.map((p) => formatWaypoint(p, spec)).join(spec.separator) + spec.closing;
}
