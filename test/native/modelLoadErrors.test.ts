// Corrupt or inconsistent model files give ERR_MODEL_LOAD naming the file, tensor and reason; never a
// crash or an over-read (this file also runs under AddressSanitizer in CI).
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { engineLoaders } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';

let model: string;
let config: string;

beforeAll(async () => {
  model = await testModel('tiny', 'awq');
  config = readFileSync(path.join(model, 'llm', 'config.json'), 'utf8');
});

function scratchDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'trt-vla-corrupt-'));
}

async function loadWith(weightFile: string, configText = config) {
  return engineLoaders().loadCpuLlmEngine({
    config: configText,
    configName: 'llm/config.json',
    weightFiles: [weightFile],
    embeddingFile: path.join(model, 'llm', 'embedding.safetensors'),
    limits: { maxKvCapacity: 16, maxInputLength: 16 },
  });
}

/** Writes a safetensors file whose header is `header` (JSON text) followed by `dataBytes` zero bytes. */
function rawSafetensors(file: string, header: string, dataBytes: number, declaredLength?: number): void {
  const h = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + h.length + dataBytes);
  out.writeBigUInt64LE(BigInt(declaredLength ?? h.length), 0);
  h.copy(out, 8);
  writeFileSync(file, out);
}

describe('loading corrupt checkpoints', () => {
  it('a truncated file', async () => {
    const file = path.join(scratchDir(), 'model.safetensors');
    const full = readFileSync(path.join(model, 'llm', 'model.safetensors'));
    writeFileSync(file, full.subarray(0, Math.floor(full.length * 0.7)));
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/exceed the data section.*truncated/) });
  });

  it('a file shorter than its header length', async () => {
    const file = path.join(scratchDir(), 'model.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/not a safetensors file/) });
    rawSafetensors(file, '{}', 0, 1 << 20);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/truncated/) });
    rawSafetensors(file, '{}', 0, 2 ** 40);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/implausible/) });
  });

  it('a garbled header', async () => {
    const file = path.join(scratchDir(), 'model.safetensors');
    rawSafetensors(file, '{"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]', 4);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/invalid JSON at byte/) });
    rawSafetensors(file, '{"a": {"dtype": "F17", "shape": [2], "data_offsets": [0, 4]}}', 4);
    await expect(loadWith(file)).rejects.toMatchObject({ message: expect.stringMatching(/tensor 'a': unsupported dtype 'F17'/) });
    rawSafetensors(file, '{"a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}}', 4);
    await expect(loadWith(file)).rejects.toMatchObject({ message: expect.stringMatching(/tensor 'a': shape \[3\] of F16 needs 6 bytes but data_offsets span 4/) });
    rawSafetensors(file, '{"a": {"dtype": "F16", "shape": [-2], "data_offsets": [0, 4]}}', 4);
    await expect(loadWith(file)).rejects.toMatchObject({ message: expect.stringMatching(/non-negative/) });
    rawSafetensors(file, '{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}', 6);
    await expect(loadWith(file)).rejects.toMatchObject({ message: expect.stringMatching(/overlap/) });
    rawSafetensors(file, '{"a": {"dtype": "U8", "shape": [9007199254740993, 9007199254740993], "data_offsets": [0, 4]}}', 4);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
    rawSafetensors(file, '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', 0);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/nesting too deep/) });
  });

  it('a missing tensor names the tensor', async () => {
    const file = path.join(scratchDir(), 'model.safetensors');
    rawSafetensors(file, '{"model.norm.weight": {"dtype": "F16", "shape": [128], "data_offsets": [0, 256]}}', 256);
    await expect(loadWith(file)).rejects.toMatchObject({
      code: 'ERR_MODEL_LOAD',
      message: expect.stringMatching(/missing tensor 'model\.layers\.0\.input_layernorm\.weight'/),
    });
  });

  it('a config whose dimensions disagree with the weights', async () => {
    const weights = path.join(model, 'llm', 'model.safetensors');
    const wrongHidden = JSON.stringify({ ...JSON.parse(config), hidden_size: 256 });
    await expect(loadWith(weights, wrongHidden)).rejects.toMatchObject({
      code: 'ERR_MODEL_LOAD',
      message: expect.stringMatching(/has shape \[128\] but the config implies \[256\]/),
    });
    const fewerLayers = JSON.stringify({ ...JSON.parse(config), num_hidden_layers: 1 });
    await expect(loadWith(weights, fewerLayers)).rejects.toMatchObject({ message: expect.stringMatching(/more decoder layers/) });
    const badHeads = JSON.stringify({ ...JSON.parse(config), num_key_value_heads: 3 });
    await expect(loadWith(weights, badHeads)).rejects.toMatchObject({ message: expect.stringMatching(/multiple of num_key_value_heads/) });
    const noHidden = { ...JSON.parse(config) };
    delete noHidden.hidden_size;
    await expect(loadWith(weights, JSON.stringify(noHidden))).rejects.toMatchObject({ message: expect.stringMatching(/'hidden_size'/) });
    await expect(loadWith(weights, '{"hidden_size": ')).rejects.toMatchObject({ message: expect.stringMatching(/invalid JSON/) });
  });

  it('a missing file', async () => {
    await expect(loadWith('/nonexistent/model.safetensors')).rejects.toMatchObject({
      code: 'ERR_MODEL_LOAD',
      message: expect.stringMatching(/cannot open \/nonexistent\/model\.safetensors/),
    });
  });

  it('garbage bytes', async () => {
    const file = path.join(scratchDir(), 'model.safetensors');
    let state = 99;
    const bytes = Buffer.alloc(4096, 0).map(() => (state = (state * 1103515245 + 12345) & 0xff));
    writeFileSync(file, bytes);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
    copyFileSync(path.join(model, 'llm', 'config.json'), file);
    await expect(loadWith(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
  });
});
