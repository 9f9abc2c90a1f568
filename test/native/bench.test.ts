// The FPS benchmark on the tiny model: every figure present, warm-up not counted, and the HTML report
// renders in headless Chromium (Debian's package; .ci/run installs it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { benchHtml } from '../../lib/bench/benchHtml.js';
import { type BenchReport, formatBenchReport, runBench } from '../../lib/bench/fpsBench.js';
import { testModel } from '../helpers/models.js';

// Page-side callbacks run in the browser; this file is compiled without the DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const window: any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const getComputedStyle: any;

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const requireChromium = process.env.TRT_VLA_REQUIRE_CHROMIUM === '1';
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

let report: BenchReport;

beforeAll(async () => {
  report = await runBench({ model: await testModel('tiny', 'awq'), frames: 4, warmup: 1, sessions: 2, width: 320, height: 180 });
}, 180_000);

describe('trt-vla bench', () => {
  it('reports every figure, per plan and summarised, without the warm-up plans', () => {
    expect(report.plans).toHaveLength(4);
    expect(report.plans.map((p) => p.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(report.plans.map((p) => p.session))).toEqual(new Set([0, 1]));
    const s = report.summary;
    for (const d of [
      ...Object.values(s.stages),
      s.timeToFirstTokenMs,
      s.timePerOutputTokenMs,
      s.endToEndMs,
      s.promptTokensPerSecond,
      s.decodeTokensPerSecond,
      s.generatedTokensPerPlan,
      s.forwardPassesPerPlan,
    ]) {
      expect(d.count).toBe(4);
      expect(d.p50).toBeLessThanOrEqual(d.p90);
      expect(d.p90).toBeLessThanOrEqual(d.p99);
      expect(Number.isFinite(d.mean)).toBe(true);
    }
    expect(s.fps).toBeGreaterThan(0);
    expect(s.peakRssBytes).toBeGreaterThan(0);
    expect(s.peakDeviceBytes).toBe(0); // CPU backend: no GPU memory
    expect(s.completePlans).toBe(4);
    expect(report.config.backend).toBe('cpu');
    expect(report.config.sessions).toBe(2);
    expect(report.config.runtime.build.version).toMatch(/\d+\.\d+\.\d+/);
    expect(Object.keys(report.units).length).toBeGreaterThan(3);
    // Each plan's end-to-end time contains its native stages.
    for (const p of report.plans) expect(p.endToEndMs).toBeGreaterThanOrEqual(p.timings.prefillMs + p.timings.decodeMs);
  });

  it.skipIf(!CHROMIUM && !requireChromium)('writes an HTML report that renders in headless Chromium', () => {
    expect(CHROMIUM, 'Debian chromium is required here (apt install chromium)').toBeDefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-bench-'));
    const file = path.join(dir, 'bench.html');
    writeFileSync(file, benchHtml(report));
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/https?:\/\//); // self-contained: nothing fetched at view time
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(dir, 'profile')}`];
    // Under the sanitizer run this process has libasan preloaded; Chromium must not inherit it.
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.ASAN_OPTIONS;
    delete env.UBSAN_OPTIONS;
    const dom = execFileSync(CHROMIUM!, [...flags, '--dump-dom', `file://${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000, env });
    const charts = dom.match(/<svg class="chart"/g) ?? [];
    expect(charts.length).toBe(4);
    expect((dom.match(/class="bar"/g) ?? []).length).toBeGreaterThan(8);
    expect(dom).toMatch(/class="line" points="[\d.,\s]+"/);
    const shot = path.join(dir, 'bench.png');
    execFileSync(CHROMIUM!, [...flags, '--window-size=800,1400', `--screenshot=${shot}`, `file://${file}`], { stdio: 'ignore', timeout: 60_000, env });
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(shot).size).toBeGreaterThan(20_000); // a page with charts, not a blank one
    // The embedded report round-trips.
    const json = /<script type="application\/json" id="report">(.*?)<\/script>/s.exec(html)![1]!;
    expect(JSON.parse(json).summary.fps).toBe(report.summary.fps);
  });

  it.skipIf(!CHROMIUM && !requireChromium)('fits a 390 px phone and a 1280 px desktop: nothing overflows, no label clipped or overlapping, units fit the scale', async () => {
    expect(CHROMIUM, 'Debian chromium is required here (apt install chromium)').toBeDefined();
    // The same run as if each plan had taken 331 s (a 3B model on a slow CPU) and as it was.
    const slow: BenchReport = structuredClone(report);
    const k = 331_000 / report.summary.endToEndMs.p50;
    slow.plans = slow.plans.map((p) => ({ ...p, endToEndMs: p.endToEndMs * k, timings: { ...p.timings, prefillMs: p.timings.prefillMs * k, decodeMs: p.timings.decodeMs * k } }));
    for (const d of [slow.summary.endToEndMs, slow.summary.stages.prefillMs, slow.summary.stages.decodeMs, slow.summary.timeToFirstTokenMs]) {
      for (const key of ['p50', 'p90', 'p99', 'mean', 'min', 'max'] as const) d[key] *= k;
    }
    slow.summary.fps = 1 / 331;
    slow.summary.wallSeconds = 331 * report.config.frames;
    slow.summary.peakRssBytes = 9.5 * 2 ** 30;
    slow.config.model = '/home/someone/a/very/long/path/without/spaces/to/models/impromptu-vla-3b-awq-int4-nuscenes-finetune-2025';
    const slowHtml = benchHtml(slow);
    expect(slowHtml).toContain('0.0030 plans/s');
    expect(slowHtml).toContain('331 s per plan');
    expect(slowHtml).toContain('9.50 GiB RSS');
    expect(slowHtml).not.toMatch(/0\.00 plans\/s|FPS 0\.00/);
    expect(formatBenchReport(slow)).toMatch(/FPS \(sustained\)\s+0\.0030 plans\/s \(331 s per plan\) over 22\.1 min/);
    expect(formatBenchReport(slow)).toMatch(/peak RSS\s+9\.50 GiB/);
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'].includes(name))) as Record<string, string>;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'], env });
    try {
      for (const [name, html] of [['measured', benchHtml(report)], ['331 s per plan', slowHtml]] as const) {
        for (const width of [390, 1280]) {
          const page = await browser.newPage({ viewport: { width, height: 900 } });
          await page.setContent(html);
          const problems: string[] = await page.evaluate(() => {
            const found: string[] = [];
            const root = document.documentElement;
            if (root.scrollWidth > window.innerWidth) found.push(`page scrolls sideways: ${root.scrollWidth} > ${window.innerWidth}`);
            for (const el of document.querySelectorAll('body *')) {
              if ((el.closest('svg') && el.tagName.toLowerCase() !== 'svg') || el.tagName === 'SCRIPT') continue;
              if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') found.push(`${el.tagName}.${el.className} clips its content`);
              const r = el.getBoundingClientRect();
              if (r.right > window.innerWidth + 0.5 || r.left < -0.5) found.push(`${el.tagName}.${el.className} "${el.textContent.slice(0, 30)}" leaves the page (${r.left}..${r.right})`);
            }
            for (const chart of document.querySelectorAll('svg.chart')) {
              const box = chart.viewBox.baseVal;
              const texts = [...chart.querySelectorAll('text')].map((t: any) => ({ text: t.textContent, b: t.getBBox() }));
              for (const { text, b } of texts) {
                if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5 || b.y + b.height > box.y + box.height + 0.5) found.push(`"${text}" clipped in ${chart.getAttribute('aria-label')}`);
              }
              for (let i = 0; i < texts.length; i++)
                for (let j = i + 1; j < texts.length; j++) {
                  const a = texts[i]!.b;
                  const c = texts[j]!.b;
                  if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height && c.y < a.y + a.height) found.push(`"${texts[i]!.text}" overlaps "${texts[j]!.text}" in ${chart.getAttribute('aria-label')}`);
                }
              const r = chart.getBoundingClientRect();
              if (r.width < 300) found.push(`chart ${chart.getAttribute('aria-label')} only ${r.width}px wide`);
            }
            return found;
          });
          expect(problems, `${name} at ${width}px`).toEqual([]);
          if (width === 390) mkdirSync(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: path.join(ARTIFACTS, `bench-${name.replace(/\W+/g, '-')}-${width}.png`), fullPage: true });
          await page.close();
        }
      }
    } finally {
      await browser.close();
    }
  });
});
