// `trt-vla quantize` on the folders `make-model` writes (bundles): the int4 output is a bundle that loads
// and plans, keeps the random-weights mark, and an already-quantized model is refused with a reason.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../lib/index.js';
import { RANDOM_WEIGHTS_WARNING } from '../../lib/model/bundle.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const HISTORY = [
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, speed: 4.05, steering: 0.3 },
];

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-quantize-'));
});

describe('trt-vla quantize on make-model bundles', () => {
  it('an fp16 bundle becomes an int4 bundle that loads and plans', async () => {
    const fp16 = await testModel('tiny', 'fp16');
    const out = path.join(scratch, 'int4');
    const result = run(['quantize', '--in', fp16, '--out', out]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^trt-vla: quantize 2\/2 configs, tokenizer and vision tower copied \(\d+ s\)$/m); // progress, plain lines when piped
    expect(result.stdout).toMatch(/quantized 14 layers/); // 2 layers x 7 linear layers
    for (const f of ['llm/model.safetensors', 'llm/embedding.safetensors', 'llm/tokenizer.json', 'llm/generation_config.json', 'visual/model.safetensors', 'visual/preprocessor_config.json']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const config = JSON.parse(readFileSync(path.join(out, 'llm', 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'awq', bits: 4, group_size: 128 });

    const weightBytes = async (dir: string) => {
      await using model = await loadModel(dir);
      return model.description.weightBytes;
    };
    await using int4 = await loadModel(out);
    expect(int4.files.layout).toBe('bundle');
    expect(int4.warnings).toEqual([RANDOM_WEIGHTS_WARNING]);
    const frame = int4.allocFrame({ width: 64, height: 64, format: 'rgb8' });
    frame.data.fill(120);
    const plan = await int4.plan({ images: [frame], history: HISTORY });
    expect(plan.complete).toBe(true);
    expect(int4.description.weightBytes).toBeLessThan(await weightBytes(fp16));
  });

  it('refuses an already-quantized model (the default AWQ bundle, its own output) and says what to quantize instead', async () => {
    const awq = await testModel('tiny', 'awq');
    const result = run(['quantize', '--in', awq, '--out', path.join(scratch, 'again')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ERR_INVALID_ARGUMENT: .* is already quantized \(quantization_config: awq\); quantize a bf16 \/ fp16 \/ fp32 checkpoint/);
    expect(existsSync(path.join(scratch, 'again'))).toBe(false);
  });

  it('a folder that is no model names both accepted layouts', () => {
    const result = run(['quantize', '--in', scratch, '--out', path.join(scratch, 'x')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ERR_MODEL_LOAD: .* is neither a trt-vla \/ TensorRT Edge-LLM bundle .* nor a Hugging Face Qwen2.5-VL checkpoint/);
  });
});
