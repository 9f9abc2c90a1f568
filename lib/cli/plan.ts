/** `trt-vla plan`: one trajectory from camera images and an ego history. */
import { parseArgs } from 'node:util';

import { frameFromImage } from '../frameFromImage.js';
import { progressLine } from './progress.js';
import { printModelWarnings } from './warnings.js';
import { LOAD_STAGES, loadModel, type Model } from '../model/Model.js';
import type { PlanResult } from '../model/types.js';
import { loadEgoHistory } from '../prompt/egoHistory.js';
import { invalidArgument } from '../validate.js';

const HELP = `Usage: trt-vla plan --model DIR --image FILE [--image FILE ...] --history FILE
                    [--format nuscenes|q7] [--mode fast|slow] [--backend auto|cpu|tensorrt]
                    [--threads N] [--max-tokens N] [--unconstrained] [--viz FILE.png] [--json]
                    [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                    [--lm-head auto|fp16|q8]

Plans the next waypoints (x forward, y left, metres) from JPEG/PNG camera images (nuScenes: the
front camera; q7: 1 or 3 views: front, front-right, front-left) and an ego-history JSON file (an
array of { t, x, y, ax?, ay?, vx?, vy?, speed?, steering? } oldest first, t <= 0 at 0.5 s steps,
ending with t = 0 at the origin). --json prints the whole PlanResult. --viz draws the trajectory.`;

function formatPlan(plan: PlanResult, model: Model): string {
  const t = plan.timings;
  const lines = [`backend ${model.backend.backend} (${model.backend.reason})`, '', 'waypoints (x forward, y left, metres):'];
  for (const w of plan.waypoints) lines.push(`  t=${w.t.toFixed(1)}s  x=${w.x.toFixed(2).padStart(8)}  y=${w.y.toFixed(2).padStart(8)}`);
  if (!plan.complete) lines.push(`  (incomplete: ${plan.waypoints.length} waypoints)`);
  for (const [section, text] of Object.entries(plan.reasoning)) lines.push('', `${section}:`, `  ${text}`);
  lines.push('', `answer: ${plan.text}`);
  if (plan.feasibility) {
    const v = plan.feasibility.violations;
    lines.push('', v.length === 0 ? 'feasibility: within limits' : `feasibility: ${v.length} violation(s)`);
    for (const x of v) lines.push(`  step ${x.step} (t=${x.t}s): ${x.quantity} ${x.value.toFixed(2)} beyond ${x.limit.toFixed(2)}`);
  }
  for (const d of plan.diagnostics) lines.push(`format: ${d.code}: ${d.message}`);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  lines.push(
    '',
    `timings: preprocess ${ms(t.preprocessMs)}, vision ${ms(t.visionMs)}, embed ${ms(t.embedMs)}, prefill ${ms(t.prefillMs)}, ` +
      `decode ${ms(t.decodeMs)}, first token ${ms(t.firstTokenMs)}, total ${ms(t.endToEndMs)}`,
    `tokens: prompt ${t.promptTokens} (${t.imageTokens} image, ${t.cachedPromptTokens} cached), generated ${t.generatedTokens} ` +
      `(${t.forcedTokens} forced), forward passes ${t.forwardPasses}`,
  );
  return lines.join('\n');
}

export const planCommand = {
  summary: 'plan a trajectory from camera images and an ego history',
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        image: { type: 'string', multiple: true },
        history: { type: 'string' },
        format: { type: 'string', default: 'nuscenes' },
        mode: { type: 'string', default: 'fast' },
        backend: { type: 'string', default: 'auto' },
        threads: { type: 'string' },
        plugin: { type: 'string' },
        'no-cuda-graphs': { type: 'boolean', default: false },
        'lm-head': { type: 'string', default: 'auto' },
        'max-tokens': { type: 'string' },
        unconstrained: { type: 'boolean', default: false },
        viz: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.model) throw invalidArgument('--model', 'a model directory', values.model);
    if (!values.image?.length) throw invalidArgument('--image', 'at least one image file', values.image);
    if (!values.history) throw invalidArgument('--history', 'an ego history JSON file', values.history);
    if (values.format !== 'nuscenes' && values.format !== 'q7') throw invalidArgument('--format', "'nuscenes' or 'q7'", values.format);
    if (values.mode !== 'fast' && values.mode !== 'slow') throw invalidArgument('--mode', "'fast' or 'slow'", values.mode);
    const history = await loadEgoHistory(values.history);
    const loading = progressLine('loading the model', LOAD_STAGES.length);
    await using model = await loadModel(values.model, {
      backend: values.backend as 'auto',
      threads: values.threads === undefined ? undefined : Number(values.threads),
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
      lmHead: values['lm-head'] as 'auto',
      onProgress: (p) => loading.update(p.done, p.stage),
    });
    printModelWarnings(model.warnings);
    const images = await Promise.all(values.image.map((f) => frameFromImage(model, f)));
    const plan = await model.plan({
      images,
      history,
      format: values.format,
      mode: values.mode,
      constrained: !values.unconstrained,
      maxTokens: values['max-tokens'] === undefined ? undefined : Number(values['max-tokens']),
    });
    if (values.viz) {
      const { drawPlan } = await import('../bench/planViz.js');
      await drawPlan(values.viz, plan, history, values.image[0]);
    }
    console.log(values.json ? JSON.stringify({ ...plan, tokens: Array.from(plan.tokens) }, null, 2) : formatPlan(plan, model));
    return plan.complete ? 0 : 3;
  },
};
