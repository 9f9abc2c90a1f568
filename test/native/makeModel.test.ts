// The generator's output location and atomicity: the user cache folder, a run killed mid-way leaves
// nothing that loads, and an existing folder is replaced only when it is an earlier generated model.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../lib/index.js';
import { hasRandomWeights, RANDOM_WEIGHTS_WARNING } from '../../lib/model/bundle.js';
import { cachedModelDir, makeModel, userCacheDir } from '../../lib/model/generate.js';
import { packageRoot } from '../../lib/native.js';

let scratch: string;
const savedXdg = process.env.XDG_CACHE_HOME;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-make-model-'));
});

afterEach(() => {
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('where generated models go', () => {
  it('the user cache: $XDG_CACHE_HOME/trt-vla, else ~/.cache/trt-vla (a relative XDG_CACHE_HOME is ignored)', () => {
    process.env.XDG_CACHE_HOME = '/some/cache';
    expect(userCacheDir()).toBe('/some/cache/trt-vla');
    expect(cachedModelDir('tiny', 'awq', 1)).toMatch(/^\/some\/cache\/trt-vla\/tiny-awq-seed1-g\d+$/);
    process.env.XDG_CACHE_HOME = 'relative/cache';
    expect(userCacheDir()).toBe(path.join(os.homedir(), '.cache', 'trt-vla'));
    delete process.env.XDG_CACHE_HOME;
    expect(userCacheDir()).toBe(path.join(os.homedir(), '.cache', 'trt-vla'));
  });
});

describe('makeModel is atomic', () => {
  it('a generation killed mid-way leaves no model at --out; the next run cleans up and succeeds', async () => {
    const out = path.join(scratch, 'killed');
    const generate = path.join(packageRoot, 'dist', 'model', 'generate.js');
    // 'small' writes ~200 MB of weights: slow enough to be killed while writing.
    const script = `const { makeModel } = await import(${JSON.stringify(generate)}); await makeModel({ preset: 'small', quant: 'fp16', out: ${JSON.stringify(out)} });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Kill once the weights are being written (the tokenizer and configs are already there).
    let partial: string | undefined;
    for (let i = 0; i < 3000 && partial === undefined; i++) {
      const found = readdirSync(scratch).find((e) => e.startsWith('.killed.partial-'));
      if (found && existsSync(path.join(scratch, found, 'llm', 'model.safetensors'))) partial = found;
      else await sleep(10);
    }
    expect(partial, 'the child never started writing weights').toBeDefined();
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    expect(existsSync(out)).toBe(false);
    await expect(loadModel(out)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });

    await makeModel({ preset: 'tiny', quant: 'awq', out, seed: 2 });
    expect(readdirSync(scratch).filter((e) => e.includes('.partial-'))).toEqual([]);
    await using model = await loadModel(out);
    expect(model.warnings).toEqual([RANDOM_WEIGHTS_WARNING]);
  });

  it('replaces an earlier generated model, refuses a folder with other files, accepts an empty one', async () => {
    const out = path.join(scratch, 'replace');
    await makeModel({ preset: 'tiny', quant: 'awq', out, seed: 3 });
    writeFileSync(path.join(out, 'llm', 'llm.engine'), 'a stale engine from another tool');
    await makeModel({ preset: 'tiny', quant: 'fp16', out, seed: 3 });
    expect(existsSync(path.join(out, 'llm', 'llm.engine'))).toBe(false);
    const config = JSON.parse(readFileSync(path.join(out, 'llm', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.quantization_config).toBeUndefined();
    expect(hasRandomWeights(config)).toBe(true);

    const foreign = path.join(scratch, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    await expect(makeModel({ preset: 'tiny', out: foreign })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /not empty/ });
    expect(readFileSync(path.join(foreign, 'notes.txt'), 'utf8')).toBe('mine');

    const empty = path.join(scratch, 'empty');
    mkdirSync(empty);
    await makeModel({ preset: 'tiny', out: empty });
    expect(existsSync(path.join(empty, 'llm', 'config.json'))).toBe(true);
  });
});
