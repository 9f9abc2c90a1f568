/** `trt-vla parity`: the same request on a bundle's engines and on the CPU engine of its reference checkpoint. */
import { parseArgs } from 'node:util';

import { loadModel, type Model } from '../model/Model.js';
import { runParity, type ErrorStats, type ParityReport } from '../model/parity.js';
import { IMAGE_PLACEHOLDER } from '../tokenizer/chatTemplate.js';
import { invalidArgument } from '../validate.js';
import { frameFromImage } from '../frameFromImage.js';

const HELP = `Usage: trt-vla parity --model BUNDLE --reference CHECKPOINT [--image FILE ...] [--prompt TEXT]
                      [--steps N] [--positions N] [--backend auto|cpu|tensorrt] [--threads N]
                      [--plugin libNvInfer_edgellm_plugin.so] [--fail-above REL] [--json]

Runs one request on BUNDLE (its TensorRT engines where TensorRT runs, else its CPU weights) and on
the CPU engine of CHECKPOINT (the Hugging Face checkpoint the engines were exported from, or any
bundle of the same model), and prints, per stage, how far the bundle is from the reference:
  vision   the vision encoder's output per image (the embeddings spliced into the prompt)
  prompt   the logits at --positions prompt positions spread over the prompt (default 8)
  steps    the logits of --steps greedy steps of the bundle (default 16); the reference is fed
           the bundle's tokens, so each step compares the same context
max-abs is max |bundle - reference|; rel is ||bundle - reference||₂ / ||reference||₂; top-1 says
whether both pick the same next token. "split" is the first step where the reference's greedy
token differs. The prompt is a chat message: one <image> per --image, then --prompt (default
"Describe the driving scene."). --json prints the whole report. --fail-above REL exits with 3
when a logits rel error exceeds REL.`;

function e(v: number): string {
  return v === 0 ? '0' : v.toExponential(2);
}

function row(label: string, s: ErrorStats, top1 = ''): string {
  return `  ${label.padEnd(18)} ${e(s.maxAbs).padStart(10)} ${e(s.relative).padStart(10)}  ${top1}`.trimEnd();
}

export function formatParity(r: ParityReport): string {
  const who = (s: ParityReport['candidate']) => `${s.dir} (${s.backend}, ${s.pipeline} pipeline)`;
  const imageTokens = r.vision.reduce((n, v) => n + v.tokens, 0);
  const lines = [
    `model      ${who(r.candidate)}`,
    `reference  ${who(r.reference)}`,
    `prompt     ${r.promptTokens} tokens (${imageTokens} image), ${r.prompt.length} positions compared, ${r.steps.length} greedy steps`,
    '',
    `  ${'stage'.padEnd(18)} ${'max-abs'.padStart(10)} ${'rel'.padStart(10)}  top-1`,
  ];
  for (const v of r.vision) lines.push(row(`vision image ${v.image}`, v));
  const top1 = (x: { top1Agrees: boolean; candidateTop1: number; referenceTop1: number }) =>
    x.top1Agrees ? 'same' : `differs: ${x.candidateTop1} vs ${x.referenceTop1}`;
  for (const p of r.prompt) lines.push(row(`prompt pos ${p.position}`, p, top1(p)));
  for (const s of r.steps) lines.push(row(`step ${s.step}`, s, `${top1(s)}  ${JSON.stringify(s.text)}`));
  lines.push('');
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const summary = r.summary;
  if (summary.vision) lines.push(`vision     worst max-abs ${e(summary.vision.maxAbs)}, rel ${e(summary.vision.relative)}`);
  lines.push(`prompt     worst max-abs ${e(summary.prompt.maxAbs)}, rel ${e(summary.prompt.relative)}, top-1 agreement ${pct(summary.prompt.top1Agreement)}`);
  if (summary.steps) lines.push(`steps      worst max-abs ${e(summary.steps.maxAbs)}, rel ${e(summary.steps.relative)}, top-1 agreement ${pct(summary.steps.top1Agreement)}`);
  if (r.splitAt === null) {
    lines.push(`greedy     the same ${r.steps.length} tokens`);
  } else {
    const s = r.steps[r.splitAt]!;
    lines.push(`greedy     split at step ${r.splitAt}: model ${s.token} ${JSON.stringify(s.text)}, reference ${s.referenceTop1} ${JSON.stringify(s.referenceText)}`);
  }
  return lines.join('\n');
}

function integer(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw invalidArgument(name, `an integer >= ${min}`, value);
  return n;
}

export const parityCommand = {
  summary: "compare a bundle's engines with the CPU engine of its reference checkpoint",
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        reference: { type: 'string' },
        image: { type: 'string', multiple: true },
        prompt: { type: 'string', default: 'Describe the driving scene.' },
        steps: { type: 'string' },
        positions: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        threads: { type: 'string' },
        plugin: { type: 'string' },
        'fail-above': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.model) throw invalidArgument('--model', 'a model bundle directory', values.model);
    if (!values.reference) throw invalidArgument('--reference', 'a reference checkpoint directory', values.reference);
    const steps = integer(values.steps, '--steps', 0);
    const positions = integer(values.positions, '--positions', 1);
    const threads = integer(values.threads, '--threads', 1);
    let failAbove: number | undefined;
    if (values['fail-above'] !== undefined) {
      failAbove = Number(values['fail-above']);
      if (!(failAbove >= 0)) throw invalidArgument('--fail-above', 'a non-negative number', values['fail-above']);
    }
    await using model = await loadModel(values.model, { backend: values.backend as 'auto', threads, pluginLibrary: values.plugin });
    // The reference's KV cache must hold what the bundle's does.
    await using reference: Model = await loadModel(values.reference, { backend: 'cpu', threads, maxKvCapacity: Math.max(model.description.kvCapacity, 64) });
    const images = await Promise.all((values.image ?? []).map((f) => frameFromImage(model, f)));
    const report = await runParity(model, reference, {
      messages: [{ role: 'user', content: `${IMAGE_PLACEHOLDER.repeat(images.length)}${values.prompt}` }],
      images,
      steps,
      promptPositions: positions,
    });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      console.log(formatParity(report));
    }
    if (failAbove === undefined) return 0;
    const worstRel = Math.max(report.summary.prompt.relative, report.summary.steps?.relative ?? 0);
    return worstRel > failAbove ? 3 : 0;
  },
};
