// Which Edge-LLM release made a bundle (config.json edgellm_version, written by Edge-LLM 0.6.1
// tensorrt_edgellm/onnx_export/config_export.py:237,288) and the sampling defaults of a bundle without
// generation_config.json (Edge-LLM's export and llm_build never write one: llm_export.py:986-993,
// llmBuilder.cpp:770-771): refused releases, the description, the load warning, `trt-vla info --model`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, setLogHandler, type LogEntry } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { engineReleaseProblem } from '../../lib/model/engineRelease.js';
import { packageRoot } from '../../lib/native.js';
import { modelVariant, testModel } from '../helpers/models.js';

const withVersion = (version: unknown) => (json: Record<string, unknown>) => ({ ...json, edgellm_version: version });
const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');

let tiny: string;
beforeAll(async () => {
  tiny = await testModel('tiny', 'awq');
});
afterEach(() => setLogHandler(null));

describe('Edge-LLM release check', () => {
  it('a bundle without edgellm_version and without engines (CPU weights) needs none', () => {
    const files = resolveModelFiles(tiny);
    expect(engineReleaseProblem(files, 'cpu')).toBeUndefined();
    expect(engineReleaseProblem(files, 'tensorrt')).toBeUndefined();
  });

  for (const version of ['0.7.0', '0.5.0', '0.4.0', '1.6.1', 'v0.6.1', '0.6']) {
    it(`refuses a bundle recorded as ${version}, saying what was found and what is supported`, async () => {
      const dir = modelVariant(tiny, { 'llm/config.json': withVersion(version), 'visual/config.json': withVersion(version) });
      await expect(loadModel(dir, { backend: 'cpu', threads: 1 })).rejects.toMatchObject({
        code: 'ERR_ENGINE_INCOMPATIBLE',
        message: expect.stringContaining(`llm/config.json was written by TensorRT Edge-LLM ${version}; trt-vla runs engines of Edge-LLM 0.6.x (0.6.0, 0.6.1) only`),
      });
    });
  }

  it('refuses a visual engine of another release next to a 0.6.1 LLM', () => {
    const dir = modelVariant(tiny, { 'llm/config.json': withVersion('0.6.1'), 'visual/config.json': withVersion('0.7.1') });
    expect(engineReleaseProblem(resolveModelFiles(dir), 'cpu')).toMatch(/visual\/config.json was written by TensorRT Edge-LLM 0.7.1/);
  });

  it('TensorRT engines without edgellm_version are refused where they would load (older than 0.4.0 or not Edge-LLM)', () => {
    const dir = modelVariant(tiny, {});
    writeFileSync(path.join(dir, 'llm', 'llm.engine'), 'not a plan');
    const files = resolveModelFiles(dir);
    expect(engineReleaseProblem(files, 'tensorrt')).toMatch(/llm\/config.json has no edgellm_version, which TensorRT Edge-LLM writes into every export since 0.4.0/);
    expect(engineReleaseProblem(files, 'cpu')).toBeUndefined(); // the CPU backend runs the weights, not the engine
  });

  it('loads a 0.6.x bundle and reports the release in model.description', async () => {
    const dir = modelVariant(tiny, { 'llm/config.json': withVersion('0.6.1'), 'visual/config.json': withVersion('0.6.1') });
    await using model = await loadModel(dir, { backend: 'cpu', threads: 1 });
    expect(model.description.edgellmVersion).toBe('0.6.1');
    await using plain = await loadModel(tiny, { backend: 'cpu', threads: 1 });
    expect(plain.description.edgellmVersion).toBeUndefined();
  });
});

describe('sampling defaults without generation_config.json', () => {
  it("a bundle with it decodes with the checkpoint's values, and says where they come from", async () => {
    await using model = await loadModel(tiny, { backend: 'cpu', threads: 1 });
    // lib/model/generate.ts writes the Impromptu checkpoints' reported values.
    expect(model.description.sampling).toEqual({ temperature: 0.1, topK: 1, topP: 0.001, repetitionPenalty: 1.05, seed: 0, source: path.join('llm', 'generation_config.json') });
  });

  it('a bundle without it (as Edge-LLM writes them) warns at load and reports greedy, no penalty', async () => {
    const dir = modelVariant(tiny, { 'llm/generation_config.json': null });
    const entries: LogEntry[] = [];
    setLogHandler((e) => entries.push(e));
    await using model = await loadModel(dir, { backend: 'cpu', threads: 1 });
    await new Promise((r) => setTimeout(r, 50));
    const warning = entries.find((e) => e.level === 'warning' && e.source === 'model');
    expect(warning?.message).toMatch(/generation_config.json is missing \(TensorRT Edge-LLM's export does not write it\): sampling defaults to greedy decoding without a repetition penalty/);
    expect(model.description.sampling).toEqual({
      temperature: 0,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      seed: 0,
      source: 'built-in defaults (greedy, repetition_penalty 1): the model has no generation_config.json',
    });
  });
});

describe('trt-vla info --model', () => {
  it('reports the release, the build flags, the sampling defaults and why a backend would refuse the folder', () => {
    const build = { min_image_tokens: 64, max_image_tokens: 1024, max_image_tokens_per_image: 512 };
    const dir = modelVariant(tiny, {
      'llm/config.json': withVersion('0.6.1'),
      'visual/config.json': (json) => ({ ...json, edgellm_version: '0.6.1', builder_config: build }),
      'llm/generation_config.json': null,
    });
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json', '--model', dir], { encoding: 'utf8' }));
    expect(json.model.release).toEqual({ edgellmVersion: '0.6.1', llm: '0.6.1', visual: '0.6.1', visualBuilderConfig: build });
    expect(json.model.releaseProblems).toEqual({});
    expect(json.model.sampling).toMatchObject({ temperature: 0, repetitionPenalty: 1, source: expect.stringMatching(/no generation_config.json/) });
    const text = execFileSync(process.execPath, [cli, 'info', '--model', modelVariant(tiny, { 'llm/config.json': withVersion('0.7.0') })], { encoding: 'utf8' });
    expect(text).toMatch(/^edge-llm {3}0\.7\.0$/m);
    expect(text).toMatch(/^refused {4}on cpu: llm\/config.json was written by TensorRT Edge-LLM 0.7.0/m);
    expect(text).toMatch(/^sampling {3}temperature 0.1, top_k 1, top_p 0.001, repetition_penalty 1.05 \(from llm\/generation_config.json\)$/m);
  });
});
