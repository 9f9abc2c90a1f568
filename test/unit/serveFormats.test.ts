// The pure pieces of `trt-vla serve`: the torch.save reader, the NeuroNCAP history, Impromptu's prompt.
import { describe, expect, it } from 'vitest';

import { impromptuExtractTrajectory, impromptuNcapPrompt, impromptuStatusLine } from '../../lib/serve/impromptuNcap.js';
import { estimateSteering, RunHistory, worldToEgo, type NcapStep } from '../../lib/serve/ncapHistory.js';
import { projectToImage } from '../../lib/serve/liveView.js';
import { decodeTorchImage } from '../../lib/serve/torchArchive.js';
import { patternImage, planarStorage, tensorPickle, torchSaveUint8, zipStored } from '../helpers/torchSave.js';

describe('torch.save archive reader', () => {
  it('reads a contiguous (H, W, 3) uint8 tensor', () => {
    const pixels = patternImage(5, 4, 9);
    const image = decodeTorchImage(torchSaveUint8([4, 5, 3], pixels));
    expect([image.width, image.height]).toEqual([5, 4]);
    expect(Buffer.from(image.data).equals(Buffer.from(pixels))).toBe(true);
  });

  it('honours strides and the storage offset (a permuted, offset tensor)', () => {
    const pixels = patternImage(6, 3, 1);
    const planar = planarStorage(pixels, 6, 3);
    const withOffset = new Uint8Array(planar.length + 7);
    withOffset.set(planar, 7);
    const image = decodeTorchImage(torchSaveUint8([3, 6, 3], withOffset, { stride: [6, 1, 18], offset: 7 }));
    expect(Buffer.from(image.data).equals(Buffer.from(pixels))).toBe(true);
  });

  it('refuses other dtypes, shapes, foreign globals, out-of-range strides and non-archives', () => {
    const pixels = patternImage(2, 2);
    expect(() => decodeTorchImage(torchSaveUint8([2, 2, 3], pixels, { storageClass: 'FloatStorage' }))).toThrow(/FloatStorage.*uint8/);
    expect(() => decodeTorchImage(torchSaveUint8([4, 1, 3], pixels))).not.toThrow();
    expect(() => decodeTorchImage(zipStored([['archive/data.pkl', tensorPickle([2, 2, 4], 16)], ['archive/data/0', Buffer.alloc(16)]]))).toThrow(
      /shape \(2, 2, 4\)/,
    );
    expect(() => decodeTorchImage(torchSaveUint8([2, 2, 3], pixels, { rebuildGlobal: ['os', 'system'] }))).toThrow(/references os\.system/);
    expect(() => decodeTorchImage(torchSaveUint8([2, 2, 3], pixels, { stride: [6, 3, 2] }))).toThrow(/reach element/);
    expect(() => decodeTorchImage(Buffer.from('PK\x03\x04 is not really a zip archive at all'))).toThrow(/end-of-central-directory/);
    // A pickle opcode a tensor never needs (GLOBAL + BUILD of an arbitrary object) is refused, not run.
    const evil = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cbuiltins\neval\n', 'latin1'), Buffer.from([0x2e])]);
    expect(() => decodeTorchImage(zipStored([['archive/data.pkl', evil]]))).toThrow(/builtins\.eval/);
    const unknownOp = Buffer.from([0x80, 0x02, 0x62, 0x2e]); // BUILD
    expect(() => decodeTorchImage(zipStored([['archive/data.pkl', unknownOp]]))).toThrow(/opcode 0x62/);
  });
});

