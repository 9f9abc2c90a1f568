// Pictures of a plan and the bench report's numbers: camera projection checked by hand, labels that
// never overlap, the output format each --viz extension names, and units at every scale.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { intrinsicsForImage, loadCalibration, NUSCENES_CAM_FRONT, projectToImage, type CameraCalibration } from '../../lib/bench/cameraProjection.js';
import { boxesOverlap, placeLabels, type Box } from '../../lib/bench/labels.js';
import { bevLayout, cameraOverlay, drawPlan } from '../../lib/bench/planViz.js';
import { formatBytes, formatDuration, formatRate, formatThroughput } from '../../lib/bench/units.js';
import { isTrtVlaError } from '../../lib/errors.js';
import type { PlanResult } from '../../lib/model/types.js';

// A level camera 1.5 m above the ground, 1.5 m ahead of the ego origin, looking forward:
// camera x (right) = ego -y, camera y (down) = ego -z, camera z (optical axis) = ego x.
const LEVEL: CameraCalibration = {
  camera2image: [
    [1000, 0, 800],
    [0, 1000, 450],
    [0, 0, 1],
  ],
  camera2ego: [
    [0, 0, 1, 1.5],
    [-1, 0, 0, 0],
    [0, -1, 0, 1.5],
    [0, 0, 0, 1],
  ],
  source: 'test',
};

function expectDisjoint(boxes: readonly Box[]): void {
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) expect(boxesOverlap(boxes[i]!, boxes[j]!), `labels ${i} and ${j} overlap`).toBe(false);
}

describe('camera projection', () => {
  it('puts a ground point straight ahead on the principal column, below the principal row by f*h/depth', () => {
    // x = 11.5 m: 10 m ahead of the camera, 1.5 m below it: v = 450 + 1000 * 1.5 / 10 = 600.
    const [ahead, left, behind] = projectToImage([[11.5, 0], [11.5, 1], [1, 0]], LEVEL.camera2image, LEVEL.camera2ego);
    expect(ahead![0]).toBeCloseTo(800, 9);
    expect(ahead![1]).toBeCloseTo(600, 9);
    // 1 m to the left at 10 m depth: 100 px left of the principal column.
    expect(left![0]).toBeCloseTo(700, 9);
    expect(left![1]).toBeCloseTo(600, 9);
    expect(behind).toBeNull();
  });

  it('the default nuScenes CAM_FRONT looks forward from about 1.5 m up; K scales with the image', () => {
    const [far, near] = projectToImage([[1000, 0], [11.7, 0]], NUSCENES_CAM_FRONT.camera2image, NUSCENES_CAM_FRONT.camera2ego);
    // Far ahead on the ground: close to the principal point (the horizon), within the rig's small tilt.
    expect(Math.abs(far![0] - 816.27)).toBeLessThan(15);
    expect(Math.abs(far![1] - 491.51)).toBeLessThan(15);
    // 10 m ahead of the camera, 1.51 m below it: about 1266 * 1.51 / 10 = 191 px below the principal row.
    expect(near![1] - 491.51).toBeGreaterThan(170);
    expect(near![1] - 491.51).toBeLessThan(215);
    const half = intrinsicsForImage(NUSCENES_CAM_FRONT, 800, 450);
    expect(half[0]![0]).toBeCloseTo(1266.417203046554 / 2, 9);
    expect(half[1]![2]).toBeCloseTo(491.50706579294757 / 2, 9);
    expect(half[2]).toEqual([0, 0, 1]);
  });

  it('reads the three calibration file shapes and names what is wrong with a bad one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-calib-'));
    const write = (name: string, json: unknown) => {
      const file = path.join(dir, name);
      writeFileSync(file, JSON.stringify(json));
      return file;
    };
    const plain = await loadCalibration(write('plain.json', { camera2image: LEVEL.camera2image, camera2ego: LEVEL.camera2ego, imageSize: [1600, 900] }));
    expect(plain.imageSize).toEqual([1600, 900]);
    const ncap = await loadCalibration(write('ncap.json', { camera2image: { CAM_FRONT: LEVEL.camera2image }, camera2ego: { CAM_FRONT: LEVEL.camera2ego } }));
    expect(ncap.camera2ego).toEqual(LEVEL.camera2ego);
    const record = await loadCalibration(
      write('record.json', {
        camera_intrinsic: NUSCENES_CAM_FRONT.camera2image,
        rotation: [0.4998015430569128, -0.5030316162024876, 0.4997798114386805, -0.49737083824542755],
        translation: [1.70079118954, 0.0159456324149, 1.51095763913],
      }),
    );
    record.camera2ego.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(NUSCENES_CAM_FRONT.camera2ego[i]![j]!, 12)));
    for (const [name, json, why] of [
      ['k.json', { camera2image: [[1, 0], [0, 1]], camera2ego: LEVEL.camera2ego }, /camera2image .* not a 3x3/],
      ['t.json', { camera2image: LEVEL.camera2image, camera2ego: [[1, 0, 0, 0]] }, /camera2ego is not a 4x4/],
      ['q.json', { camera_intrinsic: LEVEL.camera2image, rotation: [2, 0, 0, 0], translation: [0, 0, 0] }, /not a unit quaternion/],
      ['s.json', { ...LEVEL, imageSize: [0, 900] }, /imageSize/],
    ] as const) {
      const error = await loadCalibration(write(name, json)).catch((e: unknown) => e);
      expect(isTrtVlaError(error, 'ERR_INVALID_ARGUMENT'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(why);
      expect((error as Error).message).toContain(name);
    }
  });
});

