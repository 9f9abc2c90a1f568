/**
 * The live view at `/`: the latest front frame with the planned trajectory drawn on it (projected
 * through the request's CAM_FRONT calibration, else a bird's-eye inset), a bird's-eye plot of history
 * and plan, per-stage timings, plans per second and the last error, pushed to the page with
 * server-sent events as plans complete. The page is one self-contained HTML document (no CDN).
 */
import type { ServerResponse } from 'node:http';

import { isMatrix, projectToImage } from '../bench/cameraProjection.js';
import { planSvg } from '../bench/planViz.js';
import type { RgbImage } from './images.js';
import type { InferRecord } from './ncapPlanner.js';

export { projectToImage };

/** Window over which plans per second are counted. */
const RATE_WINDOW_MS = 10_000;

/** What the page shows of one plan. */
export interface LiveEvent {
  seq: number;
  timestampUs: number;
  profile: string;
  trajectory: [number, number][];
  failed: boolean;
  /** Pixel positions of the trajectory on the front frame, when the calibration was given. */
  projected: ([number, number] | null)[] | null;
  frame: { width: number; height: number } | null;
  bevSvg: string;
  timings: Record<string, number>;
  plans: number;
  failures: number;
  plansPerSecond: number;
  lastError: string | null;
}

export class LiveView {
  readonly #clients = new Set<ServerResponse>();
  readonly #completions: number[] = [];
  #seq = 0;
  #plans = 0;
  #failures = 0;
  #lastError: string | null = null;
  #last: LiveEvent | undefined;
  #frame: RgbImage | undefined;
  #jpeg: { seq: number; data: Buffer } | undefined;

