// The command line on the tiny model: plan (text, --json, --viz), make-model determinism, and
// quantize of a Hugging Face-layout checkpoint that then loads and plans.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../lib/index.js';
import { makeModel } from '../../lib/model/generate.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');
const run = (args: string[]) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });

const HISTORY = [
  { t: -1.0, x: -4.01, y: 0.06, ax: 0.1, ay: 0, vx: 4.0, speed: 4.0, steering: 0.4 },
  { t: -0.5, x: -2.0, y: 0.02, ax: 0.09, ay: 0.01, vx: 4.03, speed: 4.03, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, vx: 4.05, speed: 4.05, steering: 0.3 },
];

let scratch: string;
let image: string;
let history: string;
let model: string;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-cli-'));
  image = path.join(scratch, 'front.jpg');
  await sharp({ create: { width: 400, height: 225, channels: 3, background: { r: 80, g: 110, b: 150 } } }).jpeg().toFile(image);
  history = path.join(scratch, 'history.json');
  writeFileSync(history, JSON.stringify(HISTORY));
  model = await testModel('tiny', 'awq');
});

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('trt-vla plan', () => {
  it('prints the waypoints, the answer and the timings', () => {
    const out = run(['plan', '--model', model, '--image', image, '--history', history]);
    expect(out.match(/^ {2}t=\d\.\ds /gm)).toHaveLength(6);
    expect(out).toMatch(/^answer: <PLANNING>Predicted future movement/m);
    expect(out).toMatch(/^timings: preprocess [\d.]+ ms, vision/m);
    expect(out).toMatch(/forward passes \d+ \(\d+ verifying drafts: \d+ of \d+ drafted tokens accepted\)/);
  });

  it('--json prints the PlanResult; q7 gives 10 waypoints', () => {
    const nuscenes = JSON.parse(run(['plan', '--model', model, '--image', image, '--history', history, '--json']));
    expect(nuscenes.waypoints).toHaveLength(6);
    expect(nuscenes.complete).toBe(true);
    for (const key of ['text', 'feasibility', 'timings', 'reasoning', 'tokens']) expect(nuscenes).toHaveProperty(key);
    expect(nuscenes.timings.forwardPasses / nuscenes.timings.generatedTokens).toBeLessThanOrEqual(0.45);
    const q7History = HISTORY.map((h) => ({ ...h, vy: 0.01 }));
    writeFileSync(path.join(scratch, 'q7.json'), JSON.stringify(q7History));
    const q7 = JSON.parse(run(['plan', '--model', model, '--image', image, '--history', path.join(scratch, 'q7.json'), '--format', 'q7', '--json']));
    expect(q7.waypoints).toHaveLength(10);
    expect(q7.complete).toBe(true);
  });

  it('--viz draws the bird\'s-eye view beside the camera image', async () => {
    const png = path.join(scratch, 'plan.png');
    run(['plan', '--model', model, '--image', image, '--history', history, '--viz', png]);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.height).toBe(640);
    expect(meta.width).toBe(Math.round((400 * 640) / 225) + 480); // camera scaled to 640 high + the 480-wide plot
  });

  it('rejects missing arguments with a readable error', () => {
    expect(() => run(['plan', '--model', model, '--history', history])).toThrow(/--image is required/);
  });
});

