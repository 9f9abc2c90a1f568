/** `trt-vla make-model`: writes a Qwen2.5-VL-shaped checkpoint with seeded random weights. */
import { cachedModelDir, MAKE_MODEL_STEPS, makeModel, userCacheDir } from '../model/generate.js';
import { MODEL_PRESETS } from '../model/presets.js';
import { choiceFlag, integerFlag, outputPathFlag, parseFlags } from './args.js';
import { progressLine } from './progress.js';

const USAGE = 'Usage: trt-vla make-model --preset tiny|small|0.5b-shape|3b-shape [--quant awq|fp16] [--out DIR] [--seed N] [--threads N]';

const HELP = `${USAGE}

Writes a Qwen2.5-VL-shaped model with seeded random weights (same seed -> same bytes) in the bundle
layout (DIR/llm, DIR/visual) with the real Qwen tokenizer. Without --out it goes to the user cache
(${userCacheDir()}/PRESET-QUANT-seedN-gV). The model is written to a hidden sibling folder and renamed
to DIR at the end: an interrupted run leaves no partial model. DIR must be new, empty or an earlier
make-model output (replaced). 'tiny' runs a whole plan in milliseconds;
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
    const seed = integerFlag(values.seed, '--seed', 0)!;
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    const out = values.out === undefined ? cachedModelDir(preset, quant, seed) : outputPathFlag(values.out, '--out', 'directory');
    const started = performance.now();
    const progress = progressLine(`make-model ${preset}`, MAKE_MODEL_STEPS.length);
    const dir = await makeModel({
      preset,
      quant,
      out,
      seed,
      threads,
      onProgress: (done, _total, step) => progress.update(done, step),
    });
    console.log(`wrote ${preset} (${quant}, seed ${seed}, random weights) to ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  },
};
