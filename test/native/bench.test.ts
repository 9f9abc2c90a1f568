// The FPS benchmark on the tiny model: every figure present, warm-up not counted, and the HTML report
// renders in headless Chromium (Debian's package; .ci/run installs it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { benchHtml } from '../../lib/bench/benchHtml.js';
import { type BenchReport, runBench } from '../../lib/bench/fpsBench.js';
import { testModel } from '../helpers/models.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const requireChromium = process.env.TRT_VLA_REQUIRE_CHROMIUM === '1';

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
});