  /** Records a finished /infer and pushes it to every open page. */
  publish(record: InferRecord): void {
    const now = Date.now();
    this.#completions.push(now);
    while (this.#completions.length > 0 && this.#completions[0]! < now - RATE_WINDOW_MS) this.#completions.shift();
    this.#seq++;
    this.#plans++;
    if (record.failed) {
      this.#failures++;
      this.#lastError = record.error ?? 'unknown error';
    }
    if (record.front) this.#frame = record.front;
    const calibrated = record.front && isMatrix(record.camera2image, 3, 3) && isMatrix(record.camera2ego, 4, 4);
    const t = record.timings;
    const timings: Record<string, number> = { imageDecodeMs: record.imageDecodeMs };
    if (t) Object.assign(timings, { preprocessMs: t.preprocessMs, visionMs: t.visionMs, embedMs: t.embedMs, prefillMs: t.prefillMs, decodeMs: t.decodeMs, endToEndMs: t.endToEndMs });
    const waypoints = record.trajectory.map(([x, y], i) => ({ t: (i + 1) * 0.5, x, y }));
    this.#last = {
      seq: this.#seq,
      timestampUs: record.timestampUs,
      profile: record.profile,
      trajectory: record.trajectory,
      failed: record.failed,
      projected: calibrated ? projectToImage(record.trajectory, record.camera2image!, record.camera2ego!) : null,
      frame: this.#frame ? { width: this.#frame.width, height: this.#frame.height } : null,
      bevSvg: planSvg(waypoints, record.history, record.failed ? 'planning failed: brake (six zeros)' : `plan ${this.#seq}`),
      timings,
      plans: this.#plans,
      failures: this.#failures,
      plansPerSecond: this.#completions.length / (RATE_WINDOW_MS / 1000),
      lastError: this.#lastError,
    };
    const message = `event: plan\ndata: ${JSON.stringify(this.#last)}\n\n`;
    for (const client of this.#clients) client.write(message);
  }

  /** Takes over a response as an event stream; the latest plan is sent at once. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': trt-vla live view\n\n');
    if (this.#last) res.write(`event: plan\ndata: ${JSON.stringify(this.#last)}\n\n`);
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
  }

  get subscribers(): number {
    return this.#clients.size;
  }

  /** Ends every event stream (graceful shutdown). */
  closeAll(): void {
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }

  /** The latest front frame as JPEG, encoded once per plan. */
  async frameJpeg(): Promise<Buffer | undefined> {
    const frame = this.#frame;
    if (!frame) return undefined;
    const seq = this.#seq;
    if (this.#jpeg?.seq === seq) return this.#jpeg.data;
    const { default: sharp } = await import('sharp');
    const data = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
    this.#jpeg = { seq, data };
    return data;
  }
}

/** The page. The token (when the server has one) travels as a query parameter, since EventSource sends no headers. */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trt-vla planner</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{margin:0;background:#0d1117;color:#c9d1d9;font:14px system-ui,sans-serif}
header{padding:10px 16px;border-bottom:1px solid #30363d;display:flex;gap:24px;align-items:baseline}
header h1{font-size:16px;margin:0}
main{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:16px;padding:16px}
.camera{position:relative;background:#010409;min-height:200px}
.camera img{width:100%;display:block}
.camera svg.overlay{position:absolute;left:0;top:0;width:100%;height:100%}
.camera .inset{position:absolute;right:8px;bottom:8px;width:28%;opacity:.92}
.camera .inset svg,#bev svg{width:100%;height:auto}
table{border-collapse:collapse;margin-top:8px}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #21262d}
.error{color:#f85149;white-space:pre-wrap}.muted{color:#8b949e}
</style></head><body>
<header><h1>trt-vla planner</h1>
<span>plans <b id="plans">0</b></span><span>failures <b id="failures">0</b></span>
<span>plans/s <b id="rate">0.0</b></span><span class="muted" id="status">connecting…</span></header>
<main>
<section><div class="camera" id="camera"><img id="frame" alt="latest front camera frame">
<svg class="overlay" id="overlay" preserveAspectRatio="none"></svg><div class="inset" id="inset"></div></div>
<h3>trajectory (x forward, y left, m)</h3><table id="trajectory"><tr><th>t</th><th>x</th><th>y</th></tr></table>
</section>
<section><div id="bev"></div>
<h3>stage timings (ms)</h3><table id="timings"></table>
<h3>last error</h3><div class="error" id="error">none</div></section>
</main>
<script>
const token = new URLSearchParams(location.search).get('token');
const q = (extra) => { const p = new URLSearchParams(extra); if (token) p.set('token', token); const s = p.toString(); return s ? '?' + s : ''; };
const $ = (id) => document.getElementById(id);
function show(ev) {
  $('plans').textContent = ev.plans;
  $('failures').textContent = ev.failures;
  $('rate').textContent = ev.plansPerSecond.toFixed(1);
  $('error').textContent = ev.lastError || 'none';
  $('bev').innerHTML = ev.bevSvg;
  $('trajectory').innerHTML = '<tr><th>t</th><th>x</th><th>y</th></tr>' +
    ev.trajectory.map((p, i) => '<tr><td>' + ((i + 1) * 0.5).toFixed(1) + ' s</td><td>' + p[0].toFixed(2) + '</td><td>' + p[1].toFixed(2) + '</td></tr>').join('');
  $('timings').innerHTML = Object.entries(ev.timings).map(([k, v]) => '<tr><td>' + k.replace(/Ms$/, '') + '</td><td>' + v.toFixed(1) + '</td></tr>').join('');
  const overlay = $('overlay');
  if (ev.frame) {
    $('frame').src = '/frame.jpg' + q({ seq: ev.seq });
    overlay.setAttribute('viewBox', '0 0 ' + ev.frame.width + ' ' + ev.frame.height);
  }
  if (ev.projected && ev.frame) {
    const pts = ev.projected.filter(Boolean);
    overlay.innerHTML = '<polyline fill="none" stroke="#3fb950" stroke-width="' + (ev.frame.width / 300) + '" points="' + pts.map((p) => p.join(',')).join(' ') + '"/>' +
      pts.map((p) => '<circle cx="' + p[0] + '" cy="' + p[1] + '" r="' + (ev.frame.width / 150) + '" fill="#3fb950"/>').join('');
    $('inset').innerHTML = '';
  } else {
    overlay.innerHTML = '';
    $('inset').innerHTML = ev.bevSvg;
  }
  $('status').textContent = 'plan ' + ev.seq + (ev.failed ? ' (failed: brake)' : '') + ', profile ' + ev.profile;
  document.body.dataset.seq = ev.seq;
}
const source = new EventSource('/events' + q({}));
source.addEventListener('plan', (e) => show(JSON.parse(e.data)));
source.onopen = () => { if ($('status').textContent === 'connecting…') $('status').textContent = 'waiting for plans'; };
source.onerror = () => { $('status').textContent = 'disconnected, retrying…'; };
</script></body></html>
`;
