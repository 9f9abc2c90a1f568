// The bundle resolver finds the engine folder llm_build writes with --eagleBase: eagle_base.engine next to
// base_config.json (Edge-LLM 0.6.1 cpp/builder/llmBuilder.cpp:114-127,714-731), and prefers a vanilla
// llm.engine with config.json when both are there.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { resolveModelFiles } from '../../lib/model/bundle.js';

describe('bundle resolver: EAGLE-base engine folders', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function bundle(llmFiles: Record<string, string>): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-eagle-bundle-'));
    dirs.push(root);
    mkdirSync(path.join(root, 'llm'));
    mkdirSync(path.join(root, 'visual'));
    writeFileSync(path.join(root, 'visual', 'config.json'), '{}');
    writeFileSync(path.join(root, 'visual', 'visual.engine'), 'plan');
    for (const [name, text] of Object.entries({ 'tokenizer.json': '{}', 'embedding.safetensors': '', ...llmFiles })) {
      writeFileSync(path.join(root, 'llm', name), text);
    }
    return root;
  }

  it('resolves eagle_base.engine with base_config.json', () => {
    const root = bundle({ 'base_config.json': '{"hidden_size": 2048}', 'eagle_base.engine': 'plan' });
    const files = resolveModelFiles(root);
    expect(files.layout).toBe('bundle');
    expect(files.llm.configPath).toBe(path.join(root, 'llm', 'base_config.json'));
    expect(files.llm.config).toEqual({ hidden_size: 2048 });
    expect(files.llm.engineFile).toBe(path.join(root, 'llm', 'eagle_base.engine'));
    expect(files.llm.weightFiles).toEqual([]);
  });

  it('prefers the vanilla llm.engine when both were built into one folder', () => {
    const root = bundle({ 'config.json': '{"a": 1}', 'llm.engine': 'plan', 'base_config.json': '{"b": 2}', 'eagle_base.engine': 'plan' });
    const files = resolveModelFiles(root);
    expect(files.llm.engineFile).toBe(path.join(root, 'llm', 'llm.engine'));
    expect(files.llm.config).toEqual({ a: 1 });
  });

  it('keeps config.json without engines (CPU bundles)', () => {
    const root = bundle({ 'config.json': '{"a": 1}' });
    const files = resolveModelFiles(root);
    expect(files.llm.engineFile).toBeUndefined();
    expect(files.llm.configPath).toBe(path.join(root, 'llm', 'config.json'));
  });
});
