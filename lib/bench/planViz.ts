/**
 * Pictures of a plan: the trajectory drawn on the front camera image (ego-frame ground points
 * projected through the camera's calibration, by default a nuScenes CAM_FRONT at 1600x900) beside a
 * bird's-eye view (x forward = up, y left = left, metres: the ego box, the past positions and the
 * planned waypoints). Waypoint labels are placed so that they never overlap (labels.ts). Written as
 * SVG, or rendered with sharp to PNG / JPEG / WebP, as the file's extension says.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Waypoint } from '../action/planningTypes.js';
import { TrtVlaError } from '../errors.js';
import type { PlanResult } from '../model/types.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';
import { intrinsicsForImage, NUSCENES_CAM_FRONT, projectToImage, type CameraCalibration } from './cameraProjection.js';
import { estimateTextWidth, labelSvg, placeLabels, type Box, type PlacedLabel } from './labels.js';

const WIDTH = 480;
const HEIGHT = 640;
/** The camera panel is scaled to HEIGHT, at most this wide. */
const MAX_CAMERA_WIDTH = 1200;
const LABEL_FONT = 11;
const PLAN_COLOR = '#3fb950';

/** The output formats --viz writes, by file extension. */
export const VIZ_FORMATS = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.svg': 'svg' } as const;
export type VizFormat = (typeof VIZ_FORMATS)[keyof typeof VIZ_FORMATS];

/** The format a file name asks for, or undefined for an extension we do not write. */
export function vizFormat(file: string): VizFormat | undefined {
  return VIZ_FORMATS[path.extname(file).toLowerCase() as keyof typeof VIZ_FORMATS];
}

function escape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

const markerBox = (x: number, y: number, r: number): Box => ({ x: x - r - 1, y: y - r - 1, width: 2 * r + 2, height: 2 * r + 2 });

