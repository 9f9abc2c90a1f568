/**
 * Prompt builders, byte for byte. The expected strings were written by hand from impromptu-vla.md
 * §2.1/§2.2 and cross-checked by running the generator code of the upstream repository
 * (pipeline_ego_status.py x-y mode, pipeline_metadata.py "1v", q7_waymo.py / q7_kitti.py f-strings)
 * on the same histories under CPython 3.11 + NumPy 2.4.
 */
import { describe, expect, it } from 'vitest';

import { buildNuScenesPrompt } from '../../lib/prompt/nuscenesPrompt.js';
import { buildQ7Prompt } from '../../lib/prompt/q7Prompt.js';
import { answerSpec } from '../../lib/prompt/answerSpec.js';
import { PLANNING_FORMATS, REASONING_SECTIONS } from '../../lib/prompt/formats.js';
import type { EgoHistoryEntry } from '../../lib/prompt/egoHistory.js';

/** Values chosen to hit the formatting edge cases: -0.004 → "-0.0" in a status, but positions
 *  print every zero as "0.0"; -2.675 → "-2.68" (NumPy) as a position but 2.675 → "2.67" (round) as
 *  a status; 3.455 → "3.46"; 1.005 → "1.0"; 0.351 → "0.35". */
const NUSCENES_HISTORY = [
  { t: -3, x: -12.53, y: 0.74, ax: 0.96, ay: 0.49, vx: 3.2, speed: 3.21, steering: 2.42 },
  { t: -2.5, x: -10.9, y: 0.55, ax: 0.5, ay: -0.004, vx: 3.3, speed: 3.3, steering: 2 },
  { t: -2, x: -9.2, y: 0.351, ax: 0, ay: 0.1, vx: 3.455, speed: 3.455, steering: 1.005 },
  { t: -1.5, x: -7.375, y: 0.2, ax: -0.3, ay: 0.12, vx: 3.5, speed: 3.51, steering: 0 },
  { t: -1, x: -4.86, y: 0.14, ax: 2.675, ay: 0, vx: 3.6, speed: 3.6, steering: -1.5 },
  { t: -0.5, x: -2.675, y: 0.0001, ax: 0.2, ay: -0.1, vx: 3.7, speed: 3.71, steering: -0.25 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 3.8, speed: 3.8, steering: 0 },
] satisfies EgoHistoryEntry[];

const NUSCENES_HEAD =
  'You are an autonomous driving agent. You have access to a front view camera image of a vehicle <image>. ' +
  "Your task is to do your best to predict future waypoints for the vehicle over the next 3 timesteps, given the vehicle's intent inferred from the images." +
  'Provided are the previous ego vehicle status recorded over the last ';
const NUSCENES_COORDS =
  ' seconds (at 0.5-second intervals). This includes the x and y coordinates of the ego vehicle. Positive x means forward ' +
  'direction while positive y means leftwards. The data is presented in the format [x, y]:';
const STEER = '(positive: left turn, negative: right turn)';

