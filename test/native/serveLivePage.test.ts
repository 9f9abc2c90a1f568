// The live view of `trt-vla serve` in a real browser: Debian's headless Chromium driven by
// playwright-core (.ci/run installs chromium). The screenshot is kept in test-artifacts/ (gitignored).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model } from '../../lib/index.js';
import { createPlannerServer, type PlannerServer } from '../../lib/serve/index.js';
import { inferBody, ncapCanbus, ncapImages, NeuroNcapClient, pose } from '../helpers/neuroncapClient.js';
import { testModel } from '../helpers/models.js';

// Page-side callbacks run in the browser; this file is compiled without the DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const requireChromium = process.env.TRT_VLA_REQUIRE_CHROMIUM === '1';
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

let model: Model;
let server: PlannerServer;
let browser: Browser | undefined;
let url: string;

beforeAll(async () => {
  if (!CHROMIUM) return;
  model = await loadModel(await testModel(), { backend: 'cpu', threads: 1 });
  server = await createPlannerServer(model, { port: 0, log: () => undefined });
  url = (await server.listen()).url;
  // Chromium must not inherit a sanitizer preload (the sanitizer run preloads libasan into node).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'].includes(k))) as Record<string, string>;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    env,
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await model?.dispose();
});

describe('live view page', () => {
  it.skipIf(!CHROMIUM && !requireChromium)('shows plans as /infer calls complete: frame, projected trajectory, BEV, timings', async () => {
    expect(CHROMIUM, 'Debian chromium is required here (apt install chromium)').toBeDefined();
    const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(url)) external.push(r.url());
    });
    await page.goto(`${url}/`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'waiting for plans');

    const client = new NeuroNcapClient(url);
    await client.reset();
    let last: number[][] = [];
    for (let k = 0; k < 3; k++) {
      const x = 10 + 2 * k;
      // 320x180 frames with a front camera calibration: the trajectory is projected onto the frame.
      const out = await client.runModel(inferBody({ ego2world: pose(x, 5, 0), canbus: ncapCanbus(x, 5, 0, 4, 0), timestampUs: k * 500_000, images: ncapImages(320, 180, k), width: 320, height: 180 }));
      last = out.trajectory;
      await page.waitForFunction((n) => document.body.dataset.seq === String(n), k + 1);
    }
    expect(await page.textContent('#plans')).toBe('3');
    expect(await page.textContent('#failures')).toBe('0');
    expect(Number(await page.textContent('#rate'))).toBeGreaterThan(0);
    // The trajectory table holds the last answer, to the centimetre.
    const cells = await page.$$eval('#trajectory tr', (rows) => rows.slice(1).map((r) => Array.from(r.querySelectorAll('td') as ArrayLike<{ textContent: string | null }>, (td) => td.textContent)));
    expect(cells).toEqual(last.map(([x, y], i) => [`${((i + 1) * 0.5).toFixed(1)} s`, x!.toFixed(2), y!.toFixed(2)]));
    // Per-stage timings, the BEV plot and the front frame (decoded JPEG of CAM_FRONT, 320x180).
    const stages = await page.$$eval('#timings td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(stages).toEqual(['imageDecode', 'preprocess', 'vision', 'embed', 'prefill', 'decode', 'endToEnd']);
    expect(await page.$$eval('#bev svg circle', (c) => c.length)).toBeGreaterThanOrEqual(6);
    await page.waitForFunction(() => {
      const img = document.getElementById('frame');
      return img.complete && img.naturalWidth === 320 && img.naturalHeight === 180;
    });
    // Calibrated: the trajectory is drawn on the frame (points in front of the camera), no BEV inset.
    const overlay = await page.getAttribute('#overlay', 'viewBox');
    expect(overlay).toBe('0 0 320 180');
    expect(await page.$$eval('#inset svg', (s) => s.length)).toBe(0);
    expect(external).toEqual([]); // self-contained: nothing fetched from elsewhere

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'serve-live-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
  });
});
