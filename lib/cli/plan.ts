/** `trt-vla plan`: one trajectory from camera images and an ego history. */
import { loadCalibration } from '../bench/cameraProjection.js';
import { drawPlan, VIZ_FORMATS, vizFormat } from '../bench/planViz.js';
import { isTrtVlaError } from '../errors.js';
import { frameFromImage } from '../frameFromImage.js';
import type { Model } from '../model/Model.js';
import type { PlanResult } from '../model/types.js';
import { loadEgoHistory } from '../prompt/egoHistory.js';
import { NUSCENES_STATUS_WORDINGS, planHistory } from '../prompt/historyFields.js';
import { effectiveSampling, PlanRecorder, recordedHistory } from '../record/planRecord.js';
import { batchSourceFlags, readManifest, recordFolderFlag, readRecordFolder, runBatch } from './batch.js';
import { choiceFlag, inputFileFlag, integerFlag, outputPathFlag, parseFlags, requiredFlag, UsageError } from './args.js';
import { loadCliModel } from './loadCliModel.js';

const USAGE = `Usage: trt-vla plan --model DIR --image FILE [--image FILE ...] --history FILE
                    [--format nuscenes|q7] [--status-wording speed|velocity-x|none]
                    [--mode fast|slow] [--backend auto|cpu|tensorrt]
                    [--threads N] [--max-tokens N] [--unconstrained] [--json]
                    [--viz FILE.png|.jpg|.webp|.svg] [--calibration FILE.json]
                    [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]
                    [--lm-head auto|fp16|q8] [--record DIR]
       trt-vla plan --model DIR (--manifest FILE.jsonl | --dir FOLDER) [--out PRED.jsonl]
                    [--record DIR] [options above but --image, --history, --viz, --json]`;

const HELP = `${USAGE}

Plans the next waypoints (x forward, y left, metres) from JPEG/PNG camera images (nuScenes: the
front camera; q7: 1 or 3 views: front, front-right, front-left) and an ego-history JSON file (an
array of { t, x, y, ax?, ay?, vx?, vy?, speed?, steering? } oldest first, t <= 0 at 0.5 s steps,
ending with t = 0 at the origin). --json prints the whole PlanResult.

Every entry needs the status fields its prompt prints: nuscenes with --status-wording speed (the
default): ax, ay, speed (or vx), steering; velocity-x: ax, ay, vx, steering; none: positions only.
q7: ax, ay, vx, vy (--status-wording does not apply). A history is checked before the model loads.

--viz draws the trajectory on the first camera image, projected with --calibration (JSON: the
camera intrinsic "camera2image" 3x3 and "camera2ego" 4x4 as NeuroNCAP names them, optional
"imageSize" [w, h] the intrinsics are for; or a nuScenes calibrated_sensor record) or else a
nuScenes CAM_FRONT calibration for 1600x900 (scaled to the image's size), beside a bird's-eye view.
The file's extension picks the format.

Many plans: --manifest reads JSON Lines { "id", "images": [paths relative to the manifest],
"history": [...] | "historyFile": "...", "format"?, "mode"? }; --dir reads one subfolder per record
(its name the id) holding the images (*.jpg, *.jpeg, *.png, in name order) and history.json. Each
plan becomes a line { "id", "waypoints": [[x, y], ...], "answer", "complete" } of --out (default
stdout), which \`trt-vla eval --pred\` reads as is. A record that fails is named on stderr and skipped
(exit 1 at the end). --record DIR keeps each plan's inputs and outputs in DIR/NNNN/ for
\`trt-vla replay DIR\`.`;

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
      `(${t.forcedTokens} forced), forward passes ${t.forwardPasses}` +
      (t.draftedTokens > 0 ? ` (${t.verifyCalls} verifying drafts: ${t.acceptedDraftTokens} of ${t.draftedTokens} drafted tokens accepted)` : ''),
  );
  return lines.join('\n');
}

/** A calibration file that does not parse is a usage error, found before the model loads. */
async function readCalibrationFlag(file: string) {
  try {
    return await loadCalibration(file);
  } catch (e) {
    if (isTrtVlaError(e, 'ERR_INVALID_ARGUMENT')) throw new UsageError(`--calibration ${e.message.replace(/^calibration /, '')}`);
    throw e;
  }
}

