/**
 * The answer formats of the Impromptu VLA checkpoints, as exact strings (see shared docs
 * impromptu-vla.md §3). Prompt builders, the trajectory parser and the decoding grammar all take
 * their text from here, so the three cannot drift apart.
 */

/** Which training format the checkpoint answers in. */
export type PlanningFormat = 'nuscenes' | 'q7';

export interface PlanningFormatSpec {
  readonly name: PlanningFormat;
  /** Waypoints in the answer. */
  readonly waypoints: number;
  /** Seconds between waypoints. */
  readonly stepSeconds: number;
  /** How numbers are written: Python `str(round(v, 2))` (1–2 decimals) or `f'{v:.2f}'` (always 2). */
  readonly numberStyle: 'round2' | 'fixed2';
  /** Text from `<PLANNING>` up to the first waypoint, including the trailing space. */
  readonly preamble: string;
  /** Between two waypoints. */
  readonly separator: string;
  /** After the last waypoint. */
  readonly closing: string;
}

const preamble = (seconds: number): string =>
  `<PLANNING>Predicted future movement details for the next ${seconds} seconds (sampled at 0.5-second intervals), ` +
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
    closing: '</PLANNING>',
  },
  q7: {
    name: 'q7',
    waypoints: 10,
    stepSeconds: 0.5,
    numberStyle: 'fixed2',
    preamble: preamble(5),
    separator: ', ',
    closing: '</PLANNING>',
  },
};

/** The slow-thinking answer's reasoning sections, in order, before the PLANNING block. */
export const REASONING_SECTIONS = [
  { key: 'sceneDescription', open: "<Scene Description>Let's start with the environment description: \n", close: '\n</Scene Description>' },
  { key: 'roadAgentAnalysis', open: '<Road Agent Analysis>\n', close: '\n</Road Agent Analysis>\n' },
  { key: 'metaPlanning', open: '<Meta Planning>\n', close: '\n</Meta Planning>\n' },
] as const;

/**
 * Formats one coordinate the way the training data did. 'round2': Python `str(round(v, 2))` — at
 * least one decimal, trailing zeros dropped ("3.8", "0.0", "-12.53", "12.0"); 'fixed2': `f'{v:.2f}'`
 * ("3.80", "-0.00" is kept). `-0.0` is normalised to `0.0` in 'round2' (as the nuScenes pipeline did).
 */
export function formatCoordinate(value: number, style: 'round2' | 'fixed2'): string {
  if (!Number.isFinite(value)) throw new RangeError(`cannot format ${value} as a coordinate`);
  if (style === 'fixed2') return pythonFixed2(value);
  const rounded = pythonRound2(value);
  if (rounded === 0) return '0.0';
  const text = String(rounded);
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

/** Python's round(v, 2) for doubles: exact decimal value, ties to even (as CPython's correctly rounded round). */
function pythonRound2(value: number): number {
  const fixed = exactFixed(value, 2);
  return Number(fixed);
}

/** Python's f'{v:.2f}': correctly rounded from the exact binary value (ties to even), keeps "-0.00". */
function pythonFixed2(value: number): string {
  return exactFixed(value, 2);
}

/**
 * Correctly rounded fixed-point text of a double (round half to even on the exact binary value), which
 * is what CPython does for both round() and format(). JS toFixed also rounds the exact value but
 * resolves exact ties away from zero; exact ties only occur for values like x.xx5 that are exactly
 * representable (e.g. 0.125), so they are handled explicitly.
 */
function exactFixed(value: number, digits: number): string {
  const scale = 10 ** digits;
  const scaled = value * scale;
  const floor = Math.floor(scaled);
  // An exact tie is possible only if value * 10^digits is exactly k + 0.5 in binary arithmetic and
  // the multiplication was exact; verify by dividing back.
  if (scaled - floor === 0.5 && (floor + 0.5) / scale === value) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    const text = (even / scale).toFixed(digits);
    return value < 0 && even === 0 ? `-${text.replace('-', '')}` : text;
  }
  return value.toFixed(digits);
}
