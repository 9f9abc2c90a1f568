// Plans of a random-weights model (trt-vla make-model) say so: model.warnings, every plan.warnings, and a
// banner in the CLI; a model without the generator's mark has no warning.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type PlanResult } from '../../lib/index.js';
import { RANDOM_WEIGHTS_WARNING } from '../../lib/model/bundle.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const HISTORY = [
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, speed: 4.05, steering: 0.3 },
];

let scratch: string;
let generated: string;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-random-weights-'));
  generated = await testModel('tiny', 'awq');
});

async function planWith(dir: string): Promise<{ modelWarnings: readonly string[]; plan: PlanResult; streamed: PlanResult | undefined }> {
  await using model = await loadModel(dir);
  const frame = model.allocFrame({ width: 64, height: 64, format: 'rgb8' });
  frame.data.fill(90);
  const plan = await model.plan({ images: [frame], history: HISTORY });
  let streamed: PlanResult | undefined;
  for await (const ev of model.planStream({ images: [frame], history: HISTORY })) if (ev.type === 'done') streamed = ev.result;
  return { modelWarnings: model.warnings, plan, streamed };
}

describe('random weights are never mistaken for a planner', () => {
  it('a generated model: model.warnings and every plan.warnings name the random weights', async () => {
    const { modelWarnings, plan, streamed } = await planWith(generated);
    expect(modelWarnings).toEqual([RANDOM_WEIGHTS_WARNING]);
    expect(plan.warnings).toEqual([RANDOM_WEIGHTS_WARNING]);
    expect(streamed?.warnings).toEqual([RANDOM_WEIGHTS_WARNING]);
  });

  it('the same files without the generator mark in config.json: no warning', async () => {
    const unmarked = path.join(scratch, 'unmarked');
    cpSync(generated, unmarked, { recursive: true });
    for (const part of ['llm', 'visual']) {
      const file = path.join(unmarked, part, 'config.json');
      const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      delete config.trt_vla;
      writeFileSync(file, JSON.stringify(config));
    }
    const { modelWarnings, plan } = await planWith(unmarked);
    expect(modelWarnings).toEqual([]);
    expect(plan.warnings).toEqual([]);
  });

  it('trt-vla plan prints a WARNING banner on stderr; --json carries the warnings', async () => {
    const image = path.join(scratch, 'front.png');
    await sharp({ create: { width: 96, height: 64, channels: 3, background: '#405060' } }).png().toFile(image);
    const history = path.join(scratch, 'history.json');
    writeFileSync(history, JSON.stringify(HISTORY));
    const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
    const text = spawnSync(process.execPath, [cli, 'plan', '--model', generated, '--image', image, '--history', history], { encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stderr).toContain(`trt-vla: WARNING: ${RANDOM_WEIGHTS_WARNING}`);
    const json = spawnSync(process.execPath, [cli, 'plan', '--model', generated, '--image', image, '--history', history, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(json.stdout).warnings).toEqual([RANDOM_WEIGHTS_WARNING]);
  });
});
