/**
 * The `impromptu-ncap` prompt profile: what Impromptu's own NeuroNCAP node sends to its LLM, byte for
 * byte, so that closed-loop numbers can be compared with theirs. Source: Impromptu-VLA upstream
 * `neuroncap_evaluation/Impromptu/inference/server.py` @90f2c08 (speculation-and-closed-loop.md §1.7,
 * impromptu-vla.md §2.3). Its quirks are reproduced on purpose:
 * - the camera sentence names three images, but the content dict repeats the key "image_url", so only
 *   the last one, CAM_FRONT_LEFT, reaches the model (after the text, as sglang's qwen2-vl template
 *   appends it);
 * - "over the last {len(lines)·0.5:.1f} seconds" counts the status lines *before* this call, uncapped;
 * - positions (`canbus[0:3]`, 3-D, into the current ego frame) print with 1 decimal, at most 6;
 * - `zip(updated_positions[-n:], lines)` pairs the newest positions with the *oldest* status lines;
 * - "[x, y]:." with a stray period, "m/s " with a trailing space, entries joined by ", " and the
 *   end stripped of commas and spaces (Python's rstrip(", ")).
 * The answer is read with its regex `\[([\-\d\.]+),\s*([\-\d\.]+)\]`, first 6 pairs.
 */
import { pythonFixed } from '../prompt/pythonNumbers.js';
import { worldToEgo, type NcapStep } from './ncapHistory.js';

/** Impromptu's node keeps at most this many history entries (the Oct 2025 version). */
const MAX_ENTRIES = 6;

/** The camera whose image the node actually sends (the last of the repeated "image_url" keys). */
export const IMPROMPTU_NCAP_CAMERA = 'CAM_FRONT_LEFT';

/** sglang's ChatCompletionRequest default max_tokens is overridden to this by the node. */
export const IMPROMPTU_NCAP_MAX_TOKENS = 512;

/** `format_ego_status`: the status line of one step (steering angle commented out upstream). */
export function impromptuStatusLine(canbus: readonly number[]): string {
  const velocity = Math.pow(canbus[13]! ** 2 + canbus[14]! ** 2, 0.5);
  return `Acceleration: X ${pythonFixed(canbus[7]!, 2)}, Y ${pythonFixed(canbus[8]!, 2)} m/s^2, Velocity: ${pythonFixed(velocity, 2)} m/s `;
}

/**
 * The user text for the current call. `first` are the run's first steps (their status lines are what
 * the node pairs), `recent` the latest steps ending with the current one, `count` the calls so far
 * including this one.
 */
export function impromptuNcapPrompt(first: readonly NcapStep[], recent: readonly NcapStep[], count: number): string {
  const current = recent[recent.length - 1]!;
  const timePeriod = (count - 1) * 0.5;
  const fixed =
    'You are an autonomous driving agent. You have access to front view camera image <image>, front left view camera image <image>, ' +
    "front right view camera image <image>. Your task is to do your best to predict future waypoints for the vehicle over the next 3 timesteps, given the vehicle's intent inferred from the images." +
    `Provided are the previous ego vehicle status recorded over the last ${pythonFixed(timePeriod, 1)} seconds (at 0.5-second intervals). ` +
    'This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. The data is presented in the format [x, y]:.';
  const total = Math.min(count, MAX_ENTRIES);
  const positions = recent.slice(-total);
  let history = '';
  for (let i = 0; i < total; i++) {
    const offset = (total - 1 - i) * 0.5;
    const [x, y] = worldToEgo(current.ego2world, positions[i]!.canbus.slice(0, 3));
    history += `(t-${pythonFixed(offset, 1)}s) [${pythonFixed(x, 1)}, ${pythonFixed(y, 1)}], ${impromptuStatusLine(first[i]!.canbus)}, `;
  }
  return fixed + history.replace(/[, ]+$/, '');
}

/**
 * `extract_trajectory`: every `[num, num]` pair, first 6. Undefined where Python would fall back to
 * zeros (no pair, or a pair float() rejects, such as "1.2.3").
 */
export function impromptuExtractTrajectory(answer: string): [number, number][] | undefined {
  const points: [number, number][] = [];
  for (const m of answer.matchAll(/\[([-\d.]+),\s*([-\d.]+)\]/g)) {
    const x = pythonFloat(m[1]!);
    const y = pythonFloat(m[2]!);
    if (x === undefined || y === undefined) return undefined;
    points.push([x, y]);
  }
  return points.length === 0 ? undefined : points.slice(0, 6);
}

/** Python float() of the strings the regex can capture (digits, '-', '.'). */
function pythonFloat(text: string): number | undefined {
  return /^-?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : undefined;
}
