/**
 * The benchmark as one self-contained HTML page (no scripts, no network): headline figures with
 * their units at any scale (a 331 s plan reads "0.0030 plans/s (331 s per plan)"), peak memory and
 * token rates, a stage breakdown, the latency histogram and percentile curve, tokens / forward
 * passes per plan, and the run's configuration. Charts are inline SVG scaled to the page width
 * (viewBox), so the page fits a phone as well as a desktop without clipping a label.
 */
import type { BenchReport } from './fpsBench.js';
import { estimateTextWidth } from './labels.js';
import { histogram } from './stats.js';
import { formatBytes, formatDuration, formatRate, formatThroughput, significant } from './units.js';

const COLORS = { preprocessMs: '#58a6ff', visionMs: '#d2a8ff', embedMs: '#ffa657', prefillMs: '#3fb950', decodeMs: '#f85149' } as const;
const STAGE_NAMES = { preprocessMs: 'preprocess', visionMs: 'vision', embedMs: 'embed', prefillMs: 'prefill', decodeMs: 'decode' } as const;

/** Chart coordinate width; the SVG scales to the page (390 px phone: ~0.6x). */
const CHART_WIDTH = 560;
const FONT = 13;

function esc(text: unknown): string {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function svg(height: number, body: string, label: string): string {
  return `<svg class="chart" role="img" aria-label="${esc(label)}" viewBox="0 0 ${CHART_WIDTH} ${height}" preserveAspectRatio="xMinYMin meet">${body}</svg>`;
}

function axisLabel(x: number, y: number, text: string, anchor = 'start'): string {
  return `<text x="${x}" y="${y}" font-size="${FONT}" fill="#8b949e" text-anchor="${anchor}">${esc(text)}</text>`;
}

/** Stacked bars of the mean and p90 stage times, with a legend that wraps to fit. */
function stageChart(r: BenchReport): string {
  const stages = Object.keys(COLORS) as (keyof typeof COLORS)[];
  const rows = [
    { name: 'mean', values: stages.map((k) => r.summary.stages[k].mean) },
    { name: 'p90', values: stages.map((k) => r.summary.stages[k].p90) },
  ];
  const total = Math.max(...rows.map((row) => row.values.reduce((a, b) => a + b, 0)), 1e-9);
  const left = 50;
  const barWidth = CHART_WIDTH - left - 80; // room for the total ("18.5 min") after the longest bar
  let body = '';
  rows.forEach((row, i) => {
    let x = left;
    const y = 14 + i * 40;
    body += axisLabel(8, y + 18, row.name);
    row.values.forEach((v, j) => {
      const w = (v / total) * barWidth;
      body += `<rect class="bar" x="${x}" y="${y}" width="${Math.max(w, 0)}" height="26" fill="${COLORS[stages[j]!]}"><title>${STAGE_NAMES[stages[j]!]} ${formatDuration(v)}</title></rect>`;
      x += w;
    });
    body += axisLabel(x + 6, y + 18, formatDuration(row.values.reduce((a, b) => a + b, 0)));
  });
  let lx = 8;
  let ly = 100;
  for (const k of stages) {
    const itemWidth = 18 + estimateTextWidth(STAGE_NAMES[k], FONT) + 14;
    if (lx + itemWidth > CHART_WIDTH) {
      lx = 8;
      ly += 20;
    }
    body += `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${COLORS[k]}"/>` + axisLabel(lx + 18, ly + 11, STAGE_NAMES[k]);
    lx += itemWidth;
  }
  return svg(ly + 22, body, 'stage breakdown');
}

function histogramChart(values: number[]): string {
  const bins = Math.min(20, Math.max(5, Math.ceil(Math.sqrt(values.length))));
  const { edges, counts } = histogram(values, bins);
  const height = 200;
  const left = 20;
  const right = CHART_WIDTH - 20;
  const max = Math.max(...counts, 1);
  const bw = (right - left) / bins;
  let body = '';
  counts.forEach((c, i) => {
    const h = (c / max) * (height - 60);
    body += `<rect class="bar" x="${left + i * bw}" y="${height - 34 - h}" width="${Math.max(bw - 2, 1)}" height="${h}" fill="#58a6ff"><title>${formatDuration(edges[i]!)} to ${formatDuration(edges[i + 1]!)}: ${c}</title></rect>`;
  });
  body += axisLabel(left, height - 12, formatDuration(edges[0]!)) + axisLabel(right, height - 12, formatDuration(edges[bins]!), 'end');
  body += axisLabel(8, 18, `tallest bar: ${max} plan${max === 1 ? '' : 's'}`);
  return svg(height, body, 'end-to-end latency histogram');
}

function percentileChart(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const height = 200;
  const left = 20;
  const right = CHART_WIDTH - 20;
  const top = 30;
  const bottom = height - 34;
  const max = Math.max(...sorted, 1e-9);
  const min = Math.min(...sorted);
  const span = max - min || 1;
  const points = sorted.map((v, i) => {
    const x = left + (sorted.length > 1 ? i / (sorted.length - 1) : 0) * (right - left);
    const y = bottom - ((v - min) / span) * (bottom - top);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  let body = `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#30363d"/>`;
  body += `<polyline class="line" points="${points.join(' ')}" fill="none" stroke="#3fb950" stroke-width="2"/>`;
  for (const p of [50, 90, 99]) body += axisLabel(left + (p / 100) * (right - left), height - 12, `p${p}`, p === 99 ? 'end' : 'middle');
  body += axisLabel(left, 18, `fastest ${formatDuration(min)}`) + axisLabel(right, 18, `slowest ${formatDuration(max)}`, 'end');
  return svg(height, body, 'end-to-end latency percentiles');
}

function perPlanChart(r: BenchReport): string {
  const height = 200;
  const left = 20;
  const right = CHART_WIDTH - 20;
  const plans = r.plans;
  const max = Math.max(...plans.map((p) => Math.max(p.timings.generatedTokens, p.timings.forwardPasses)), 1);
  const bw = (right - left) / Math.max(plans.length, 1);
  const base = height - 34;
  const scale = (v: number) => (v / max) * (base - 40);
  let body = '';
  plans.forEach((p, i) => {
    const g = scale(p.timings.generatedTokens);
    const f = scale(p.timings.forwardPasses);
    body += `<rect class="bar" x="${left + i * bw}" y="${base - g}" width="${Math.max(bw / 2 - 1, 0.5)}" height="${g}" fill="#d2a8ff"><title>plan ${p.index}: ${p.timings.generatedTokens} tokens</title></rect>`;
    body += `<rect class="bar" x="${left + i * bw + bw / 2}" y="${base - f}" width="${Math.max(bw / 2 - 1, 0.5)}" height="${f}" fill="#ffa657"><title>plan ${p.index}: ${p.timings.forwardPasses} forward passes</title></rect>`;
  });
  body += `<rect x="8" y="6" width="12" height="12" fill="#d2a8ff"/>${axisLabel(26, 17, 'generated tokens')}`;
  body += `<rect x="180" y="6" width="12" height="12" fill="#ffa657"/>${axisLabel(198, 17, 'forward passes')}`;
  body += axisLabel(right, 17, `max ${max}`, 'end');
  body += axisLabel(left, height - 12, 'plan 0') + axisLabel(right, height - 12, `plan ${Math.max(plans.length - 1, 0)}`, 'end');
  return svg(height, body, 'tokens and forward passes per plan');
}

/** The headline tiles: [name, value, note]. */
export function headlineFigures(r: BenchReport): [string, string, string][] {
  const s = r.summary;
  const c = r.config;
  const memory = `${formatBytes(s.peakRssBytes)} RSS`;
  const tiles: [string, string, string][] = [
    ['throughput', formatRate(s.fps, 'plans'), s.fps > 0 && s.fps < 1 ? `${formatDuration(1000 / s.fps)} per plan` : `over ${formatDuration(s.wallSeconds * 1000)}`],
    ['end to end p50', formatDuration(s.endToEndMs.p50), `p90 ${formatDuration(s.endToEndMs.p90)}`],
    ['first token p50', formatDuration(s.timeToFirstTokenMs.p50), `p90 ${formatDuration(s.timeToFirstTokenMs.p90)}`],
    ['per output token p50', formatDuration(s.timePerOutputTokenMs.p50), `p90 ${formatDuration(s.timePerOutputTokenMs.p90)}`],
    ['decode p50', formatRate(s.decodeTokensPerSecond.p50, 'tokens'), `prompt ${formatRate(s.promptTokensPerSecond.p50, 'tokens')}`],
    ['peak memory', memory, c.backend === 'cpu' ? 'CPU backend: no GPU memory' : `GPU ${formatBytes(s.peakDeviceBytes)} (buffers, contexts; engine weights not included)`],
    ['per plan', `${significant(s.generatedTokensPerPlan.mean)} tokens`, `${significant(s.forwardPassesPerPlan.mean)} forward passes`],
  ];
  if (s.power) tiles.push(['power', `${significant(s.power.computeW)} W`, `${significant(s.power.energyPerPlanJ)} J per plan`]);
  return tiles;
}

export function benchHtml(r: BenchReport): string {
  const c = r.config;
  const s = r.summary;
  const e2e = r.plans.map((p) => p.endToEndMs);
  const config: [string, string][] = [
    ['model', c.model],
    ['backend', `${c.backend} (${c.backendReason})`],
    ['device', c.runtime.device ? `${c.runtime.device.name} sm_${c.runtime.device.sm}` : 'none'],
    ['threads', String(c.threads)],
    ['model shape', `hidden ${c.modelShape.hiddenSize}, ${c.modelShape.layers} layers, ${formatBytes(c.modelShape.weightBytes)} decoder weights per token, LM head ${c.modelShape.lmHead}`],
    ['format / mode', `${c.format} / ${c.mode}${c.constrained ? ', constrained' : ''}`],
    ['plans', `${c.frames} measured (${s.completePlans} complete), ${c.warmup} warm-up per session (not counted), ${c.sessions} session(s), ${formatDuration(s.wallSeconds * 1000)} wall`],
    ['frame', `${c.frameSize[0]}x${c.frameSize[1]} rgb8 synthetic`],
    ['build', `trt-vla ${c.runtime.build.version}, ${c.runtime.build.buildSystem}, ${c.runtime.cpu.simd} kernels, git ${c.runtime.build.gitRevision}`],
    ['host', `${c.host.cpuModel}, ${c.host.cpus} CPUs, ${c.host.platform}-${c.host.arch}, node ${c.host.node}`],
    ['created', r.createdAt],
  ];
  const warnings = c.warnings.map((w) => `<p class="warning">${esc(w)}</p>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>trt-vla bench: ${esc(c.backend)} ${esc(formatThroughput(s.fps))}</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;background:#0d1117;color:#c9d1d9;margin:0 auto;padding:16px;max-width:760px}
h1{font-size:20px}h2{font-size:15px;margin-top:28px;color:#e6edf3}
.warning{color:#f0883e;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:13px;width:100%;table-layout:fixed}
td{padding:3px 10px 3px 0;vertical-align:top;overflow-wrap:anywhere}td:first-child{color:#8b949e;width:32%}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.tile{background:#161b22;border:1px solid #30363d;border-radius:6px;padding:8px 12px;min-width:0;overflow-wrap:anywhere}
.tile b{display:block;font-size:18px;color:#e6edf3}.tile small{display:block;color:#8b949e;font-size:12px}
.chart{display:block;width:100%;height:auto;background:#161b22;border:1px solid #30363d;border-radius:6px}
</style></head><body>
<h1>trt-vla FPS benchmark</h1>${warnings}
<div class="tiles">${headlineFigures(r)
    .map(([k, v, note]) => `<div class="tile">${esc(k)}<b>${esc(v)}</b><small>${esc(note)}</small></div>`)
    .join('')}</div>
<h2>Stage breakdown (mean and p90 per plan)</h2>${stageChart(r)}
<h2>End-to-end latency histogram</h2>${histogramChart(e2e)}
<h2>End-to-end latency percentiles</h2>${percentileChart(e2e)}
<h2>Tokens and forward passes per plan</h2>${perPlanChart(r)}
<h2>Configuration</h2><table>${config.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<script type="application/json" id="report">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