describe('labels never overlap', () => {
  it('ten labels on one point all find separate places inside the bounds, clear of obstacles', () => {
    const obstacle = { x: 95, y: 95, width: 10, height: 10 };
    const placed = placeLabels(
      Array.from({ length: 10 }, (_, i) => ({ x: 100, y: 100, text: `${(i + 1) * 0.5}s` })),
      { x: 0, y: 0, width: 300, height: 200 },
      11,
      [obstacle],
    );
    expect(placed).toHaveLength(10);
    expectDisjoint([obstacle, ...placed.map((p) => p.box)]);
    for (const p of placed) {
      expect(p.box.x).toBeGreaterThanOrEqual(0);
      expect(p.box.y + p.box.height).toBeLessThanOrEqual(200);
    }
  });

  it('a label with no free place is left out, never drawn over another', () => {
    const placed = placeLabels(
      Array.from({ length: 40 }, () => ({ x: 30, y: 20, text: '0.5s' })),
      { x: 0, y: 0, width: 80, height: 50 },
      11,
    );
    expect(placed.length).toBeGreaterThan(0);
    expect(placed.length).toBeLessThan(40);
    expectDisjoint(placed.map((p) => p.box));
  });

  it('bird\'s-eye view of a stopped car and camera view of bunched far waypoints: disjoint label boxes', () => {
    const stopped = Array.from({ length: 10 }, (_, i) => ({ t: (i + 1) * 0.5, x: 0.05 * i, y: 0 }));
    const bev = bevLayout(stopped, [], 'stopped');
    expect(bev.labels.length).toBeGreaterThanOrEqual(8);
    expectDisjoint(bev.labels.map((l) => l.box));
    const far = Array.from({ length: 10 }, (_, i) => ({ t: (i + 1) * 0.5, x: 40 + i * 2, y: 0.3 * i }));
    const camera = cameraOverlay(far, NUSCENES_CAM_FRONT, 800, 450);
    expect(camera.visible).toBe(10);
    expect(camera.labels.length).toBeGreaterThan(3);
    expectDisjoint(camera.labels.map((l) => l.box));
    for (const l of camera.labels) {
      expect(l.box.x).toBeGreaterThanOrEqual(0);
      expect(l.box.x + l.box.width).toBeLessThanOrEqual(800);
    }
  });
});