/** A pose facing `yaw` (rad, from world +x) at (x, y). */
function pose(x: number, y: number, yaw: number): number[][] {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  return [
    [c, -s, 0, x],
    [s, c, 0, y],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

function canbus(x: number, y: number, fields: { ax?: number; ay?: number; yawRate?: number; vx?: number; vy?: number } = {}): number[] {
  const c = new Array<number>(16).fill(0);
  c[0] = x;
  c[1] = y;
  c[7] = fields.ax ?? 0;
  c[8] = fields.ay ?? 0;
  c[9] = 9.8;
  c[12] = fields.yawRate ?? 0;
  c[13] = fields.vx ?? 0;
  c[14] = fields.vy ?? 0;
  return c;
}

describe('NeuroNCAP history', () => {
  it('puts past global positions into the current ego frame (hand-computed)', () => {
    // Facing world +y (yaw 90°) at (10, 0): ego x forward = world +y, ego y left = world -x.
    const R = pose(10, 0, Math.PI / 2);
    const [x1, y1] = worldToEgo(R, [10, -3, 0]); // 3 m straight behind
    expect(x1).toBeCloseTo(-3, 12);
    expect(y1).toBeCloseTo(0, 12);
    const [x2, y2] = worldToEgo(R, [11, -5, 0]); // 5 m behind, 1 m to the right (world +x)
    expect(x2).toBeCloseTo(-5, 12);
    expect(y2).toBeCloseTo(-1, 12);
  });

  it('keeps the last 7 consecutive 0.5 s steps with each step own status, and breaks at a gap', () => {
    const h = new RunHistory();
    // Straight along world +y at 4 m/s: 2 m per step; the ego frame history is (-2k, 0).
    for (let k = 0; k < 9; k++) {
      h.push({ timestampUs: 1e6 + k * 5e5, ego2world: pose(100, 200 + 2 * k, Math.PI / 2), canbus: canbus(100, 200 + 2 * k, { vx: 4, ax: k / 10 }) });
    }
    const entries = h.egoHistory();
    expect(entries.map((e) => e.t)).toEqual([-3, -2.5, -2, -1.5, -1, -0.5, 0]);
    entries.forEach((e, i) => {
      expect(e.x).toBeCloseTo(-2 * (6 - i), 9);
      expect(e.y).toBeCloseTo(0, 9);
      expect(e.ax).toBeCloseTo((i + 2) / 10, 12); // step k = i + 2 of the 9
      expect(e.speed).toBe(4);
    });
    h.push({ timestampUs: 1e6 + 10 * 5e5, ego2world: pose(100, 220, Math.PI / 2), canbus: canbus(100, 220) }); // one step skipped
    expect(h.egoHistory()).toHaveLength(1);
    h.reset();
    expect(h.egoHistory()).toEqual([]);
    expect(h.count).toBe(0);
  });

  it('estimates the steering-wheel angle from the yaw rate (bicycle model), 0 at standstill', () => {
    expect(estimateSteering(0.1, 0.2)).toBe(0);
    expect(estimateSteering(0.2, 5)).toBeCloseTo(16 * Math.atan((2.588 * 0.2) / 5), 12);
    expect(estimateSteering(-0.2, 5)).toBeLessThan(0);
  });
});

describe("Impromptu's NeuroNCAP node prompt (impromptu-ncap profile)", () => {
  // Driving along world +x at 5 m/s, 2.5 m per call, with distinct accelerations per call so the
  // pairing of positions and status lines is visible.
  const steps: NcapStep[] = Array.from({ length: 8 }, (_, k) => ({
    timestampUs: k * 5e5,
    ego2world: pose(2.5 * k, 0, 0),
    canbus: canbus(2.5 * k, 0, { vx: 3, vy: 4, ax: k + 0.125, ay: -0.004 }),
  }));
  const HEAD =
    'You are an autonomous driving agent. You have access to front view camera image <image>, front left view camera image <image>, ' +
    "front right view camera image <image>. Your task is to do your best to predict future waypoints for the vehicle over the next 3 timesteps, given the vehicle's intent inferred from the images.";
  const coords =
    'This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. The data is presented in the format [x, y]:.';

  it('prints the status line as format_ego_status does (velocity = hypot of canbus[13:15])', () => {
    // 0.125 → '0.12' (round half to even on the exact binary value), -0.004 → '-0.00'.
    expect(impromptuStatusLine(steps[0]!.canbus)).toBe('Acceleration: X 0.12, Y -0.00 m/s^2, Velocity: 5.00 m/s ');
  });

  it('first call: 0.0 seconds, one entry, trailing ", " and space stripped', () => {
    expect(impromptuNcapPrompt(steps.slice(0, 1), steps.slice(0, 1), 1)).toBe(
      `${HEAD}Provided are the previous ego vehicle status recorded over the last 0.0 seconds (at 0.5-second intervals). ${coords}` +
        '(t-0.0s) [0.0, 0.0], Acceleration: X 0.12, Y -0.00 m/s^2, Velocity: 5.00 m/s',
    );
  });

  it('eighth call: 3.5 s uncapped, 6 newest positions paired with the 6 oldest status lines', () => {
    const text = impromptuNcapPrompt(steps.slice(0, 6), steps.slice(2, 8), 8);
    const expected =
      `${HEAD}Provided are the previous ego vehicle status recorded over the last 3.5 seconds (at 0.5-second intervals). ${coords}` +
      '(t-2.5s) [-12.5, 0.0], Acceleration: X 0.12, Y -0.00 m/s^2, Velocity: 5.00 m/s , ' +
      '(t-2.0s) [-10.0, 0.0], Acceleration: X 1.12, Y -0.00 m/s^2, Velocity: 5.00 m/s , ' +
      '(t-1.5s) [-7.5, 0.0], Acceleration: X 2.12, Y -0.00 m/s^2, Velocity: 5.00 m/s , ' +
      '(t-1.0s) [-5.0, 0.0], Acceleration: X 3.12, Y -0.00 m/s^2, Velocity: 5.00 m/s , ' +
      '(t-0.5s) [-2.5, 0.0], Acceleration: X 4.12, Y -0.00 m/s^2, Velocity: 5.00 m/s , ' +
      '(t-0.0s) [0.0, 0.0], Acceleration: X 5.12, Y -0.00 m/s^2, Velocity: 5.00 m/s';
    expect(text).toBe(expected);
  });

  it('reads answers with its regex: first 6 pairs; nothing parsable is undefined (the node then brakes)', () => {
    const answer = '<PLANNING>… [x, y]: [1.5, 0.0], [3.0, -0.1], [4.5, -0.2], [6.0, -0.3], [7.5, -0.4], [9.0, -0.5], [10.5, -0.6]</PLANNING>';
    expect(impromptuExtractTrajectory(answer)).toEqual([
      [1.5, 0],
      [3, -0.1],
      [4.5, -0.2],
      [6, -0.3],
      [7.5, -0.4],
      [9, -0.5],
    ]);
    expect(impromptuExtractTrajectory('no numbers')).toBeUndefined();
    expect(impromptuExtractTrajectory('[1.2.3, 4]')).toBeUndefined();
  });
});

describe('live view projection', () => {
  it('projects ego-frame ground points through camera2ego and camera2image', () => {
    // A camera 1.5 m above the rear axle, 1 m forward, looking along ego +x (camera z = ego x,
    // camera x = ego -y, camera y = ego -z), focal 1000 px, principal point (800, 450).
    const camera2ego = [
      [0, 0, 1, 1],
      [-1, 0, 0, 0],
      [0, -1, 0, 1.5],
      [0, 0, 0, 1],
    ];
    const K = [
      [1000, 0, 800],
      [0, 1000, 450],
      [0, 0, 1],
    ];
    const [ahead, left, behind] = projectToImage(
      [
        [11, 0],
        [11, 2],
        [0, 0],
      ],
      K,
      camera2ego,
    );
    expect(ahead![0]).toBeCloseTo(800, 9);
    expect(ahead![1]).toBeCloseTo(450 + (1000 * 1.5) / 10, 9);
    expect(left![0]).toBeCloseTo(800 - (1000 * 2) / 10, 9);
    expect(behind).toBeNull();
  });
});