describe('buildNuScenesPrompt', () => {
  it("writes the released wording 'Velocity: {v} m/s' by default, 7 entries over 3.0 s", () => {
    const prompt = buildNuScenesPrompt({ history: NUSCENES_HISTORY });
    expect(prompt.text).toBe(
      NUSCENES_HEAD + '3.0' + NUSCENES_COORDS +
        `(t-3.0s) [-12.53, 0.74], Acceleration: X 0.96, Y 0.49 m/s^2, Velocity: 3.21 m/s, Steering angle: 2.42 ${STEER}, ` +
        `(t-2.5s) [-10.9, 0.55], Acceleration: X 0.5, Y -0.0 m/s^2, Velocity: 3.3 m/s, Steering angle: 2.0 ${STEER}, ` +
        `(t-2.0s) [-9.2, 0.35], Acceleration: X 0.0, Y 0.1 m/s^2, Velocity: 3.46 m/s, Steering angle: 1.0 ${STEER}, ` +
        `(t-1.5s) [-7.38, 0.2], Acceleration: X -0.3, Y 0.12 m/s^2, Velocity: 3.51 m/s, Steering angle: 0.0 ${STEER}, ` +
        `(t-1.0s) [-4.86, 0.14], Acceleration: X 2.67, Y 0.0 m/s^2, Velocity: 3.6 m/s, Steering angle: -1.5 ${STEER}, ` +
        `(t-0.5s) [-2.68, 0.0], Acceleration: X 0.2, Y -0.1 m/s^2, Velocity: 3.71 m/s, Steering angle: -0.25 ${STEER}, ` +
        `(t-0.0s) [0.0, 0.0], Acceleration: X 0.1, Y 0.0 m/s^2, Velocity: 3.8 m/s, Steering angle: 0.0 ${STEER}\n`,
    );
    expect(prompt.imageCount).toBe(1);
    expect(prompt.format).toBe(PLANNING_FORMATS.nuscenes);
    expect(prompt.mode).toBe('fast');
    expect(prompt.answer.sections).toEqual([]);
  });

  it('contains the record quoted from the released nuscenes_train.json (impromptu-vla.md §2.1)', () => {
    const text = buildNuScenesPrompt({ history: NUSCENES_HISTORY }).text;
    expect(text).toContain(
      '(t-3.0s) [-12.53, 0.74], Acceleration: X 0.96, Y 0.49 m/s^2, Velocity: 3.21 m/s, Steering angle: 2.42 (positive: left turn, ',
    );
    // The generator's quirks: no space before "Provided", none after "[x, y]:", a newline at the end.
    expect(text).toContain('from the images.Provided are');
    expect(text).toContain('[x, y]:(t-3.0s)');
    expect(text.endsWith(')\n')).toBe(true);
  });

  it("writes the HEAD wording 'Velocity: X {vx}' with statusWording 'velocity-x'", () => {
    const text = buildNuScenesPrompt({ history: NUSCENES_HISTORY, statusWording: 'velocity-x' }).text;
    expect(text).toBe(
      NUSCENES_HEAD + '3.0' + NUSCENES_COORDS +
        `(t-3.0s) [-12.53, 0.74], Acceleration: X 0.96, Y 0.49 m/s^2, Velocity: X 3.2, Steering angle: 2.42 ${STEER}, ` +
        `(t-2.5s) [-10.9, 0.55], Acceleration: X 0.5, Y -0.0 m/s^2, Velocity: X 3.3, Steering angle: 2.0 ${STEER}, ` +
        `(t-2.0s) [-9.2, 0.35], Acceleration: X 0.0, Y 0.1 m/s^2, Velocity: X 3.46, Steering angle: 1.0 ${STEER}, ` +
        `(t-1.5s) [-7.38, 0.2], Acceleration: X -0.3, Y 0.12 m/s^2, Velocity: X 3.5, Steering angle: 0.0 ${STEER}, ` +
        `(t-1.0s) [-4.86, 0.14], Acceleration: X 2.67, Y 0.0 m/s^2, Velocity: X 3.6, Steering angle: -1.5 ${STEER}, ` +
        `(t-0.5s) [-2.68, 0.0], Acceleration: X 0.2, Y -0.1 m/s^2, Velocity: X 3.7, Steering angle: -0.25 ${STEER}, ` +
        `(t-0.0s) [0.0, 0.0], Acceleration: X 0.1, Y 0.0 m/s^2, Velocity: X 3.8, Steering angle: 0.0 ${STEER}\n`,
    );
  });

  it('shortens {T} and the labels at the start of a scene (round(0.5 * len - 0.5, 1))', () => {
    expect(buildNuScenesPrompt({ history: NUSCENES_HISTORY.slice(-2) }).text).toBe(
      NUSCENES_HEAD + '0.5' + NUSCENES_COORDS +
        `(t-0.5s) [-2.68, 0.0], Acceleration: X 0.2, Y -0.1 m/s^2, Velocity: 3.71 m/s, Steering angle: -0.25 ${STEER}, ` +
        `(t-0.0s) [0.0, 0.0], Acceleration: X 0.1, Y 0.0 m/s^2, Velocity: 3.8 m/s, Steering angle: 0.0 ${STEER}\n`,
    );
    expect(buildNuScenesPrompt({ history: NUSCENES_HISTORY.slice(-1) }).text).toBe(
      NUSCENES_HEAD + '0.0' + NUSCENES_COORDS +
        `(t-0.0s) [0.0, 0.0], Acceleration: X 0.1, Y 0.0 m/s^2, Velocity: 3.8 m/s, Steering angle: 0.0 ${STEER}\n`,
    );
  });

  it("prints positions only with statusWording 'none' (scenes without CAN bus data)", () => {
    const history = NUSCENES_HISTORY.slice(-2).map(({ t, x, y }) => ({ t, x, y }));
    expect(buildNuScenesPrompt({ history, statusWording: 'none' }).text).toBe(
      NUSCENES_HEAD + '0.5' + NUSCENES_COORDS + '(t-0.5s) [-2.68, 0.0], (t-0.0s) [0.0, 0.0]\n',
    );
  });

  it("falls back to vx for the 'speed' wording and requires what the wording prints", () => {
    const withoutSpeed = NUSCENES_HISTORY.slice(-1).map(({ speed: _speed, ...rest }) => rest);
    expect(buildNuScenesPrompt({ history: withoutSpeed }).text).toContain('Velocity: 3.8 m/s');
    const withoutSteering = NUSCENES_HISTORY.slice(-2).map(({ steering: _steering, ...rest }) => rest);
    // @ts-expect-error the 'speed' wording prints steering: the type requires it too
    expect(() => buildNuScenesPrompt({ history: withoutSteering })).toThrow(
      "options.history[0] (t = -0.5) has no 'steering' (steering angle, rad) (nor does any other entry), which the nuscenes prompt " +
        "(format 'nuscenes', statusWording 'speed', the default) prints for every entry (it prints ax, ay, speed or vx, steering). " +
        "To plan without it: statusWording: 'none' (positions only; CLI: --status-wording none)",
    );
    const withoutVelocity = NUSCENES_HISTORY.slice(-1).map(({ speed: _s, vx: _v, ...rest }) => rest);
    // @ts-expect-error neither speed nor vx
    expect(() => buildNuScenesPrompt({ history: withoutVelocity })).toThrow(/has neither 'speed' nor 'vx'/);
    // @ts-expect-error the 'velocity-x' wording prints vx
    expect(() => buildNuScenesPrompt({ history: withoutVelocity, statusWording: 'velocity-x' })).toThrow(/has no 'vx'/);
    expect(() => buildNuScenesPrompt({ history: NUSCENES_HISTORY, statusWording: 'fast' as never })).toThrow(
      /Expected one of 'speed', 'velocity-x', 'none' for options.statusWording/,
    );
  });

  it('uses the same user text in slow mode and says which sections precede PLANNING', () => {
    const fast = buildNuScenesPrompt({ history: NUSCENES_HISTORY });
    const slow = buildNuScenesPrompt({ history: NUSCENES_HISTORY, mode: 'slow' });
    expect(slow.text).toBe(fast.text);
    expect(slow.mode).toBe('slow');
    expect(slow.answer.sections.map((s) => s.key)).toEqual(['sceneDescription', 'roadAgentAnalysis', 'metaPlanning']);
    expect(slow.answer.sections).toBe(REASONING_SECTIONS);
    expect(slow.answer.planning).toBe(PLANNING_FORMATS.nuscenes);
    expect(answerSpec('q7', 'slow').planning.waypoints).toBe(10);
    expect(() => buildNuScenesPrompt({ history: NUSCENES_HISTORY, mode: 'medium' as never })).toThrow(
      "Expected one of 'fast', 'slow' for options.mode but received \"medium\" of type string",
    );
  });
});

