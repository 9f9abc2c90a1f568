/**
 * Ego-frame ground points onto a camera image, with the calibration names NeuroNCAP and nuScenes use:
 * `camera2image` (the 3x3 intrinsic matrix K) and `camera2ego` (the 4x4 camera-to-ego transform).
 * Shared by `trt-vla plan --viz` and the live view of `trt-vla serve`.
 */
import { readFile } from 'node:fs/promises';

import { TrtVlaError } from '../errors.js';

export type Matrix = readonly (readonly number[])[];

export interface CameraCalibration {
  /** 3x3 intrinsic matrix K (pixels). */
  camera2image: Matrix;
  /** 4x4 camera-to-ego transform [R | t] (metres; ego: x forward, y left, z up, origin on the ground). */
  camera2ego: Matrix;
  /** The image size K was calibrated for, [width, height]; an image of another size scales K to fit. Absent: K is for the image as given. */
  imageSize?: readonly [number, number];
  /** Where the calibration came from (shown on the picture). */
  source: string;
}

/** Rotation matrix of a unit quaternion given as nuScenes stores it: [w, x, y, z]. */
export function quaternionToMatrix([w, x, y, z]: readonly number[]): number[][] {
  return [
    [1 - 2 * (y! * y! + z! * z!), 2 * (x! * y! - z! * w!), 2 * (x! * z! + y! * w!)],
    [2 * (x! * y! + z! * w!), 1 - 2 * (x! * x! + z! * z!), 2 * (y! * z! - x! * w!)],
    [2 * (x! * z! - y! * w!), 2 * (y! * z! + x! * w!), 1 - 2 * (x! * x! + y! * y!)],
  ];
}

function transform(rotation: number[][], translation: readonly number[]): number[][] {
  return [...rotation.map((row, i) => [...row, translation[i]!]), [0, 0, 0, 1]];
}

/**
 * The default front camera: a typical nuScenes CAM_FRONT calibration, 1600x900. These are the
 * `calibrated_sensor` values of CAM_FRONT in the nuScenes v1.0 logs n015-2018-07-24-11-22-45+0800
 * (v1.0-mini scene-0061, the devkit tutorial's first scene), the matrix most often quoted for
 * nuScenes CAM_FRONT: camera_intrinsic fx = fy = 1266.417, cx = 816.267, cy = 491.507;
 * rotation (w, x, y, z) = (0.49980, -0.50303, 0.49978, -0.49737); translation (1.701, 0.016, 1.511) m.
 * Other nuScenes cars differ by a few pixels and centimetres; pass --calibration for exact numbers.
 */
export const NUSCENES_CAM_FRONT: CameraCalibration = {
  camera2image: [
    [1266.417203046554, 0, 816.2670197447984],
    [0, 1266.417203046554, 491.50706579294757],
    [0, 0, 1],
  ],
  camera2ego: transform(
    quaternionToMatrix([0.4998015430569128, -0.5030316162024876, 0.4997798114386805, -0.49737083824542755]),
    [1.70079118954, 0.0159456324149, 1.51095763913],
  ),
  imageSize: [1600, 900],
  source: 'default nuScenes CAM_FRONT calibration (1600x900)',
};

/**
 * Ground points of the ego frame (x forward, y left, z = 0: nuScenes' ego frame sits on the ground
 * under the rear axle) in pixels of a camera: p_cam = R_cᵀ (p − t_c) with camera2ego = [R_c | t_c],
 * then K · p_cam / z. Points behind or at the camera plane (z ≤ 0.1 m) are null.
 */
export function projectToImage(points: readonly (readonly [number, number])[], camera2image: Matrix, camera2ego: Matrix): ([number, number] | null)[] {
  return points.map(([x, y]) => {
    const d = [x - camera2ego[0]![3]!, y - camera2ego[1]![3]!, 0 - camera2ego[2]![3]!];
    const c = [0, 1, 2].map((j) => camera2ego[0]![j]! * d[0]! + camera2ego[1]![j]! * d[1]! + camera2ego[2]![j]! * d[2]!);
    if (c[2]! <= 0.1) return null;
    const k = camera2image;
    const u = (k[0]![0]! * c[0]! + k[0]![1]! * c[1]! + k[0]![2]! * c[2]!) / c[2]!;
    const v = (k[1]![0]! * c[0]! + k[1]![1]! * c[1]! + k[1]![2]! * c[2]!) / c[2]!;
    return [u, v];
  });
}

/** K for an image of `width` x `height` when it was calibrated for `calibration.imageSize` (a resized frame). */
export function intrinsicsForImage(calibration: CameraCalibration, width: number, height: number): number[][] {
  const [sx, sy] = calibration.imageSize ? [width / calibration.imageSize[0], height / calibration.imageSize[1]] : [1, 1];
  const k = calibration.camera2image;
  return [k[0]!.map((v) => v * sx), k[1]!.map((v) => v * sy), [...k[2]!]];
}

export const isMatrix = (m: unknown, rows: number, cols: number): m is number[][] =>
  Array.isArray(m) && m.length === rows && m.every((r) => Array.isArray(r) && r.length === cols && r.every((v) => typeof v === 'number' && Number.isFinite(v)));

const CALIBRATION_FORMATS = `either { "camera2image": 3x3, "camera2ego": 4x4, "imageSize"?: [w, h] } (a camera name -> matrix object, as in NeuroNCAP's /infer "calibration", takes CAM_FRONT), or a nuScenes calibrated_sensor record { "camera_intrinsic": 3x3, "rotation": [w, x, y, z], "translation": [x, y, z] }`;

/** Reads a calibration JSON file (the formats are in CALIBRATION_FORMATS); every problem is an ERR_INVALID_ARGUMENT naming the file. */
export async function loadCalibration(file: string): Promise<CameraCalibration> {
  const bad = (why: string) => new TrtVlaError('ERR_INVALID_ARGUMENT', `calibration ${file}: ${why}; expected ${CALIBRATION_FORMATS}`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw bad(`not readable JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object');
  const o = json as Record<string, unknown>;
  const front = (m: unknown) => (m && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>).CAM_FRONT : m);
  let camera2image: unknown;
  let camera2ego: unknown;
  if ('camera_intrinsic' in o) {
    const rotation = o.rotation;
    const translation = o.translation;
    const isVector = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (!isVector(rotation, 4) || Math.abs(Math.hypot(...rotation) - 1) > 1e-3) throw bad('"rotation" is not a unit quaternion [w, x, y, z]');
    if (!isVector(translation, 3)) throw bad('"translation" is not [x, y, z]');
    camera2image = o.camera_intrinsic;
    camera2ego = transform(quaternionToMatrix(rotation), translation);
  } else {
    camera2image = front(o.camera2image);
    camera2ego = front(o.camera2ego);
  }
  if (!isMatrix(camera2image, 3, 3)) throw bad('camera2image (camera_intrinsic) is not a 3x3 matrix of finite numbers');
  if (!isMatrix(camera2ego, 4, 4)) throw bad('camera2ego is not a 4x4 matrix of finite numbers');
  if (!(camera2image[0]![0]! > 0 && camera2image[1]![1]! > 0 && camera2image[2]![2] === 1)) throw bad('camera2image needs positive focal lengths and a last row [0, 0, 1]');
  let imageSize: [number, number] | undefined;
  if (o.imageSize !== undefined) {
    const s = o.imageSize;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((v) => Number.isInteger(v) && v > 0)) throw bad('"imageSize" is not [width, height] in pixels');
    imageSize = [s[0], s[1]];
  }
  return { camera2image, camera2ego, imageSize, source: `calibration ${file}` };
}
