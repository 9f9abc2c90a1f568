/** Open-loop metrics on small fixtures whose values are worked out by hand in the comments. */
import { describe, expect, it } from 'vitest';

import { boxesIntersect, collisionsPerStep, egoBoxAt, trajectoryYaws, type OrientedBox } from '../../lib/metrics/collision.js';
import { cumulativeMeans, evaluateOpenLoop, horizonMetric, padPrediction, type OpenLoopSample } from '../../lib/metrics/openLoop.js';

const line = (dx: number, n = 6) => Array.from({ length: n }, (_, i) => ({ x: dx * (i + 1), y: 0 }));
const shift = (points: { x: number; y: number }[], offsets: [number, number][]) =>
  points.map((p, i) => ({ x: p.x + offsets[i]![0], y: p.y + offsets[i]![1] }));
const round = (values: readonly number[], digits = 6) => values.map((v) => Number(v.toFixed(digits)));

describe('L2 and the cumulative horizons', () => {
  it('averages per step over samples, then cumulatively; Avg = mean(1s, 2s, 3s); skips incomplete masks', () => {
    const gt = line(2);
    const samples: OpenLoopSample[] = [
      // Errors per step: 0.5 (a 0.3/0.4 offset), 1, 1, 2, 2, 3 m.
      { id: 'a', predicted: shift(gt, [[0.3, 0.4], [0, 1], [0, -1], [2, 0], [0, 2], [-3, 0]]), groundTruth: { waypoints: gt } },
      { id: 'b', predicted: gt, groundTruth: { waypoints: gt, mask: [1, 1, 1, 1, 1, 1] } },
      // Incomplete ground truth: skipped, so its 100 m error must not show.
      { id: 'c', predicted: shift(gt, Array(6).fill([100, 0])), groundTruth: { waypoints: gt, mask: [1, 1, 1, 1, 1, 0] } },
    ];
    const r = evaluateOpenLoop(samples);
    expect(r.samples).toEqual({ total: 3, evaluated: 2, skippedIncompleteGroundTruth: 1, paddedPredictions: 0, withBoxes: 0 });
    // Mean over a and b: 0.25, 0.5, 0.5, 1, 1, 1.5.
    expect(round(r.l2.perStep)).toEqual([0.25, 0.5, 0.5, 1, 1, 1.5]);
    // Running means: 0.25, 0.75/2, 1.25/3, 2.25/4, 3.25/5, 4.75/6.
    expect(round(r.l2.cumulative)).toEqual(round([0.25, 0.375, 1.25 / 3, 0.5625, 0.65, 4.75 / 6]));
    expect(round(Object.values(r.l2.horizons))).toEqual(round([0.375, 0.5625, 4.75 / 6]));
    expect(Object.keys(r.l2.horizons)).toEqual(['1s', '2s', '3s']);
    expect(r.l2.average).toBeCloseTo((0.375 + 0.5625 + 4.75 / 6) / 3, 12); // 0.576389
    expect(r.collision).toBeNull();
  });

  it('adds 4s and 5s for ten steps but keeps Avg over 1s–3s', () => {
    const m = horizonMetric([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Running mean of 1..k is (k + 1) / 2.
    expect(m.horizons).toEqual({ '1s': 1.5, '2s': 2.5, '3s': 3.5, '4s': 4.5, '5s': 5.5 });
    expect(m.average).toBe(2.5);
    expect(cumulativeMeans([2, 4, 0])).toEqual([2, 3, 2]);
  });

  it('pads short predictions with their last point and empty ones with zeros, like the reference parser', () => {
    expect(padPrediction([{ x: 1, y: 2 }, { x: 3, y: 4 }], 4)).toEqual({
      points: [{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 3, y: 4 }, { x: 3, y: 4 }],
      padded: true,
    });
    expect(padPrediction([], 2)).toEqual({ points: [{ x: 0, y: 0 }, { x: 0, y: 0 }], padded: true });
    const gt = line(1, 2);
    const r = evaluateOpenLoop([{ id: 'short', predicted: [{ x: 1, y: 0 }], groundTruth: { waypoints: gt } }]);
    expect(r.samples.paddedPredictions).toBe(1);
    expect(r.l2.perStep).toEqual([0, 1]); // (1, 0) padded against (2, 0)
  });

  it('rejects unusable input with ERR_INVALID_ARGUMENT', () => {
    const gt = line(1);
    expect(() => evaluateOpenLoop([])).toThrow(/non-empty array of samples/);
    expect(() => evaluateOpenLoop([{ id: 'x', predicted: gt, groundTruth: { waypoints: gt, mask: [0, 1, 1, 1, 1, 1] } }])).toThrow(
      'No sample has a complete ground-truth mask (1 skipped); nothing to score',
    );
    expect(() => evaluateOpenLoop([{ id: 'x', predicted: gt, groundTruth: { waypoints: gt.slice(0, 3) } }], { steps: 6 })).toThrow(
      'Expected 6 ground-truth waypoints for sample x but received 3',
    );
  });
});

describe('ego-box collision check', () => {
  it('takes yaw from central differences (origin first), a backward difference last, forward when standing', () => {
    expect(round(trajectoryYaws([{ x: 1, y: 0 }, { x: 2, y: 1 }, { x: 2, y: 2 }]))).toEqual(
      round([Math.atan2(1, 2), Math.atan2(2, 1), Math.PI / 2]),
    );
    // First and last point 0.4 m apart: the reference treats the ego as standing, heading forward.
    expect(trajectoryYaws([{ x: 0.1, y: 0.3 }, { x: 0.2, y: -0.1 }, { x: 0.3, y: 0.7 }])).toEqual([0, 0, 0]);
  });

  it('places the 4.084 × 1.85 m ego box 0.5 m ahead along the yaw', () => {
    const box = egoBoxAt({ x: 10, y: 2 }, Math.PI / 2);
    expect(box.x).toBeCloseTo(10, 12);
    expect(box.y).toBeCloseTo(2.5, 12);
    expect([box.length, box.width]).toEqual([4.084, 1.85]);
  });

  it('counts touching as overlap and finds separation along either box’s own axes', () => {
    const a: OrientedBox = { x: 0, y: 0, length: 2, width: 2, yaw: 0 };
    expect(boxesIntersect(a, { ...a, x: 2 })).toBe(true); // edges touch at x = 1
    expect(boxesIntersect(a, { ...a, x: 2.001 })).toBe(false);
    // A square turned 45°, corner first: it reaches x = d − √2, so it touches a while d ≤ 1 + √2.
    const diamond = (d: number): OrientedBox => ({ x: d, y: 0, length: 2, width: 2, yaw: Math.PI / 4 });
    expect(boxesIntersect(a, diamond(2.41))).toBe(true);
    expect(boxesIntersect(a, diamond(2.42))).toBe(false);
    // A thin diagonal stick and a square whose bounding boxes overlap: only the stick's normal separates them.
    const stick: OrientedBox = { x: 0, y: 0, length: 4, width: 0.2, yaw: Math.PI / 4 };
    const square: OrientedBox = { x: 1.2, y: -0.2, length: 1, width: 1, yaw: 0 };
    expect(boxesIntersect(stick, square)).toBe(false);
    expect(boxesIntersect(square, stick)).toBe(false);
    expect(boxesIntersect(stick, { ...square, x: 0.3, y: 0.3 })).toBe(true);
  });

  it('scores a step only when the prediction hits a box and the ground truth does not', () => {
    // A parked car occupying x ∈ [18, 22], |y| ≤ 1 at every step.
    const parked: OrientedBox = { x: 20, y: 0, length: 4, width: 2, yaw: 0 };
    const boxes = Array.from({ length: 6 }, () => [parked]);
    const gt = line(2); // ego box front at x + 2.542: reaches 14.542 at step 6, clear
    const fast = line(3); // front reaches 15 + 2.542 = 17.542 at step 5 (clear), 20.542 at step 6 (hit)
    expect(collisionsPerStep(fast, boxes)).toEqual([false, false, false, false, false, true]);
    expect(collisionsPerStep(gt, boxes)).toEqual([false, false, false, false, false, false]);
    const tooClose = line(3.5); // ground truth that itself reaches the car at step 5 (17.5 + 2.542 ≥ 18)
    expect(collisionsPerStep(tooClose, boxes)).toEqual([false, false, false, false, true, true]);

    const r = evaluateOpenLoop([
      { id: 'hit', predicted: fast, groundTruth: { waypoints: gt, boxes } },
      // Prediction (0.1 m to the left of the ground truth) and ground truth both hit at steps 5 and 6:
      // the ground truth itself collides there, so those steps are not counted.
      { id: 'both', predicted: shift(tooClose, Array(6).fill([0, 0.1])), groundTruth: { waypoints: tooClose, boxes } },
      { id: 'no-boxes', predicted: fast, groundTruth: { waypoints: gt } },
    ]);
    expect(r.samples.withBoxes).toBe(2);
    expect(r.collision!.perStep).toEqual([0, 0, 0, 0, 0, 0.5]);
    expect(round(Object.values(r.collision!.horizons))).toEqual(round([0, 0, 0.5 / 6]));
    expect(r.collision!.average).toBeCloseTo(0.5 / 18, 12);
  });
});