/** The bird's-eye plot and where its waypoint labels went. */
export function bevLayout(waypoints: readonly Waypoint[], history: readonly EgoHistoryEntry[], title: string): { svg: string; labels: PlacedLabel[] } {
  const xs = [...waypoints.map((w) => w.x), ...history.map((h) => h.x), 0];
  const ys = [...waypoints.map((w) => w.y), ...history.map((h) => h.y), 0];
  const forward = Math.max(20, ...xs.map((x) => x + 5));
  const backward = Math.max(8, ...xs.map((x) => -x + 3));
  const lateral = Math.max(10, ...ys.map((y) => Math.abs(y) + 3));
  const scale = Math.min((HEIGHT - 60) / (forward + backward), (WIDTH - 40) / (2 * lateral));
  const originX = WIDTH / 2;
  const originY = 40 + forward * scale;
  const px = (x: number, y: number) => [originX - y * scale, originY - x * scale] as const;
  const parts: string[] = [];
  const obstacles: Box[] = [];
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#10141a"/>`);
  // About eight grid lines whatever the range: 1, 2 or 5 times a power of ten metres.
  const raw = (forward + backward) / 8;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((v) => v >= raw)!;
  for (let m = -Math.floor(backward / step) * step; m <= forward; m += step) {
    const [, y] = px(m, 0);
    parts.push(`<line x1="0" y1="${y}" x2="${WIDTH}" y2="${y}" stroke="#2a323d" stroke-width="1"/>`);
    parts.push(`<text x="6" y="${y - 3}" fill="#6b7785" font-size="11" font-family="sans-serif">${m} m</text>`);
    obstacles.push({ x: 6, y: y - 15, width: estimateTextWidth(`${m} m`, 11), height: 14 });
  }
  const [ox, oy] = px(0, 0);
  // Ego box 4.084 x 1.85 m, centre 0.5 m ahead of the origin (the evaluation's convention).
  parts.push(
    `<rect x="${ox - (1.85 / 2) * scale}" y="${oy - (0.5 + 4.084 / 2) * scale}" width="${1.85 * scale}" height="${4.084 * scale}" fill="none" stroke="#9aa5b1" stroke-width="2"/>`,
  );
  const polyline = (points: readonly { x: number; y: number }[], color: string) =>
    `<polyline points="${points.map((p) => px(p.x, p.y).join(',')).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`;
  if (history.length > 0) {
    parts.push(polyline(history, '#6b7785'));
    for (const h of history) {
      const [x, y] = px(h.x, h.y);
      parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="#6b7785"/>`);
    }
  }
  const titleWidth = estimateTextWidth(title, 14);
  obstacles.push({ x: WIDTH / 2 - titleWidth / 2, y: 6, width: titleWidth, height: 22 });
  let labels: PlacedLabel[] = [];
  if (waypoints.length > 0) {
    parts.push(polyline([{ x: 0, y: 0 }, ...waypoints], PLAN_COLOR));
    const anchors = waypoints.map((w) => px(w.x, w.y));
    for (const [x, y] of anchors) {
      parts.push(`<circle cx="${x}" cy="${y}" r="4" fill="${PLAN_COLOR}"/>`);
      obstacles.push(markerBox(x, y, 4));
    }
    labels = placeLabels(
      waypoints.map((w, i) => ({ x: anchors[i]![0], y: anchors[i]![1], text: `${w.t.toFixed(1)}s` })),
      { x: 0, y: 0, width: WIDTH, height: HEIGHT },
      LABEL_FONT,
      obstacles,
    );
    for (const l of labels) parts.push(labelSvg(l, LABEL_FONT, '#c9d1d9'));
  }
  parts.push(`<text x="${WIDTH / 2}" y="22" fill="#c9d1d9" font-size="14" font-family="sans-serif" text-anchor="middle">${escape(title)}</text>`);
  return { svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">${parts.join('')}</svg>`, labels };
}

/** The bird's-eye plot as an SVG document. */
export function planSvg(waypoints: readonly Waypoint[], history: readonly EgoHistoryEntry[], title: string): string {
  return bevLayout(waypoints, history, title).svg;
}

/**
 * The trajectory over a camera image of `width` x `height` (the panel's pixels; the calibration's
 * K is scaled to it): the path from the ego origin through every waypoint, sampled every 0.25 m so
 * that it enters the picture where the ground becomes visible, markers and labels at the waypoints
 * that are in view. Transparent background: it goes over the image.
 */
export function cameraOverlay(
  waypoints: readonly Waypoint[],
  calibration: CameraCalibration,
  width: number,
  height: number,
): { svg: string; labels: PlacedLabel[]; visible: number } {
  const k = intrinsicsForImage(calibration, width, height);
  const path: [number, number][] = [];
  let previous: [number, number] = [0, 0];
  for (const w of waypoints) {
    const steps = Math.max(1, Math.ceil(Math.hypot(w.x - previous[0], w.y - previous[1]) / 0.25));
    for (let s = 1; s <= steps; s++) path.push([previous[0] + ((w.x - previous[0]) * s) / steps, previous[1] + ((w.y - previous[1]) * s) / steps]);
    previous = [w.x, w.y];
  }
  // Runs of points in front of the camera; a point behind it breaks the line.
  const runs: [number, number][][] = [[]];
  for (const p of projectToImage(path, k, calibration.camera2ego)) {
    if (p) runs[runs.length - 1]!.push(p);
    else if (runs[runs.length - 1]!.length > 0) runs.push([]);
  }
  const stroke = Math.max(2, width / 300);
  const parts: string[] = [];
  for (const run of runs.filter((r) => r.length > 1)) {
    const points = run.map(([u, v]) => `${u.toFixed(1)},${v.toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="#0d1117" stroke-opacity="0.6" stroke-width="${stroke * 2.2}" stroke-linejoin="round"/>`);
    parts.push(`<polyline points="${points}" fill="none" stroke="${PLAN_COLOR}" stroke-width="${stroke}" stroke-linejoin="round"/>`);
  }
  const caption = `${calibration.source}`;
  const captionBox: Box = { x: 8, y: 8, width: estimateTextWidth(caption, 12) + 8, height: 20 };
  const obstacles: Box[] = [captionBox];
  const anchors: { x: number; y: number; text: string }[] = [];
  const projected = projectToImage(waypoints.map((w) => [w.x, w.y] as const), k, calibration.camera2ego);
  const r = Math.max(4, width / 200);
  projected.forEach((p, i) => {
    if (!p || p[0] < 0 || p[1] < 0 || p[0] > width || p[1] > height) return;
    parts.push(`<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="${r.toFixed(1)}" fill="${PLAN_COLOR}" stroke="#0d1117" stroke-width="1.5"/>`);
    obstacles.push(markerBox(p[0], p[1], r));
    anchors.push({ x: p[0], y: p[1], text: `${waypoints[i]!.t.toFixed(1)}s` });
  });
  // Nearer waypoints first: they are spread out, the far ones bunch up at the horizon.
  const labels = placeLabels(anchors, { x: 0, y: 0, width, height }, LABEL_FONT + 1, obstacles);
  for (const l of labels) {
    parts.push(`<rect x="${l.box.x}" y="${l.box.y}" width="${l.box.width}" height="${l.box.height}" rx="3" fill="#0d1117" fill-opacity="0.7"/>`);
    parts.push(labelSvg(l, LABEL_FONT + 1, '#e6edf3'));
  }
  const note = anchors.length === 0 ? ' (no waypoint in view)' : '';
  parts.push(`<rect x="${captionBox.x}" y="${captionBox.y}" width="${captionBox.width + (note ? estimateTextWidth(note, 12) : 0)}" height="${captionBox.height}" rx="3" fill="#0d1117" fill-opacity="0.7"/>`);
  parts.push(`<text x="12" y="22" fill="#c9d1d9" font-size="12" font-family="sans-serif">${escape(caption + note)}</text>`);
  return { svg: parts.join(''), labels, visible: anchors.length };
}

export interface DrawPlanOptions {
  /** The front camera image (JPEG/PNG file or encoded buffer); without it only the bird's-eye view is drawn. */
  cameraImage?: string | Buffer;
  /** How to project onto it (default NUSCENES_CAM_FRONT). */
  calibration?: CameraCalibration;
}

/**
 * Writes the picture to `file` in the format its extension names (VIZ_FORMATS): the camera image
 * with the trajectory on it, when given, and the bird's-eye view beside it.
 */
export async function drawPlan(file: string, plan: PlanResult, history: readonly EgoHistoryEntry[], options: DrawPlanOptions = {}): Promise<void> {
  const format = vizFormat(file);
  if (!format) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${file}: cannot tell the picture format from the extension (use ${Object.keys(VIZ_FORMATS).join(', ')})`);
  const { default: sharp } = await import('sharp');
  const title = `planned trajectory (${plan.waypoints.length} waypoints${plan.complete ? '' : ', incomplete'})`;
  const bev = bevLayout(plan.waypoints, history, title).svg;
  let svg = bev;
  if (options.cameraImage) {
    const camera = await sharp(options.cameraImage)
      .rotate() // EXIF orientation, as the planner saw it
      .resize({ height: HEIGHT, width: MAX_CAMERA_WIDTH, fit: 'inside' })
      .jpeg({ quality: 90 })
      .toBuffer({ resolveWithObject: true });
    const { width: cw, height: ch } = camera.info;
    const top = Math.floor((HEIGHT - ch) / 2);
    const overlay = cameraOverlay(plan.waypoints, options.calibration ?? NUSCENES_CAM_FRONT, cw, ch);
    svg =
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${cw + WIDTH}" height="${HEIGHT}">` +
      `<rect width="${cw + WIDTH}" height="${HEIGHT}" fill="#10141a"/>` +
      `<svg x="0" y="${top}" width="${cw}" height="${ch}" viewBox="0 0 ${cw} ${ch}">` +
      `<image width="${cw}" height="${ch}" xlink:href="data:image/jpeg;base64,${camera.data.toString('base64')}"/>` +
      `${overlay.svg}</svg>` +
      `<svg x="${cw}" y="0" width="${WIDTH}" height="${HEIGHT}">${bev.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '')}</svg></svg>`;
  }
  if (format === 'svg') {
    await writeFile(file, svg);
    return;
  }
  await sharp(Buffer.from(svg), { limitInputPixels: false }).toFormat(format).toFile(file);
}