/** Runs the CLI to completion: exit status and both streams. */
function runStatus(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: process.env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('usage errors: one line naming the problem, then the usage, exit code 2, no stack trace', () => {
  const expectUsageError = (args: string[], problem: RegExp, usage: RegExp) => {
    const r = runStatus(args);
    expect(r.status, r.stderr).toBe(2);
    const [first, ...rest] = r.stderr.split('\n');
    expect(first).toMatch(problem);
    expect(rest.join('\n')).toMatch(usage);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack frames
    expect(r.stdout).toBe('');
  };
  const planUsage = /^Usage: trt-vla plan --model DIR/m;

  it('unknown flags name the flag and print the command\'s usage', () => {
    expectUsageError(['plan', '--bogus'], /^trt-vla plan: unknown option --bogus$/, planUsage);
    expectUsageError(['bench', '--frame', '3'], /^trt-vla bench: unknown option --frame$/, /^Usage: trt-vla bench/m);
    expectUsageError(['info', '-x'], /^trt-vla info: unknown option -x$/, /^Usage: trt-vla info \[--json\]/m);
    expectUsageError(['eval', 'stray'], /^trt-vla eval: unexpected argument "stray"$/, /^Usage: trt-vla eval/m);
    expectUsageError(['no-such-command'], /^trt-vla: unknown command 'no-such-command'$/, /^Usage: trt-vla <command>/m);
    expectUsageError([], /^trt-vla: no command given$/, /^Usage: trt-vla <command>/m);
  });

  it('missing values and flags', () => {
    expectUsageError(['plan', '--model'], /^trt-vla plan: --model needs a value$/, planUsage);
    expectUsageError(['plan', '--model', '--image', image], /^trt-vla plan: --model needs a value$/, planUsage);
    expectUsageError(['plan', '--image', image, '--history', history], /^trt-vla plan: --model is required/, planUsage);
    expectUsageError(['info', '--json=yes'], /^trt-vla info: --json takes no value$/, /Usage: trt-vla info/);
    expectUsageError(['quantize', '--out', path.join(scratch, 'q')], /^trt-vla quantize: --in is required/, /Usage: trt-vla quantize/);
    expectUsageError(['make-model', '--quant', 'awq'], /--preset/, /Usage: trt-vla make-model/); // --out is optional (the user cache)
  });

  it('bad numbers and choices', () => {
    for (const [flag, value] of [['--threads', 'abc'], ['--threads', '0'], ['--threads', '2.5'], ['--max-tokens', '1e3'], ['--max-tokens', '-4']]) {
      expectUsageError(['plan', '--model', model, '--image', image, '--history', history, `${flag}=${value}`], new RegExp(`^trt-vla plan: Expected an integer between .* for ${flag} but received "${value}"`), planUsage);
    }
    // A value that looks like a flag is a missing value, as node:util parseArgs reads it.
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--max-tokens', '-4'], /^trt-vla plan: --max-tokens needs a value$/, planUsage);
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--format', 'kitti'], /for --format but received "kitti"/, planUsage);
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--status-wording', 'loud'], /for --status-wording but received "loud"/, planUsage);
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--format', 'q7', '--status-wording', 'none'], /--status-wording applies to the nuscenes prompt/, planUsage);
    expectUsageError(['bench', '--frames', 'NaN'], /for --frames but received "NaN"/, /Usage: trt-vla bench/);
    expectUsageError(['bench', '--sessions', '99999'], /for --sessions but received "99999"/, /Usage: trt-vla bench/);
    expectUsageError(['make-model', '--preset', 'huge', '--out', path.join(scratch, 'm')], /for --preset but received "huge"/, /Usage: trt-vla make-model/);
    expectUsageError(['make-model', '--preset', 'tiny', '--out', path.join(scratch, 'm'), '--seed=-1'], /for --seed but received "-1"/, /Usage: trt-vla make-model/);
  });

  it('unreadable inputs and unwritable outputs are found before any work (--viz before planning)', () => {
    const aFile = path.join(scratch, 'a-file');
    writeFileSync(aFile, 'x');
    expectUsageError(['plan', '--model', model, '--image', path.join(scratch, 'nope.jpg'), '--history', history], /--image .*nope\.jpg: no such file/, planUsage);
    expectUsageError(['plan', '--model', model, '--image', image, '--history', scratch], /--history .*: not a regular file/, planUsage);
    // The plan would take seconds; the bad --viz path is reported at once, before the model loads.
    const started = performance.now();
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--viz', path.join(aFile, 'plan.png')], /--viz .*a-file is not a directory/, planUsage);
    expectUsageError(['plan', '--model', model, '--image', image, '--history', history, '--viz', scratch], /--viz .*: is a directory/, planUsage);
    expect(performance.now() - started).toBeLessThan(10_000);
    expectUsageError(['bench', '--json', path.join(aFile, 'r.json')], /--json .*a-file is not a directory/, /Usage: trt-vla bench/);
    expectUsageError(['bench', '--html', scratch], /--html .*: is a directory/, /Usage: trt-vla bench/);
    expectUsageError(['make-model', '--preset', 'tiny', '--out', aFile], /--out .*: exists and is not a directory/, /Usage: trt-vla make-model/);
    expectUsageError(['quantize', '--in', path.join(scratch, 'none'), '--out', path.join(scratch, 'q')], /--in .*none: no such directory/, /Usage: trt-vla quantize/);
  });

  it('a failure after the arguments were accepted is one line with its code, exit code 1', () => {
    const r = runStatus(['plan', '--model', path.join(scratch, 'no-model'), '--image', image, '--history', history]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^trt-vla plan: ERR_MODEL_LOAD: model directory not found/)]);
    const badHistory = path.join(scratch, 'bad-history.json');
    writeFileSync(badHistory, JSON.stringify([{ t: 0, x: 0, y: 0, ax: 1e308 }]));
    const h = runStatus(['plan', '--model', model, '--image', image, '--history', badHistory]);
    expect(h.status).toBe(1);
    expect(h.stderr).toMatch(/^trt-vla plan: ERR_INVALID_ARGUMENT: .*\[0\]\.ax/);
  });
});

