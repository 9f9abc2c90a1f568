/** `trt-vla bench`: the FPS benchmark (see lib/bench/fpsBench.ts). */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { benchHtml } from '../bench/benchHtml.js';
import { formatBenchReport, runBench } from '../bench/fpsBench.js';
import { makeModel } from '../model/generate.js';
import { packageRoot } from '../native.js';
import { choiceFlag, inputFileFlag, integerFlag, outputPathFlag, parseFlags } from './args.js';

const USAGE = `Usage: trt-vla bench [--model DIR] [--backend auto|cpu|tensorrt] [--frames N] [--warmup N]
                     [--format nuscenes|q7] [--mode fast|slow] [--sessions K] [--threads N]
                     [--width W --height H] [--unconstrained] [--json FILE] [--html FILE]
                     [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                     [--lm-head auto|fp16|q8]`;

const HELP = `${USAGE}

Runs the whole plan pipeline on synthetic camera frames and ego history and reports per-stage
latency percentiles, time to first token, time per output token, token rates, tokens and forward
passes per plan, end-to-end latency and sustained plans per second (with K concurrent sessions).
Warm-up plans are not counted. Without --model it benchmarks the tiny demo model (generated into
models/demo-tiny-awq on first use) on the CPU backend. --json writes every figure with its unit;
--html writes a self-contained report page.`;

/** The demo model of `npm run bench`: generated once, reused afterwards. */
export async function demoModel(): Promise<string> {
  const dir = path.join(packageRoot, 'models', 'demo-tiny-awq');
  if (!existsSync(path.join(dir, '.complete'))) {
    console.error(`trt-vla bench: generating the tiny demo model in ${dir} (random weights; once)`);
    await makeModel({ preset: 'tiny', quant: 'awq', out: dir, seed: 1 });
    await writeFile(path.join(dir, '.complete'), '');
  }
  return dir;
}

export const benchCommand = {
  summary: 'FPS benchmark of the plan pipeline',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, {
      model: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      frames: { type: 'string' },
      warmup: { type: 'string' },
      format: { type: 'string', default: 'nuscenes' },
      mode: { type: 'string', default: 'fast' },
      sessions: { type: 'string' },
      threads: { type: 'string' },
      plugin: { type: 'string' },
      'no-cuda-graphs': { type: 'boolean', default: false },
      'lm-head': { type: 'string', default: 'auto' },
      width: { type: 'string' },
      height: { type: 'string' },
      unconstrained: { type: 'boolean', default: false },
      json: { type: 'string' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    // Every flag, and both output paths, are checked before the benchmark runs.
    const backend = choiceFlag(values.backend, '--backend', ['auto', 'cpu', 'tensorrt'] as const);
    const format = choiceFlag(values.format, '--format', ['nuscenes', 'q7'] as const);
    const mode = choiceFlag(values.mode, '--mode', ['fast', 'slow'] as const);
    const lmHead = choiceFlag(values['lm-head'], '--lm-head', ['auto', 'fp16', 'q8'] as const);
    const frames = integerFlag(values.frames, '--frames', 1, 1_000_000) ?? 20;
    const warmup = integerFlag(values.warmup, '--warmup', 0, 1_000_000);
    const sessions = integerFlag(values.sessions, '--sessions', 1, 64);
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    const width = integerFlag(values.width, '--width', 28, 1 << 16);
    const height = integerFlag(values.height, '--height', 28, 1 << 16);
    const jsonFile = values.json === undefined ? undefined : outputPathFlag(values.json, '--json');
    const htmlFile = values.html === undefined ? undefined : outputPathFlag(values.html, '--html');
    if (values.plugin !== undefined) inputFileFlag(values.plugin, '--plugin');
    const model = values.model ?? (await demoModel());
    // A progress bar only where a person watches: a terminal, not CI logs or piped output.
    const progress = process.stderr.isTTY === true && !process.env.CI;
    const report = await runBench({
      model,
      backend,
      frames,
      warmup,
      format,
      mode,
      sessions,
      threads,
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
      lmHead,
      width,
      height,
      constrained: !values.unconstrained,
      onPlan: progress
        ? (done, total) => {
            const width = 30;
            const filled = Math.round((done / total) * width);
            process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} plans`);
            if (done === total) process.stderr.write('\n');
          }
        : undefined,
    });
    if (jsonFile) {
      await mkdir(path.dirname(jsonFile), { recursive: true });
      await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    }
    if (htmlFile) {
      await mkdir(path.dirname(htmlFile), { recursive: true });
      await writeFile(htmlFile, benchHtml(report));
    }
    console.log(formatBenchReport(report));
    if (jsonFile) console.log(`\njson   ${jsonFile}`);
    if (htmlFile) console.log(`html   ${htmlFile}`);
    return 0;
  },
};
