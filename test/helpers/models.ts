// Generated test models, made once per machine and reused (fixtures made by code, not committed).
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** JSON edits of a model folder's files (relative path -> new contents, or null to leave the file out). */
export type ModelEdits = Record<string, Record<string, unknown> | ((json: Record<string, unknown>) => Record<string, unknown>) | null>;

/**
 * A scratch copy of a model folder with some JSON files changed or left out; the other files are hard
 * links (no copy of the weights).
 */
export function modelVariant(dir: string, edits: ModelEdits): string {
  const out = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-variant-'));
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        mkdirSync(path.join(out, name));
        walk(name);
        continue;
      }
      const edit = edits[name];
      if (edit === null) continue;
      if (edit === undefined) linkSync(path.join(dir, name), path.join(out, name));
      else {
        const json = typeof edit === 'function' ? edit(JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Record<string, unknown>) : edit;
        writeFileSync(path.join(out, name), JSON.stringify(json, null, 2));
      }
    }
  };
  walk('');
  return out;
}
