/** `trt-vla bench`: the FPS benchmark (see lib/bench/fpsBench.ts). */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { benchHtml } from '../bench/benchHtml.js';
import { formatBenchReport, runBench } from '../bench/fpsBench.js';
import { demoModel, userCacheDir } from '../model/generate.js';
import { LOAD_STAGES } from '../model/Model.js';
import { invalidArgument } from '../validate.js';
import { progressLine, type ProgressLine } from './progress.js';
import { printModelWarnings } from './warnings.js';

const HELP = `Usage: trt-vla bench [--model DIR] [--backend auto|cpu|tensorrt] [--frames N] [--warmup N]
                     [--format nuscenes|q7] [--mode fast|slow] [--sessions K] [--threads N]
                     [--width W --height H] [--unconstrained] [--json FILE] [--html FILE]
                     [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                     [--lm-head auto|fp16|q8]

Runs the whole plan pipeline on synthetic camera frames and ego history and reports per-stage
latency percentiles, time to first token, time per output token, token rates, tokens and forward
passes per plan, end-to-end latency and sustained plans per second (with K concurrent sessions).
Warm-up plans are not counted. Without --model it benchmarks the tiny demo model (random weights,
generated into ${userCacheDir()} on first use) on the CPU backend. --json writes every figure with its unit;
--html writes a self-contained report page.`;

function integer(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw invalidArgument(name, `an integer >= ${min}`, value);
  return n;
}

export const benchCommand = {
  summary: 'FPS benchmark of the plan pipeline',
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({
      args: argv,
      options: {
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
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!['auto', 'cpu', 'tensorrt'].includes(values.backend)) throw invalidArgument('--backend', "'auto', 'cpu' or 'tensorrt'", values.backend);
    if (values.format !== 'nuscenes' && values.format !== 'q7') throw invalidArgument('--format', "'nuscenes' or 'q7'", values.format);
    if (values.mode !== 'fast' && values.mode !== 'slow') throw invalidArgument('--mode', "'fast' or 'slow'", values.mode);
    const model =
      values.model ??
      (await demoModel((dir) => console.error(`trt-vla bench: generating the tiny demo model (random weights; once) in ${dir}`)));
    const frames = integer(values.frames, '--frames', 1) ?? 20;
    const loading = progressLine('loading the model', LOAD_STAGES.length);
    // Started once the model is ready, so that its ETA counts plans (warm-up included), not loading.
    let planning: ProgressLine | undefined;
    const report = await runBench({
      model,
      backend: values.backend as 'auto',
      frames,
      warmup: integer(values.warmup, '--warmup', 0),
      format: values.format,
      mode: values.mode,
      sessions: integer(values.sessions, '--sessions', 1),
      threads: integer(values.threads, '--threads', 1),
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
      lmHead: values['lm-head'] as 'auto',
      width: integer(values.width, '--width', 28),
      height: integer(values.height, '--height', 28),
      constrained: !values.unconstrained,
      onLoadProgress: (p) => {
        loading.update(p.done, p.stage);
        if (p.stage === 'ready') planning = progressLine('bench', frames);
      },
      onPlan: (done) => planning?.update(done, 'plans'),
    });
    if (values.json) {
      await mkdir(path.dirname(path.resolve(values.json)), { recursive: true });
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    }
    if (values.html) {
      await mkdir(path.dirname(path.resolve(values.html)), { recursive: true });
      await writeFile(values.html, benchHtml(report));
    }
    printModelWarnings(report.config.warnings);
    console.log(formatBenchReport(report));
    if (values.json) console.log(`\njson   ${path.resolve(values.json)}`);
    if (values.html) console.log(`html   ${path.resolve(values.html)}`);
    return 0;
  },
};
