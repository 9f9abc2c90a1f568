// Reduced-vocabulary bundles (Edge-LLM --reduced_vocab_dir) made from a generated model, for tests.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { writeInt32Safetensors } from './safetensors.js';

/**
 * A copy of the model folder in a new temporary directory (the caller removes it) with a vocabulary
 * map of `ids` and reduced_vocab_size = `declared` (null: left out of the config).
 */
export function withVocabMap(src: string, ids: number[], declared: number | null = ids.length): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-vocab-'));
  cpSync(src, dir, { recursive: true });
  writeInt32Safetensors(path.join(dir, 'llm', 'vocab_map.safetensors'), { vocab_map: { shape: [ids.length], data: Int32Array.from(ids) } });
  const configPath = path.join(dir, 'llm', 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  if (declared !== null) config.reduced_vocab_size = declared;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return dir;
}
