/** `trt-vla make-model`: writes a Qwen2.5-VL-shaped checkpoint with seeded random weights. */
import { makeModel } from '../model/generate.js';
import { MODEL_PRESETS } from '../model/presets.js';
import { choiceFlag, integerFlag, outputPathFlag, parseFlags, requiredFlag } from './args.js';

const USAGE = 'Usage: trt-vla make-model --preset tiny|small|0.5b-shape|3b-shape [--quant awq|fp16] --out DIR [--seed N] [--threads N]';

const HELP = `${USAGE}

Writes a Qwen2.5-VL-shaped model with seeded random weights (same seed -> same bytes) in the bundle
layout (DIR/llm, DIR/visual) with the real Qwen tokenizer. 'tiny' runs a whole plan in milliseconds;
'3b-shape' has the real Qwen2.5-VL-3B dimensions (several GB; for benchmarks), '0.5b-shape' Qwen2.5-0.5B's
decoder dimensions with a small vision tower (for benchmarks). --quant awq (default)
stores the decoder's linear layers as AutoAWQ int4 (round-to-nearest).`;

export const makeModelCommand = {
  summary: 'write a Qwen2.5-VL-shaped model with seeded random weights',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, {
      preset: { type: 'string' },
      quant: { type: 'string', default: 'awq' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const preset = choiceFlag(values.preset, '--preset', MODEL_PRESETS);
    const quant = choiceFlag(values.quant, '--quant', ['awq', 'fp16'] as const);
    const out = outputPathFlag(requiredFlag(values.out, '--out', 'an output directory'), '--out', 'directory');
    const seed = integerFlag(values.seed, '--seed', 0)!;
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    const started = performance.now();
    const dir = await makeModel({ preset, quant, out, seed, threads });
    console.log(`wrote ${preset} (${quant}, seed ${seed}) to ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  },
};