describe('plan pictures by extension', () => {
  let dir: string;
  let camera: string;
  const plan = {
    waypoints: Array.from({ length: 6 }, (_, i) => ({ t: (i + 1) * 0.5, x: (i + 1) * 3, y: (i + 1) ** 2 * 0.1 })),
    complete: true,
  } as unknown as PlanResult;
  const history = [
    { t: -0.5, x: -3, y: 0 },
    { t: 0, x: 0, y: 0 },
  ];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-viz-'));
    camera = path.join(dir, 'front.jpg');
    // Grey road below the horizon row of the default calibration, so the picture has content.
    await sharp({ create: { width: 1600, height: 900, channels: 3, background: { r: 90, g: 90, b: 95 } } }).jpeg().toFile(camera);
  });

  it.each([
    ['plan.png', 'png'],
    ['plan.jpg', 'jpeg'],
    ['plan.webp', 'webp'],
    ['plan.svg', 'svg'],
  ])('%s is a %s of the camera panel (1600x900 scaled to 640 high) plus the 480-wide plot', async (name, format) => {
    const file = path.join(dir, name);
    await drawPlan(file, plan, history, { cameraImage: camera });
    const meta = await sharp(file).metadata();
    expect(meta.format).toBe(format);
    expect(meta.width).toBe(Math.round((1600 * 640) / 900) + 480);
    expect(meta.height).toBe(640);
    if (format === 'svg') {
      const svg = readFileSync(file, 'utf8');
      expect(svg).toContain('data:image/jpeg;base64,'); // self-contained
      // The plot has all six; the camera shows those beyond its blind spot (x = 3 m is under the bonnet).
      const inView = cameraOverlay(plan.waypoints, NUSCENES_CAM_FRONT, 1138, 640).visible;
      expect(inView).toBeGreaterThanOrEqual(4);
      expect(inView).toBeLessThan(6);
      expect((svg.match(/<circle [^>]*fill="#3fb950"/g) ?? []).length).toBe(6 + inView);
    }
  });

  it('draws the trajectory in the camera panel where the calibration puts it', async () => {
    const file = path.join(dir, 'check.png');
    await drawPlan(file, plan, history, { cameraImage: camera });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const scale = 640 / 900;
    const [p] = projectToImage([[plan.waypoints[3]!.x, plan.waypoints[3]!.y]], intrinsicsForImage(NUSCENES_CAM_FRONT, 1600 * scale, 640), NUSCENES_CAM_FRONT.camera2ego);
    const o = (Math.round(p![1]) * info.width + Math.round(p![0])) * info.channels;
    // The marker's green (#3fb950) at the projected pixel, where the plain image is grey.
    expect(data[o + 1]! - data[o]!).toBeGreaterThan(80);
  });

  it('an extension that names no picture format is an ERR_INVALID_ARGUMENT', async () => {
    const error = await drawPlan(path.join(dir, 'plan.gif'), plan, history).catch((e: unknown) => e);
    expect(isTrtVlaError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });
});

describe('units at every scale', () => {
  it('a 331 s plan is 0.0030 plans/s, not 0.00', () => {
    expect(formatThroughput(1 / 331)).toBe('0.0030 plans/s (331 s per plan)');
    expect(formatThroughput(25)).toBe('25.0 plans/s');
    expect(formatThroughput(0.5)).toBe('0.50 plans/s (2.00 s per plan)');
    expect(formatRate(0.0123, 'tokens')).toBe('0.012 tokens/s');
    expect(formatRate(1234.5, 'tokens')).toBe('1235 tokens/s');
  });

  it('durations switch between µs, ms, s, min and h', () => {
    expect(formatDuration(0.25)).toBe('250 µs');
    expect(formatDuration(12.34)).toBe('12.3 ms');
    expect(formatDuration(999.7)).toBe('1.00 s');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatDuration(331_000)).toBe('331 s');
    expect(formatDuration(1_200_000)).toBe('20.0 min');
    expect(formatDuration(9 * 3_600_000)).toBe('540 min');
    expect(formatDuration(12 * 3_600_000)).toBe('12.0 h');
  });

  it('bytes switch between MiB and GiB', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(500 * 2 ** 20)).toBe('500 MiB');
    expect(formatBytes(3.2 * 2 ** 30)).toBe('3.20 GiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
  });
});
