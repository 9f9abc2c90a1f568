/** `trt-vla quantize`: round-to-nearest int4 (AutoAWQ packing) of a bf16/fp16 Qwen2.5-VL checkpoint. */
import { copyFile, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { statSync } from 'node:fs';

import { TrtVlaError } from '../errors.js';
import { resolveModelFiles } from '../model/bundle.js';
import { native } from '../native.js';
import { flagError, outputPathFlag, parseFlags, requiredFlag, UsageError } from './args.js';
import { progressLine } from './progress.js';

const USAGE = 'Usage: trt-vla quantize --in MODEL_DIR --out DIR';

const HELP = `${USAGE}

Quantizes the decoder's linear layers (q/k/v/o, gate/up/down) of a Qwen2.5-VL model with bf16, fp16 or
fp32 safetensors to int4 with round-to-nearest per 128-input group, written as AutoAWQ "GEMM" tensors
(qweight / qzeros / scales), so the CPU backend runs it with int4 weights. MODEL_DIR is a Hugging Face
checkpoint folder (config.json with vision_config; the output is one too) or a bundle (llm/ + visual/,
as \`make-model --quant fp16\` writes it; the output is a bundle). The vision tower, embeddings, norms
and LM head are copied unchanged; config, tokenizer and preprocessor files are copied, with an AWQ
quantization_config added. This is RTN, not AWQ's activation-aware calibration: expect somewhat lower
accuracy than a calibrated AWQ checkpoint.`;

/** Files of a model folder that the output needs besides the quantized weights. */
function keptFile(name: string, weightFiles: readonly string[]): boolean {
  if (weightFiles.includes(name) || name === 'model.safetensors.index.json') return false;
  // The bundle's embedding table and reduced-vocabulary map stay as they are; of the rest, only the
  // JSON files (config, tokenizer, generation and preprocessor configs) matter to the CPU backend.
  return name.endsWith('.json') || name === 'embedding.safetensors' || name === 'vocab_map.safetensors';
}

export const quantizeCommand = {
  summary: 'int4 round-to-nearest quantization of a bf16 checkpoint (AutoAWQ packing)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, { in: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const input = path.resolve(requiredFlag(values.in, '--in', 'a checkpoint directory'));
    const output = outputPathFlag(requiredFlag(values.out, '--out', 'an output directory'), '--out', 'directory');
    if (input === output) throw flagError('--out', 'a directory other than --in', values.out);
    try {
      if (!statSync(input).isDirectory()) throw new UsageError(`--in ${values.in}: not a directory`);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`--in ${values.in}: no such directory`);
    }
    const files = resolveModelFiles(input);
    const existing = files.llm.config.quantization_config as { quant_method?: unknown } | undefined;
    if (existing !== undefined) {
      throw new TrtVlaError(
        'ERR_INVALID_ARGUMENT',
        `${input} is already quantized (quantization_config: ${String(existing.quant_method ?? 'unknown method')}); ` +
          'quantize a bf16 / fp16 / fp32 checkpoint (e.g. one from `trt-vla make-model --quant fp16`)',
      );
    }
    if (files.llm.weightFiles.length === 0) {
      throw new TrtVlaError('ERR_MODEL_LOAD', `no decoder *.safetensors weights in ${path.dirname(files.llm.configPath)} (TensorRT engines cannot be re-quantized)`);
    }
    const bundle = files.layout === 'bundle';
    const llmIn = path.dirname(files.llm.configPath);
    const llmOut = bundle ? path.join(output, 'llm') : output;
    await mkdir(llmOut, { recursive: true });
    // One native call quantizes every layer; the line says what is running and, after, how long it took.
    const progress = progressLine('quantize', 2);
    progress.update(0, `decoder weights (${files.llm.weightFiles.length} file(s))`);
    const report = await native().quantizeCheckpoint(files.llm.weightFiles, path.join(llmOut, 'model.safetensors'));
    progress.update(1, 'decoder weights quantized');
    const weightNames = files.llm.weightFiles.map((f) => path.basename(f));
    for (const f of (await readdir(llmIn)).sort()) {
      if (!keptFile(f, weightNames)) continue;
      if (f === 'config.json') {
        const config = JSON.parse(await readFile(path.join(llmIn, f), 'utf8')) as Record<string, unknown>;
        config.quantization_config = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm', calibration: 'none (round-to-nearest, trt-vla quantize)' };
        await writeFile(path.join(llmOut, f), `${JSON.stringify(config, null, 2)}\n`);
      } else {
        await copyFile(path.join(llmIn, f), path.join(llmOut, f));
      }
    }
    if (bundle) {
      // The vision tower is not quantized: its folder is copied as is, without an engine built for other weights.
      const visualIn = path.dirname(files.visual.configPath);
      await cp(visualIn, path.join(output, 'visual'), { recursive: true, filter: (from) => !from.endsWith('.engine') });
    }
    progress.update(2, 'configs, tokenizer and vision tower copied');
    const gb = (b: number) => (b / 2 ** 30).toFixed(2);
    console.log(`quantized ${report.quantizedLayers} layers, copied ${report.copiedTensors} tensors: ${gb(report.bytesIn)} GiB -> ${gb(report.bytesOut)} GiB in ${output}`);
    return 0;
  },
};
