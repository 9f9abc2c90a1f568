/** `trt-vla replay DIR`: re-runs the plans a `--record DIR` run kept and compares them with the record. */
import { statSync } from 'node:fs';

import { modelFingerprint, readRecord } from '../record/planRecord.js';
import { comparePlan, replayPlan, summarize, type PlanComparison, type ReplaySummary } from '../record/replay.js';
import { choiceFlag, inputFileFlag, integerFlag, parseFlags, UsageError } from './args.js';
import { progressLine } from './progress.js';
import { loadCliModel } from './loadCliModel.js';

const USAGE = `Usage: trt-vla replay RECORD_DIR [--model DIR] [--backend auto|cpu|tensorrt] [--threads N]
                      [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                      [--lm-head auto|fp16|q8] [--allow-diff] [--json]`;

const HELP = `${USAGE}

Re-runs every plan of a folder written by \`trt-vla plan --record\` or \`trt-vla bench --record\`, with
its recorded images, history, options and sampling, on the recorded model folder (or --model), and
compares: the generated tokens (exactly), the waypoints (largest coordinate difference, metres) and
the end-to-end time (replayed / recorded). Exit code 3 when some plan's tokens differ, unless
--allow-diff (for comparing another model or backend on purpose). --json prints the comparison.`;

const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

function formatComparison(p: PlanComparison): string {
  const name = p.id === undefined ? p.name : `${p.name} ${p.id}`;
  const tokens = p.tokensIdentical
    ? `tokens identical (${p.recordedTokens})`
    : `tokens DIFFER from #${p.firstTokenDiff} (${p.recordedTokens} recorded, ${p.replayedTokens} replayed)`;
  return `  ${name.padEnd(16)} ${tokens.padEnd(34)} waypoints max diff ${fixed(p.waypointMaxDiff, 4)} m  time ${fixed(p.timingRatio, 2)}x (${fixed(p.recordedMs, 1)} -> ${fixed(p.replayedMs, 1)} ms)`;
}

function formatSummary(s: ReplaySummary): string {
  return (
    `${s.plans.length} plans: ${s.tokenMismatches} with different tokens, waypoint max diff ${fixed(s.waypointMaxDiff, 4)} m, ` +
    `median time ratio ${fixed(s.medianTimingRatio, 2)}x`
  );
}

export const replayCommand = {
  summary: 're-run a recorded plan / bench run and compare tokens, waypoints and timings',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const positional = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
    const values = parseFlags(positional === undefined ? argv : argv.slice(1), {
      model: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      plugin: { type: 'string' },
      'no-cuda-graphs': { type: 'boolean', default: false },
      'lm-head': { type: 'string', default: 'auto' },
      'allow-diff': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positional === undefined) throw new UsageError('a record folder is required (written by plan/bench --record DIR)');
    let isDir = false;
    try {
      isDir = statSync(positional).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new UsageError(`${positional}: not a folder`);
    const backend = choiceFlag(values.backend, '--backend', ['auto', 'cpu', 'tensorrt'] as const);
    const lmHead = choiceFlag(values['lm-head'], '--lm-head', ['auto', 'fp16', 'q8'] as const);
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    if (values.plugin !== undefined) inputFileFlag(values.plugin, '--plugin');
    const { run, plans } = await readRecord(positional);
    const modelDir = values.model ?? run.model.dir;
    await using model = await loadCliModel(modelDir, {
      backend,
      threads,
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
      lmHead,
    });
    const fingerprint = modelFingerprint(model.description);
    const sameModel = fingerprint === run.model.fingerprint;
    const progress = progressLine('replaying', plans.length);
    const comparisons: PlanComparison[] = [];
    for (const [i, recorded] of plans.entries()) {
      comparisons.push(comparePlan(recorded, await replayPlan(model, recorded)));
      progress.update(i + 1, 'plans');
    }
    const summary = summarize(comparisons);
    if (values.json) {
      const models = { recorded: run.model, replayed: { dir: model.dir, fingerprint, description: model.description }, sameFingerprint: sameModel };
      console.log(JSON.stringify({ ...summary, models }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2));
    } else {
      console.log(`replaying ${plans.length} plans recorded by \`trt-vla ${run.command}\` on ${run.model.dir} (model ${run.model.fingerprint})`);
      console.log(`with ${model.dir} (model ${fingerprint}${sameModel ? ', same description' : ', DIFFERENT description: tokens may differ'})\n`);
      for (const p of comparisons) console.log(formatComparison(p));
      console.log(`\n${formatSummary(summary)}`);
    }
    return summary.tokenMismatches > 0 && !values['allow-diff'] ? 3 : 0;
  },
};
