/**
 * A bird's-eye view of a plan (x forward = up, y left = left, metres): the ego box at the origin, the
 * past positions and the planned waypoints, drawn as SVG and rendered to PNG with sharp, with the
 * camera image beside it when given.
 */
import type { Waypoint } from '../action/planningTypes.js';
import type { PlanResult } from '../model/types.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';

const WIDTH = 480;
const HEIGHT = 640;

function escape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** The plot as an SVG document. */
export function planSvg(waypoints: readonly Waypoint[], history: readonly EgoHistoryEntry[], title: string): string {
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
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#10141a"/>`);
  // About eight grid lines whatever the range: 1, 2 or 5 times a power of ten metres.
  const raw = (forward + backward) / 8;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((v) => v >= raw)!;
  for (let m = -Math.floor(backward / step) * step; m <= forward; m += step) {
    const [, y] = px(m, 0);
    parts.push(`<line x1="0" y1="${y}" x2="${WIDTH}" y2="${y}" stroke="#2a323d" stroke-width="1"/>`);
    parts.push(`<text x="6" y="${y - 3}" fill="#6b7785" font-size="11" font-family="sans-serif">${m} m</text>`);
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
  if (waypoints.length > 0) {
    parts.push(polyline([{ x: 0, y: 0 }, ...waypoints], '#3fb950'));
    for (const w of waypoints) {
      const [x, y] = px(w.x, w.y);
      parts.push(`<circle cx="${x}" cy="${y}" r="4" fill="#3fb950"/>`);
      parts.push(`<text x="${x + 7}" y="${y + 4}" fill="#c9d1d9" font-size="11" font-family="sans-serif">${w.t.toFixed(1)}s</text>`);
    }
  }
  parts.push(`<text x="${WIDTH / 2}" y="22" fill="#c9d1d9" font-size="14" font-family="sans-serif" text-anchor="middle">${escape(title)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">${parts.join('')}</svg>`;
}

/** Writes the bird's-eye view (and the camera image beside it, when given) to a PNG file. */
export async function drawPlan(file: string, plan: PlanResult, history: readonly EgoHistoryEntry[], cameraImage?: string): Promise<void> {
  const { default: sharp } = await import('sharp');
  const title = `planned trajectory (${plan.waypoints.length} waypoints${plan.complete ? '' : ', incomplete'})`;
  const bev = await sharp(Buffer.from(planSvg(plan.waypoints, history, title))).png().toBuffer();
  if (!cameraImage) {
    await sharp(bev).toFile(file);
    return;
  }
  const camera = await sharp(cameraImage).resize({ height: HEIGHT, width: 1200, fit: 'inside' }).png().toBuffer({ resolveWithObject: true });
  await sharp({ create: { width: camera.info.width + WIDTH, height: HEIGHT, channels: 3, background: '#10141a' } })
    .composite([
      { input: camera.data, left: 0, top: Math.floor((HEIGHT - camera.info.height) / 2) },
      { input: bev, left: camera.info.width, top: 0 },
    ])
    .png()
    .toFile(file);
}
