#!/usr/bin/env node
// Writes the recipes of the models trt-vla-gpu-check runs on a lent GPU machine (scripts/gpu-check.sh,
// docs/gpu-check.md). A generated model is hundreds of MB (its Qwen-sized embedding table alone), too
// much for the 64 MiB that travel to that machine, but `trt-vla make-model` writes it with seeded
// native code: the recipe records make-model's JSON files and the plan of each random checkpoint as
// passed to writeRandomCheckpoint, plus the FNV-1a 64 digest of each file it wrote, and
// `trt-vla-gpu-check --make-model RECIPE OUT` rewrites the same bytes there and checks the digests.
//
//   node scripts/gpu-check-recipes.mjs OUT_DIR [preset...]     (default presets: tiny small)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeModel } from '../dist/model/generate.js';
import { native } from '../dist/native.js';

const [outDir, ...requested] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node scripts/gpu-check-recipes.mjs OUT_DIR [preset...]');
  process.exit(2);
}
const presets = requested.length ? requested : ['tiny', 'small'];
const SEED = 7;

// FNV-1a 64 in two 32-bit halves (the prime is 2^40 + 0x1b3): what native/checks/gpu_check.cc computes.
function fnv1a64(bytes) {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    const low = lo * 0x1b3;
    const carry = Math.floor(low / 4294967296);
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

// Files the check does not read: the tokenizer (it works from token ids).
const skipped = (name) => /^(tokenizer.*|vocab|merges|special_tokens_map|added_tokens|chat_template)\b/.test(name);

const addon = native();
const write = addon.writeRandomCheckpoint;
mkdirSync(outDir, { recursive: true });
for (const preset of presets) {
  const work = mkdtempSync(path.join(os.tmpdir(), `trt-vla-recipe-${preset}-`));
  const checkpoints = [];
  addon.writeRandomCheckpoint = async (file, plan, seed, options) => {
    // makeModel writes into a hidden sibling of `work` and renames it to `work` when done: the path
    // inside the model is what follows that folder.
    const inModel = path.relative(path.dirname(work), file).split(path.sep).slice(1).join('/');
    checkpoints.push({ file: inModel, plan, seed, metadata: options?.metadata ?? {} });
    return write.call(addon, file, plan, seed, options);
  };
  try {
    await makeModel({ preset, quant: 'awq', out: work, seed: SEED });
  } finally {
    addon.writeRandomCheckpoint = write;
  }
  const json = {};
  for (const entry of readdirSync(work, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.json') || skipped(entry.name)) continue;
    const full = path.join(entry.parentPath ?? entry.path, entry.name);
    json[path.relative(work, full)] = readFileSync(full, 'utf8');
  }
  for (const c of checkpoints) c.fnv1a64 = fnv1a64(readFileSync(path.join(work, c.file)));
  const recipe = { generator: 'trt-vla make-model', preset, quant: 'awq', seed: SEED, json, checkpoints };
  writeFileSync(path.join(outDir, `${preset}.json`), `${JSON.stringify(recipe)}\n`);
  rmSync(work, { recursive: true, force: true });
  console.log(`gpu-check-recipes: ${preset}: ${checkpoints.length} checkpoints, ${Object.keys(json).length} JSON files -> ${path.join(outDir, `${preset}.json`)}`);
}