export const planCommand = {
  summary: 'plan a trajectory from camera images and an ego history',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, {
      model: { type: 'string' },
      image: { type: 'string', multiple: true },
      history: { type: 'string' },
      format: { type: 'string', default: 'nuscenes' },
      'status-wording': { type: 'string' },
      mode: { type: 'string', default: 'fast' },
      backend: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      plugin: { type: 'string' },
      'no-cuda-graphs': { type: 'boolean', default: false },
      'lm-head': { type: 'string', default: 'auto' },
      'max-tokens': { type: 'string' },
      unconstrained: { type: 'boolean', default: false },
      viz: { type: 'string' },
      calibration: { type: 'string' },
      json: { type: 'boolean', default: false },
      manifest: { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    // Every flag is checked before the model loads: a usage error costs nothing.
    const modelDir = requiredFlag(values.model, '--model', 'a model directory');
    const batch = batchSourceFlags(values);
    const record = recordFolderFlag(values.record);
    if (!batch && !values.image?.length) throw new UsageError('--image is required (a JPEG/PNG camera image; repeat it for 3 views)');
    const imageFiles = batch ? [] : values.image!.map((f) => inputFileFlag(f, '--image'));
    const historyFile = batch ? '' : inputFileFlag(requiredFlag(values.history, '--history', 'an ego history JSON file'), '--history');
    const format = choiceFlag(values.format, '--format', ['nuscenes', 'q7'] as const);
    const statusWording = values['status-wording'] === undefined ? undefined : choiceFlag(values['status-wording'], '--status-wording', NUSCENES_STATUS_WORDINGS);
    if (statusWording !== undefined && format === 'q7' && !batch) throw new UsageError('--status-wording applies to the nuscenes prompt; the q7 prompt has one wording');
    const mode = choiceFlag(values.mode, '--mode', ['fast', 'slow'] as const);
    const backend = choiceFlag(values.backend, '--backend', ['auto', 'cpu', 'tensorrt'] as const);
    const lmHead = choiceFlag(values['lm-head'], '--lm-head', ['auto', 'fp16', 'q8'] as const);
    const threads = integerFlag(values.threads, '--threads', 1, 256);
    const maxTokens = integerFlag(values['max-tokens'], '--max-tokens', 1, 1 << 20);
    const viz = values.viz === undefined ? undefined : outputPathFlag(values.viz, '--viz');
    if (viz && !vizFormat(viz)) throw new UsageError(`--viz ${values.viz}: the extension names no picture format (use ${Object.keys(VIZ_FORMATS).join(', ')})`);
    if (values.calibration !== undefined && !viz) throw new UsageError('--calibration only applies with --viz');
    const calibration = values.calibration === undefined ? undefined : await readCalibrationFlag(inputFileFlag(values.calibration, '--calibration'));
    if (values.plugin !== undefined) inputFileFlag(values.plugin, '--plugin');
    // The history is checked against its prompt's fields here, before the model loads.
    const planned = batch ? undefined : planHistory(format, statusWording, await loadEgoHistory(historyFile), historyFile);
    // A batch is read and checked in full before the model loads.
    const defaults = { format, ...(statusWording !== undefined && { statusWording }) };
    const items = batch && (batch.kind === 'manifest' ? await readManifest(batch.path, defaults) : await readRecordFolder(batch.path, defaults));
    await using model = await loadCliModel(modelDir, {
      backend,
      threads,
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
      lmHead,
    });
    const recorder = record === undefined ? undefined : await PlanRecorder.create(record, 'plan', model);
    if (items) return await runBatch(model, items, { mode, constrained: !values.unconstrained, maxTokens, out: batch.out, recorder });
    const request = planned!;
    const images = await Promise.all(imageFiles.map((f) => frameFromImage(model, f)));
    const plan = await model.plan({ images, ...request, mode, constrained: !values.unconstrained, maxTokens });
    if (recorder) {
      await recorder.add(imageFiles, { ...recordedHistory(request), mode, constrained: !values.unconstrained, ...(maxTokens !== undefined && { maxTokens }), sampling: effectiveSampling(model) }, plan);
    }
    if (viz) {
      await drawPlan(viz, plan, request.history, { cameraImage: imageFiles[0]!, calibration });
    }
    console.log(values.json ? JSON.stringify({ ...plan, tokens: Array.from(plan.tokens) }, null, 2) : formatPlan(plan, model));
    return plan.complete ? 0 : 3;
  },
};
