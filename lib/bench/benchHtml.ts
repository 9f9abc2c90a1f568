/**
 * The benchmark as one self-contained HTML page (no scripts, no network): the run's configuration,
 * a stage breakdown, the latency histogram and percentile curve, and tokens / forward passes per plan,
 * all as inline SVG.
 */
import type { BenchReport } from './fpsBench.js';
import { histogram } from './stats.js';

const COLORS = { preprocessMs: '#58a6ff', visionMs: '#d2a8ff', embedMs: '#ffa657', prefillMs: '#3fb950', decodeMs: '#f85149' } as const;
const STAGE_NAMES = { preprocessMs: 'preprocess', visionMs: 'vision', embedMs: 'embed', prefillMs: 'prefill', decodeMs: 'decode' } as const;

function esc(text: unknown): string {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function svg(width: number, height: number, body: string, label: string): string {
  return `<svg class="chart" role="img" aria-label="${esc(label)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
}

function axisLabel(x: number, y: number, text: string, anchor = 'start'): string {
  return `<text x="${x}" y="${y}" font-size="11" fill="#8b949e" text-anchor="${anchor}">${esc(text)}</text>`;
}

/** Stacked bars of the mean and p90 stage times. */
function stageChart(r: BenchReport): string {
  const stages = Object.keys(COLORS) as (keyof typeof COLORS)[];
  const rows = [
    { name: 'mean', values: stages.map((k) => r.summary.stages[k].mean) },
    { name: 'p90', values: stages.map((k) => r.summary.stages[k].p90) },
  ];
  const total = Math.max(...rows.map((row) => row.values.reduce((a, b) => a + b, 0)), 1e-9);
  const width = 640;
  const barWidth = width - 120;
  let body = '';
  rows.forEach((row, i) => {
    let x = 60;
    const y = 20 + i * 40;
    body += axisLabel(8, y + 18, row.name);
    row.values.forEach((v, j) => {
      const w = (v / total) * barWidth;
      body += `<rect class="bar" x="${x}" y="${y}" width="${Math.max(w, 0)}" height="26" fill="${COLORS[stages[j]!]}"><title>${STAGE_NAMES[stages[j]!]} ${v.toFixed(1)} ms</title></rect>`;
      x += w;
    });
    body += axisLabel(x + 6, y + 18, `${row.values.reduce((a, b) => a + b, 0).toFixed(0)} ms`);
  });
  stages.forEach((k, j) => {
    body += `<rect x="${60 + j * 110}" y="106" width="12" height="12" fill="${COLORS[k]}"/>` + axisLabel(76 + j * 110, 116, STAGE_NAMES[k]);
  });
  return svg(width, 130, body, 'stage breakdown');
}

function histogramChart(values: number[]): string {
  const bins = Math.min(20, Math.max(5, Math.ceil(Math.sqrt(values.length))));
  const { edges, counts } = histogram(values, bins);
  const width = 640;
  const height = 200;
  const max = Math.max(...counts, 1);
  const bw = (width - 80) / bins;
  let body = '';
  counts.forEach((c, i) => {
    const h = (c / max) * (height - 50);
    body += `<rect class="bar" x="${50 + i * bw}" y="${height - 30 - h}" width="${bw - 2}" height="${h}" fill="#58a6ff"><title>${edges[i]!.toFixed(1)}-${edges[i + 1]!.toFixed(1)} ms: ${c}</title></rect>`;
  });
  body += axisLabel(50, height - 12, `${edges[0]!.toFixed(0)} ms`) + axisLabel(width - 30, height - 12, `${edges[bins]!.toFixed(0)} ms`, 'end');
  body += axisLabel(8, 20, `${max} plans`);
  return svg(width, height, body, 'end-to-end latency histogram');
}

function percentileChart(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const width = 640;
  const height = 200;
  const max = Math.max(...sorted, 1e-9);
  const min = Math.min(...sorted);
  const span = max - min || 1;
  const points = sorted.map((v, i) => {
    const x = 50 + (sorted.length > 1 ? i / (sorted.length - 1) : 0) * (width - 80);
    const y = height - 30 - ((v - min) / span) * (height - 50);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  let body = `<polyline class="line" points="${points.join(' ')}" fill="none" stroke="#3fb950" stroke-width="2"/>`;
  for (const p of [50, 90, 99]) body += axisLabel(50 + (p / 100) * (width - 80), height - 12, `p${p}`, 'middle');
  body += axisLabel(8, 20, `${max.toFixed(0)} ms`) + axisLabel(8, height - 30, `${min.toFixed(0)} ms`);
  return svg(width, height, body, 'end-to-end latency percentiles');
}

function perPlanChart(r: BenchReport): string {
  const width = 640;
  const height = 200;
  const plans = r.plans;
  const max = Math.max(...plans.map((p) => p.timings.generatedTokens), 1);
  const bw = (width - 80) / Math.max(plans.length, 1);
  let body = '';
  plans.forEach((p, i) => {
    const g = (p.timings.generatedTokens / max) * (height - 50);
    const f = (p.timings.forwardPasses / max) * (height - 50);
    body += `<rect class="bar" x="${50 + i * bw}" y="${height - 30 - g}" width="${Math.max(bw / 2 - 1, 1)}" height="${g}" fill="#d2a8ff"><title>plan ${p.index}: ${p.timings.generatedTokens} tokens</title></rect>`;
    body += `<rect class="bar" x="${50 + i * bw + bw / 2}" y="${height - 30 - f}" width="${Math.max(bw / 2 - 1, 1)}" height="${f}" fill="#ffa657"><title>plan ${p.index}: ${p.timings.forwardPasses} forward passes</title></rect>`;
  });
  body += `<rect x="50" y="6" width="12" height="12" fill="#d2a8ff"/>${axisLabel(66, 16, 'generated tokens')}`;
  body += `<rect x="200" y="6" width="12" height="12" fill="#ffa657"/>${axisLabel(216, 16, 'forward passes')}`;
  body += axisLabel(8, height - 30, '0') + axisLabel(width - 30, height - 12, `plan ${plans.length - 1}`, 'end');
  return svg(width, height, body, 'tokens and forward passes per plan');
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
    ['model shape', `hidden ${c.modelShape.hiddenSize}, ${c.modelShape.layers} layers, ${(c.modelShape.weightBytes / 2 ** 20).toFixed(0)} MiB decoder weights per token, LM head ${c.modelShape.lmHead}`],
    ['format / mode', `${c.format} / ${c.mode}${c.constrained ? ', constrained' : ''}`],
    ['plans', `${c.frames} measured, ${c.warmup} warm-up per session (not counted), ${c.sessions} session(s)`],
    ['frame', `${c.frameSize[0]}x${c.frameSize[1]} rgb8 synthetic`],
    ['build', `trt-vla ${c.runtime.build.version}, ${c.runtime.build.buildSystem}, ${c.runtime.cpu.simd} kernels, git ${c.runtime.build.gitRevision}`],
    ['host', `${c.host.cpuModel}, ${c.host.cpus} CPUs, ${c.host.platform}-${c.host.arch}, node ${c.host.node}`],
    ['created', r.createdAt],
  ];
  const headline: [string, string][] = [
    ['FPS', s.fps.toFixed(2)],
    ['end to end p50', `${s.endToEndMs.p50.toFixed(0)} ms`],
    ['first token p50', `${s.timeToFirstTokenMs.p50.toFixed(0)} ms`],
    ['per output token p50', `${s.timePerOutputTokenMs.p50.toFixed(2)} ms`],
    ['forward passes / plan', s.forwardPassesPerPlan.mean.toFixed(1)],
    ['generated tokens / plan', s.generatedTokensPerPlan.mean.toFixed(1)],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trt-vla bench: ${esc(c.backend)} ${s.fps.toFixed(2)} FPS</title>
<style>
body{font-family:system-ui,sans-serif;background:#0d1117;color:#c9d1d9;margin:24px;max-width:720px}
h1{font-size:20px}h2{font-size:15px;margin-top:28px;color:#e6edf3}
table{border-collapse:collapse;font-size:13px}td{padding:3px 10px 3px 0;vertical-align:top}td:first-child{color:#8b949e}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{background:#161b22;border:1px solid #30363d;border-radius:6px;padding:8px 12px}
.tile b{display:block;font-size:18px;color:#e6edf3}.chart{background:#161b22;border:1px solid #30363d;border-radius:6px}
</style></head><body>
<h1>trt-vla FPS benchmark</h1>
<div class="tiles">${headline.map(([k, v]) => `<div class="tile">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
<h2>Stage breakdown (mean and p90 per plan)</h2>${stageChart(r)}
<h2>End-to-end latency histogram</h2>${histogramChart(e2e)}
<h2>End-to-end latency percentiles</h2>${percentileChart(e2e)}
<h2>Tokens and forward passes per plan</h2>${perPlanChart(r)}
<h2>Configuration</h2><table>${config.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<script type="application/json" id="report">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