const Q7_HISTORY = [
  { t: -1.5, x: -4.5, y: 0.105, ax: 0.125, ay: -0.001, vx: 6, vy: 0.2 },
  { t: -1, x: -3, y: 0.05, ax: 0, ay: 0, vx: 6.02, vy: 0.1 },
  { t: -0.5, x: -1.5, y: -0.004, ax: -0.1, ay: 0, vx: 6.1, vy: 0 },
  { t: 0, x: 0, y: 0, ax: 0.2, ay: 0.015, vx: 6.15, vy: -0.01 },
] satisfies EgoHistoryEntry[];

const Q7_TASK =
  "Your task is to do your best to predict future waypoints for the vehicle over the next 10 timesteps, given the vehicle's intent inferred from the images. " +
  'Provided are the previous ego vehicle statuses recorded over the last ';
const Q7_COORDS =
  ' seconds (at 0.5-second intervals). This includes the x and y coordinates of the ego vehicle. Positive x means forward ' +
  'direction while positive y means leftwards. The data is presented in the format [x, y]:\n';
// 0.105 → "0.10" and 0.125 → "0.12" (:.2f rounds the exact value, ties to even); -0.001 → "-0.00".
const Q7_ENTRIES =
  '(t-1.5s) [-4.50, 0.10], Acceleration: X 0.12, Y -0.00 m/s^2, Velocity: X 6.00, Y 0.20 m/s, ' +
  '(t-1.0s) [-3.00, 0.05], Acceleration: X 0.00, Y 0.00 m/s^2, Velocity: X 6.02, Y 0.10 m/s, ' +
  '(t-0.5s) [-1.50, -0.00], Acceleration: X -0.10, Y 0.00 m/s^2, Velocity: X 6.10, Y 0.00 m/s, ' +
  '(t-0.0s) [0.0, 0.0], Acceleration: X 0.20, Y 0.01 m/s^2, Velocity: X 6.15, Y -0.01 m/s\n';

