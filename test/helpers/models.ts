// Generated test models, made once per machine and reused (fixtures made by code, not committed).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GENERATOR_FORMAT, makeModel, type WeightQuantization } from '../../lib/model/generate.js';
import type { ModelPreset } from '../../lib/model/presets.js';

const root = process.env.TRT_VLA_TEST_MODELS ?? path.join(os.tmpdir(), 'trt-vla-test-models');

/**
 * The directory of a generated model, generating it on first use. makeModel publishes a finished model
 * with a rename, so an existing directory is complete; when two test files generate it at once, the
 * later rename replaces the earlier identical model.
 */
export async function testModel(preset: ModelPreset = 'tiny', quant: WeightQuantization = 'awq', seed = 7): Promise<string> {
  const dir = path.join(root, `${preset}-${quant}-seed${seed}-g${GENERATOR_FORMAT}`);
  if (!existsSync(dir)) await makeModel({ preset, quant, out: dir, seed });
  return dir;
}
