// Generated test models, made once per machine and reused (fixtures made by code, not committed).
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeModel, type WeightQuantization } from '../../lib/model/generate.js';
import type { ModelPreset } from '../../lib/model/presets.js';

const root = process.env.TRT_VLA_TEST_MODELS ?? path.join(os.tmpdir(), 'trt-vla-test-models');

/** The directory of a generated model, generating it on first use (atomic via rename). */
export async function testModel(preset: ModelPreset = 'tiny', quant: WeightQuantization = 'awq', seed = 7): Promise<string> {
  const dir = path.join(root, `${preset}-${quant}-seed${seed}-v1`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  mkdirSync(root, { recursive: true });
  const staging = `${dir}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  await makeModel({ preset, quant, out: staging, seed });
  writeFileSync(path.join(staging, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return dir;
}
