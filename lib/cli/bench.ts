/** `trt-vla bench`: the FPS benchmark (see lib/bench/fpsBench.ts). */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { benchHtml } from '../bench/benchHtml.js';
import { formatBenchReport, runBench } from '../bench/fpsBench.js';
import { demoModel, userCacheDir } from '../model/generate.js';
import { LOAD_STAGES, type LoadModelOptions } from '../model/Model.js';
import { MAX_DRAFT_LIMIT } from '../model/speculation.js';
import { recordPlans } from '../record/planRecord.js';
import { choiceFlag, inputFileFlag, integerFlag, outputPathFlag, parseFlags, UsageError } from './args.js';
import { recordFolderFlag } from './batch.js';
import { progressLine, type ProgressLine } from './progress.js';
import { printModelWarnings } from './warnings.js';

const USAGE = `Usage: trt-vla bench [--model DIR] [--backend auto|cpu|tensorrt] [--frames N] [--warmup N]
                     [--format nuscenes|q7] [--mode fast|slow] [--sessions K] [--threads N]
                     [--width W --height H] [--unconstrained] [--json FILE] [--html FILE]
                     [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                     [--lm-head auto|fp16|q8] [--speculation auto|off|N] [--record DIR]`;

const HELP = `${USAGE}

Runs the whole plan pipeline on synthetic camera frames and ego history and reports per-stage
latency percentiles, time to first token, time per output token, token rates, tokens and forward
passes per plan, end-to-end latency and sustained plans per second (with K concurrent sessions).
Warm-up plans are not counted. Without --model it benchmarks the tiny demo model (random weights,
generated into ${userCacheDir()} on first use) on the CPU backend. --json writes every figure with its unit;
--html writes a self-contained report page. --record DIR keeps each measured plan's inputs (the
synthetic frames as PNG) and outputs in DIR/NNNN/ for \`trt-vla replay DIR\` (written after the
timed run, so recording does not change the figures). --speculation: speculative waypoint decoding
(LoadModelOptions.speculation: auto, off, or N drafted tokens per verify call); the report gives passes per
token and the share of drafted tokens the model accepted.`;

/** --speculation auto|off|N (LoadModelOptions.speculation). */
function speculationFlag(value: string | undefined): LoadModelOptions['speculation'] {
  if (value === undefined || value === 'auto' || value === 'off') return value ?? 'auto';
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_DRAFT_LIMIT) return { maxDraft: Number(value) };
  throw new UsageError(`--speculation must be auto, off or a number of drafted tokens from 1 to ${MAX_DRAFT_LIMIT}, got '${value}'`);
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
      speculation: { type: 'string', default: 'auto' },
      width: { type: 'string' },
      height: { type: 'string' },
      unconstrained: { type: 'boolean', default: false },
      json: { type: 'string' },
      html: { type: 'string' },
      record: { type: 'string' },
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
    const speculation = speculationFlag(values.speculation);
    const frames = integerFlag(values.frames, '--frames', 1, 1_000_000) ?? 20;
    const warmup = integerFlag(values.warmup, '--warmup', 0, 1_000_000);
    const sessions = integerFlag(values.sessions, '--sessions', 1, 64);
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    const width = integerFlag(values.width, '--width', 28, 1 << 16);
    const height = integerFlag(values.height, '--height', 28, 1 << 16);
    const jsonFile = values.json === undefined ? undefined : outputPathFlag(values.json, '--json');
    const htmlFile = values.html === undefined ? undefined : outputPathFlag(values.html, '--html');
    if (values.plugin !== undefined) inputFileFlag(values.plugin, '--plugin');
    const record = recordFolderFlag(values.record);
    const model =
      values.model ??
      (await demoModel((dir) => console.error(`trt-vla bench: generating the tiny demo model (random weights; once) in ${dir}`)));
    const loading = progressLine('loading the model', LOAD_STAGES.length);
    // Started once the model is ready, so that its ETA counts plans (warm-up included), not loading.
    let planning: ProgressLine | undefined;
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
      speculation,
      width,
      height,
      constrained: !values.unconstrained,
      onLoadProgress: (p) => {
        loading.update(p.done, p.stage);
        if (p.stage === 'ready') planning = progressLine('bench', frames);
      },
      onPlan: (done) => planning?.update(done, 'plans'),
      ...(record && { afterRun: (loaded, plans) => recordPlans(record, 'bench', loaded, plans) }),
    });
    if (jsonFile) {
      await mkdir(path.dirname(jsonFile), { recursive: true });
      await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    }
    if (htmlFile) {
      await mkdir(path.dirname(htmlFile), { recursive: true });
      await writeFile(htmlFile, benchHtml(report));
    }
    printModelWarnings(report.config.warnings);
    console.log(formatBenchReport(report));
    if (jsonFile) console.log(`\njson   ${jsonFile}`);
    if (htmlFile) console.log(`html   ${htmlFile}`);
    if (record) console.log(`record ${record}`);
    return 0;
  },
};