describe('buildQ7Prompt', () => {
  it('writes the 3-view Waymo/Argoverse prompt', () => {
    const prompt = buildQ7Prompt({ history: Q7_HISTORY });
    expect(prompt.text).toBe(
      'You are an autonomous driving agent. You have access to multi-view camera images of a vehicle: (1) front view ' +
        '(which you should focus on with the most attention) <image>, (2) front right view <image>, and (3) front left view <image>. ' +
        Q7_TASK + '1.5' + Q7_COORDS + Q7_ENTRIES,
    );
    expect(prompt.imageCount).toBe(3);
    expect(prompt.text.split('<image>').length - 1).toBe(3);
    expect(prompt.format).toBe(PLANNING_FORMATS.q7);
  });

  it('writes the 1-view KITTI/IDD/Mapillary prompt', () => {
    const prompt = buildQ7Prompt({ history: Q7_HISTORY, views: 1, mode: 'slow' });
    expect(prompt.text).toBe(
      'You are an autonomous driving agent. You have access to front camera image of a vehicle: <image>. ' +
        Q7_TASK + '1.5' + Q7_COORDS + Q7_ENTRIES,
    );
    expect(prompt.imageCount).toBe(1);
    expect(prompt.answer.sections).toHaveLength(3);
  });

  it('accepts shorter and longer histories (the released nuScenes q7 used 3.0 s)', () => {
    const two = buildQ7Prompt({ history: Q7_HISTORY.slice(-2), views: 1 }).text;
    expect(two).toContain(
      'over the last 0.5 seconds (at 0.5-second intervals).' + Q7_COORDS.slice(' seconds (at 0.5-second intervals).'.length) +
        '(t-0.5s) [-1.50, -0.00], Acceleration: X -0.10, Y 0.00 m/s^2, Velocity: X 6.10, Y 0.00 m/s, (t-0.0s) [0.0, 0.0], ',
    );
    const seven = [-3, -2.5, -2, ...Q7_HISTORY.map((e) => e.t)].map((t, i) => ({ ...Q7_HISTORY[Math.max(0, i - 3)]!, t }));
    const text = buildQ7Prompt({ history: seven }).text;
    expect(text).toContain('over the last 3.0 seconds');
    expect(text).toContain(':\n(t-3.0s) [-4.50, 0.10], ');
    expect(text.match(/\(t-\d\.\ds\)/g)).toEqual(['(t-3.0s)', '(t-2.5s)', '(t-2.0s)', '(t-1.5s)', '(t-1.0s)', '(t-0.5s)', '(t-0.0s)']);
  });

  it('requires ax, ay, vx, vy and 1 or 3 views', () => {
    const missing = Q7_HISTORY.map(({ vy: _vy, ...rest }) => rest);
    // @ts-expect-error q7 prints vy
    expect(() => buildQ7Prompt({ history: missing })).toThrow("options.history[0] (t = -1.5) has no 'vy' (lateral velocity, m/s) (nor does any other entry)");
    expect(() => buildQ7Prompt({ history: Q7_HISTORY, views: 2 as never })).toThrow(
      'Expected 1 or 3 for options.views but received 2 of type number',
    );
  });
});
