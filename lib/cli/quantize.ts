/** `trt-vla quantize`: round-to-nearest int4 (AutoAWQ packing) of a bf16/fp16 Qwen2.5-VL checkpoint. */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { statSync } from 'node:fs';

import { TrtVlaError } from '../errors.js';
import { native } from '../native.js';
import { flagError, outputPathFlag, parseFlags, requiredFlag, UsageError } from './args.js';

const USAGE = 'Usage: trt-vla quantize --in CHECKPOINT_DIR --out DIR';

const HELP = `${USAGE}

Quantizes the decoder's linear layers (q/k/v/o, gate/up/down) of a Hugging Face Qwen2.5-VL checkpoint
(bf16, fp16 or fp32 safetensors) to int4 with round-to-nearest per 128-input group, written as AutoAWQ
"GEMM" tensors (qweight / qzeros / scales), so the CPU backend runs it with int4 weights. The vision
tower, embeddings, norms and LM head are copied unchanged; config, tokenizer and preprocessor files
are copied, with an AWQ quantization_config added. This is RTN, not AWQ's activation-aware calibration:
expect somewhat lower accuracy than a calibrated AWQ checkpoint.`;

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
    const files = (await readdir(input)).sort();
    const weights = files.filter((f) => f.endsWith('.safetensors')).map((f) => path.join(input, f));
    if (weights.length === 0) throw new TrtVlaError('ERR_MODEL_LOAD', `no *.safetensors files in ${input}`);
    await mkdir(output, { recursive: true });
    const report = await native().quantizeCheckpoint(weights, path.join(output, 'model.safetensors'));
    for (const f of files) {
      if (f.endsWith('.safetensors') || f === 'model.safetensors.index.json' || !f.endsWith('.json')) continue;
      if (f === 'config.json') {
        const config = JSON.parse(await readFile(path.join(input, f), 'utf8')) as Record<string, unknown>;
        config.quantization_config = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm', calibration: 'none (round-to-nearest, trt-vla quantize)' };
        await writeFile(path.join(output, f), `${JSON.stringify(config, null, 2)}\n`);
      } else {
        await copyFile(path.join(input, f), path.join(output, f));
      }
    }
    const gb = (b: number) => (b / 2 ** 30).toFixed(2);
    console.log(`quantized ${report.quantizedLayers} layers, copied ${report.copiedTensors} tensors: ${gb(report.bytesIn)} GiB -> ${gb(report.bytesOut)} GiB in ${output}`);
    return 0;
  },
};
