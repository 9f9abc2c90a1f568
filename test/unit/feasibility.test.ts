/** Feasibility on trajectories whose kinematics can be worked out by hand. */
import { describe, expect, it } from 'vitest';

import { checkFeasibility, NUPLAN_COMFORT_LIMITS, PASSENGER_CAR_LIMITS } from '../../lib/action/feasibility.js';

const pts = (...xy: [number, number][]) => xy.map(([x, y]) => ({ x, y }));
const column = <K extends string>(steps: readonly Record<K, number | null>[], key: K) =>
  steps.map((s) => (s[key] === null ? null : Number((s[key] as number).toFixed(4)) + 0)); // + 0: no -0 from float noise

describe('checkFeasibility', () => {
  it('straight at constant 10 m/s: 10 m/s, no acceleration, no curvature, nothing flagged', () => {
    const r = checkFeasibility(pts([5, 0], [10, 0], [15, 0], [20, 0], [25, 0], [30, 0]), { currentSpeed: 10 });
    expect(r.steps.map((s) => s.t)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(column(r.steps, 'speed')).toEqual([10, 10, 10, 10, 10, 10]);
    expect(column(r.steps, 'longitudinalAcceleration')).toEqual([0, 0, 0, 0, 0, 0]);
    // No acceleration before t = 0 is known without a history, so step 1 has no jerk.
    expect(column(r.steps, 'jerk')).toEqual([null, 0, 0, 0, 0, 0]);
    expect(column(r.steps, 'curvature')).toEqual([0, 0, 0, 0, 0, 0]);
    expect(r.feasible).toBe(true);
    expect(r.violations).toEqual([]);
  });

  it('constant-radius left turn, R = 20 m at 10 m/s: curvature 1/R exactly, lateral acceleration s²/R', () => {
    // Points on the circle tangent to +x at the origin: (R sin φ, R (1 − cos φ)), φ = v t / R = 0.25 rad per step.
    const R = 20;
    const path = Array.from({ length: 6 }, (_, k) => {
      const phi = 0.25 * (k + 1);
      return { x: R * Math.sin(phi), y: R * (1 - Math.cos(phi)) };
    });
    // Each 0.5 s chord is 2 R sin(0.125) = 4.98699 m long, so the mean (chord) speed is 9.97398 m/s.
    const chordSpeed = (2 * R * Math.sin(0.125)) / 0.5;
    const r = checkFeasibility(path, { currentSpeed: chordSpeed });
    expect(column(r.steps, 'curvature')).toEqual([0.05, 0.05, 0.05, 0.05, 0.05, 0.05]);
    expect(column(r.steps, 'speed')).toEqual(Array(6).fill(9.974));
    expect(column(r.steps, 'longitudinalAcceleration')).toEqual([0, 0, 0, 0, 0, 0]);
    expect(column(r.steps, 'lateralAcceleration')).toEqual(Array(6).fill(4.974)); // 9.97398² / 20
    expect(r.feasible).toBe(true); // under 0.9 g
    // nuPlan's comfort bound is 4.89 m/s²: every step is flagged, left turn positive.
    const comfort = checkFeasibility(path, { currentSpeed: chordSpeed, limits: NUPLAN_COMFORT_LIMITS });
    expect(comfort.violations.map((v) => [v.step, v.quantity, Number(v.value.toFixed(3)), v.limit])).toEqual(
      [0, 1, 2, 3, 4, 5].map((step) => [step, 'lateralAcceleration', 4.974, 4.89]),
    );
    // The mirror image turns right: negative curvature, same magnitude.
    const right = checkFeasibility(path.map((p) => ({ x: p.x, y: -p.y })), { currentSpeed: chordSpeed });
    expect(column(right.steps, 'curvature')).toEqual(Array(6).fill(-0.05));
  });

  it('hard braking at 5 m/s² from 10 m/s to a stop at t = 2 s', () => {
    // x(t) = 10 t − 2.5 t² until t = 2, then standing at 10 m.
    const r = checkFeasibility(pts([4.375, 0], [7.5, 0], [9.375, 0], [10, 0], [10, 0], [10, 0]), { currentSpeed: 10 });
    expect(column(r.steps, 'speed')).toEqual([8.75, 6.25, 3.75, 1.25, 0, 0]);
    // Step 1 compares the mean speed over [0, 0.5] (at 0.25 s) with the speed at t = 0: −1.25 / 0.25.
    expect(column(r.steps, 'longitudinalAcceleration')).toEqual([-5, -5, -5, -5, -2.5, 0]);
    expect(column(r.steps, 'jerk')).toEqual([null, 0, 0, 0, 5, 5]);
    expect(column(r.steps, 'curvature')).toEqual([0, 0, 0, 0, null, null]); // standing still: no direction
    expect(r.feasible).toBe(true); // 5 m/s² is within 0.9 g
    const comfort = checkFeasibility(pts([4.375, 0], [7.5, 0], [9.375, 0], [10, 0], [10, 0], [10, 0]), {
      currentSpeed: 10,
      limits: NUPLAN_COMFORT_LIMITS,
    });
    expect(comfort.violations.map((v) => [v.step, v.quantity, v.value, v.limit])).toEqual([
      [0, 'deceleration', -5, -4.05],
      [1, 'deceleration', -5, -4.05],
      [2, 'deceleration', -5, -4.05],
      [3, 'deceleration', -5, -4.05],
      [4, 'jerk', 5, 4.13],
      [5, 'jerk', 5, 4.13],
    ]);
  });

  it('flags braking beyond tyre grip (10 m/s²) against the default passenger-car limits', () => {
    // 10 m/s, −10 m/s²: x(0.5) = 3.75, x(1) = 5, then standing.
    const r = checkFeasibility(pts([3.75, 0], [5, 0], [5, 0], [5, 0], [5, 0], [5, 0]), { currentSpeed: 10 });
    expect(column(r.steps, 'longitudinalAcceleration')).toEqual([-10, -10, -5, 0, 0, 0]);
    expect(r.feasible).toBe(false);
    expect(r.violations.map((v) => [v.step, v.quantity, v.value])).toEqual([
      [0, 'deceleration', -10],
      [1, 'deceleration', -10],
    ]);
    expect(r.violations[0]!.limit).toBeCloseTo(-8.826, 3);
    expect(r.limits).toEqual(PASSENGER_CAR_LIMITS);
  });

  it('uses the history for speeds before t = 0, which gives step 1 a jerk', () => {
    const braking = pts([4.375, 0], [7.5, 0], [9.375, 0], [10, 0], [10, 0], [10, 0]);
    const history = [
      { t: -0.5, x: -5, y: 0 },
      { t: 0, x: 0, y: 0, speed: 10 },
    ];
    const r = checkFeasibility(braking, { history });
    // Accelerations: 0 at −0.125 s (10 → 10 m/s), −5 at 0.125 s: jerk −5 / 0.25 s = −20 m/s³.
    expect(column(r.steps, 'jerk')).toEqual([-20, 0, 0, 0, 5, 5]);
    expect(r.feasible).toBe(true);
    // Positions alone are enough without any speed field.
    const positionsOnly = checkFeasibility(braking, { history: [{ t: -0.5, x: -5, y: 0 }, { t: 0, x: 0, y: 0 }] });
    expect(column(positionsOnly.steps, 'longitudinalAcceleration')).toEqual([-2.5, -5, -5, -5, -2.5, 0]);
  });

  it('flags an impossibly tight turn by curvature and a jump in speed by acceleration', () => {
    // A 3 m radius quarter circle at 0.5 s steps, then a leap forward.
    const R = 3;
    const turn = [1, 2].map((k) => ({ x: R * Math.sin(0.5 * k), y: R * (1 - Math.cos(0.5 * k)) }));
    const r = checkFeasibility([...turn, { x: turn[1]!.x + 10, y: turn[1]!.y }], { currentSpeed: 3 });
    expect(r.violations.filter((v) => v.quantity === 'curvature').map((v) => [v.step, Number(v.value.toFixed(4))])).toEqual([
      [0, 0.3333],
      [1, 0.3333],
    ]);
    expect(r.violations.some((v) => v.quantity === 'acceleration' && v.step === 2)).toBe(true);
  });

  it('honours another step length', () => {
    // 1 s steps, 5 m apart: 5 m/s throughout, from 5 m/s now.
    const r = checkFeasibility(pts([5, 0], [10, 0], [15, 0]), { currentSpeed: 5, stepSeconds: 1 });
    expect(r.steps.map((s) => [s.t, s.speed, s.longitudinalAcceleration])).toEqual([
      [1, 5, 0],
      [2, 5, 0],
      [3, 5, 0],
    ]);
  });

  it('validates its inputs', () => {
    expect(() => checkFeasibility(pts([1, 0]), { currentSpeed: 1, stepSeconds: 0 })).toThrow(
      'Expected a positive number of seconds for options.stepSeconds but received 0 of type number',
    );
    expect(() => checkFeasibility([], { currentSpeed: 1 })).toThrow('Expected a non-empty array of { x, y } for waypoints');
    expect(() => checkFeasibility(pts([1, 0]))).toThrow(/for options.currentSpeed but received undefined/);
    expect(() => checkFeasibility(pts([1, 0]), { currentSpeed: -1 })).toThrow('Expected a finite number between 0 and Infinity for options.currentSpeed');
    expect(() => checkFeasibility(pts([1, 0]), { currentSpeed: 1, limits: { maxG: 1 } as never })).toThrow(/for a key of options.limits/);
    expect(() => checkFeasibility([{ x: 1, y: Number.NaN }], { currentSpeed: 1 })).toThrow('Expected a finite number for waypoints[0].y');
  });
});