describe('trt-vla make-model and quantize', () => {
  it('same seed, same bytes', async () => {
    const a = path.join(scratch, 'a');
    const b = path.join(scratch, 'b');
    await makeModel({ preset: 'tiny', quant: 'awq', out: a, seed: 3 });
    run(['make-model', '--preset', 'tiny', '--quant', 'awq', '--out', b, '--seed', '3']);
    for (const file of ['llm/model.safetensors', 'llm/embedding.safetensors', 'visual/model.safetensors', 'llm/config.json', 'llm/tokenizer.json']) {
      expect(sha(path.join(b, file)), file).toBe(sha(path.join(a, file)));
    }
    const c = path.join(scratch, 'c');
    await makeModel({ preset: 'tiny', quant: 'awq', out: c, seed: 4 });
    expect(sha(path.join(c, 'llm/model.safetensors'))).not.toBe(sha(path.join(a, 'llm/model.safetensors')));
  });

  it('a Hugging Face-layout checkpoint loads, and quantize makes an int4 one that plans', async () => {
    const bundle = await testModel('tiny', 'fp16');
    const hf = path.join(scratch, 'hf');
    execFileSync('mkdir', ['-p', hf]);
    const llmConfig = JSON.parse(readFileSync(path.join(bundle, 'llm', 'config.json'), 'utf8'));
    const visualConfig = JSON.parse(readFileSync(path.join(bundle, 'visual', 'config.json'), 'utf8'));
    writeFileSync(path.join(hf, 'config.json'), JSON.stringify({ ...llmConfig, vision_config: visualConfig.vision_config }));
    copyFileSync(path.join(bundle, 'llm', 'model.safetensors'), path.join(hf, 'model-00001-of-00003.safetensors'));
    copyFileSync(path.join(bundle, 'visual', 'model.safetensors'), path.join(hf, 'model-00002-of-00003.safetensors'));
    copyFileSync(path.join(bundle, 'llm', 'embedding.safetensors'), path.join(hf, 'model-00003-of-00003.safetensors'));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(path.join(bundle, 'llm', f), path.join(hf, f));
    copyFileSync(path.join(bundle, 'visual', 'preprocessor_config.json'), path.join(hf, 'preprocessor_config.json'));

    const plan = async (dir: string) => {
      await using m = await loadModel(dir);
      const frame = m.allocFrame({ width: 320, height: 180, format: 'rgb8' });
      frame.data.fill(100);
      return { plan: await m.plan({ images: [frame], history: HISTORY }), weightBytes: m.description.weightBytes, layout: m.files.layout };
    };
    const fromBundle = await plan(bundle);
    const fromHf = await plan(hf);
    expect(fromHf.layout).toBe('huggingface');
    expect(Array.from(fromHf.plan.tokens)).toEqual(Array.from(fromBundle.plan.tokens));

    const quantized = path.join(scratch, 'hf-int4');
    const out = run(['quantize', '--in', hf, '--out', quantized]);
    expect(out).toMatch(/quantized 14 layers/); // 2 layers x 7 linear layers
    expect(readdirSync(quantized)).toContain('model.safetensors');
    const config = JSON.parse(readFileSync(path.join(quantized, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'awq', bits: 4, group_size: 128 });
    const fromInt4 = await plan(quantized);
    expect(fromInt4.plan.complete).toBe(true);
    expect(fromInt4.weightBytes).toBeLessThan(fromHf.weightBytes);
  });
});
