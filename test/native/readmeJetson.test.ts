// README's Jetson steps, executed against a simulation of what each command writes according to
// TensorRT Edge-LLM 0.6.1's source, then resolved as a bundle by lib/model/bundle.ts and loaded on the
// CPU engine (with the tiny model's weights linked in): every path the steps produce is where trt-vla
// looks, the builders find their plugin library, the engine's image limits fit the cameras the README
// sizes them for. A command the simulation does not know fails the test, so the README cannot drift
// from what is checked here.
import { copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../lib/index.js';
import { resolveModelFiles } from '../../lib/model/bundle.js';
import { engineReleaseProblem } from '../../lib/model/engineRelease.js';
import { resolvePluginLibrary } from '../../lib/model/modelConfig.js';
import { packageRoot } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

type Json = Record<string, unknown>;
const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const writeJson = (file: string, value: unknown) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(value, null, 2));
};
const touch = (file: string) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '');
};

/** The ```sh blocks of README's Jetson section, in order. */
function jetsonBlocks(): string[] {
  const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('## Jetson Orin');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** Shell lines: continuations joined, comments and blank lines dropped. */
function lines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);
}

interface Machine {
  home: string;
  cwd: string;
  env: Record<string, string>;
}

/** What the HF checkpoint folder holds, made from the tiny model (real Qwen2.5-VL processor bounds). */
function checkpoint(dir: string, tiny: string): void {
  mkdirSync(dir, { recursive: true });
  const llm = readJson(path.join(tiny, 'llm', 'config.json'));
  writeJson(path.join(dir, 'config.json'), { ...llm, vision_config: readJson(path.join(tiny, 'visual', 'config.json')).vision_config });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(path.join(tiny, 'llm', f), path.join(dir, f));
  // Qwen2.5-VL's processor: min_pixels 3136, max_pixels 12845056 (the tiny preset caps images lower).
  writeJson(path.join(dir, 'preprocessor_config.json'), { ...readJson(path.join(tiny, 'visual', 'preprocessor_config.json')), min_pixels: 3136, max_pixels: 12845056 });
}

/**
 * Runs one README line on a machine. Each command writes what Edge-LLM 0.6.1's code writes (cited);
 * anything else throws.
 */
function run(line: string, m: Machine, machines: Record<string, Machine>, tiny: string): void {
  if (line.startsWith('(') && line.endsWith(')')) {
    const sub = { ...m, env: { ...m.env } };
    run(line.slice(1, -1).trim(), sub, machines, tiny);
    return;
  }
  const parts = line.split(' && ');
  if (parts.length > 1) {
    for (const p of parts) run(p.trim(), m, machines, tiny);
    return;
  }
  const expand = (word: string) =>
    word
      .replace(/^~(?=\/|$)/, m.home)
      .replace(/\$\(nproc\)/g, '2')
      .replace(/\$([A-Z_]+)/g, (_, name: string) => {
        if (m.env[name] === undefined) throw new Error(`${line}: $${name} is not set`);
        return m.env[name]!;
      });
  const words = line.split(/\s+/);
  const assignment = /^(?:export\s+)?([A-Z_]+)=(\S+)$/.exec(line);
  if (assignment) {
    m.env[assignment[1]!] = expand(assignment[2]!);
    return;
  }
  const args = words.slice(1).map(expand);
  const at = (p: string) => path.resolve(m.cwd, p);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) throw new Error(`${line}: ${name} missing`);
    return args[i + 1]!;
  };
  const cmd = words[0]!;
  if (cmd === 'cd') {
    const dir = at(args[0]!);
    if (!existsSync(dir)) throw new Error(`${line}: no directory ${dir}`);
    m.cwd = dir;
  } else if (cmd === 'git' && args[0] === 'clone') {
    const repo = path.basename(args[args.length - 1]!, '.git');
    touch(path.join(m.cwd, repo, 'cmake', 'aarch64_linux_toolchain.cmake'));
    touch(path.join(m.cwd, repo, 'CMakeLists.txt'));
  } else if ((cmd === 'git' && args[0] === 'submodule') || cmd === 'pip3' || cmd === 'sudo') {
    // dependencies: nothing the bundle sees
  } else if (cmd === 'mkdir') {
    for (const d of args.filter((a) => !a.startsWith('-'))) mkdirSync(at(d), { recursive: true });
  } else if (cmd === 'cmake') {
    const source = at(args[0]!);
    if (!existsSync(path.join(source, 'CMakeLists.txt'))) throw new Error(`${line}: no CMakeLists.txt in ${source}`);
    const toolchain = args.find((a) => a.startsWith('-DCMAKE_TOOLCHAIN_FILE='))!.split('=')[1]!;
    if (!existsSync(path.resolve(source, toolchain))) throw new Error(`${line}: toolchain file ${toolchain} not found`);
    expect(args).toContain('-DEMBEDDED_TARGET=jetson-orin'); // cmake/aarch64_linux_toolchain.cmake:71-76: sm 87, CUDA 12.6
    touch(path.join(m.cwd, 'CMakeCache.txt'));
  } else if (cmd === 'make') {
    if (!existsSync(path.join(m.cwd, 'CMakeCache.txt'))) throw new Error(`${line}: not a configured build directory: ${m.cwd}`);
    // The plugin library lands in the build directory (cpp/CMakeLists.txt:121-124), the builders in examples/.
    for (const f of ['libNvInfer_edgellm_plugin.so', 'examples/llm/llm_build', 'examples/multimodal/visual_build']) touch(path.join(m.cwd, f));
  } else if (cmd === 'tensorrt-edgellm-quantize-llm') {
    cpSync(at(flag('--model_dir')), at(flag('--output_dir')), { recursive: true });
  } else if (cmd === 'tensorrt-edgellm-export-llm') {
    const src = at(flag('--model_dir'));
    const out = at(flag('--output_dir'));
    const { vision_config: _, ...text } = readJson(path.join(src, 'config.json'));
    writeJson(path.join(out, 'config.json'), { ...text, edgellm_version: '0.6.1' }); // onnx_export/config_export.py:288
    touch(path.join(out, 'model.onnx'));
    copyFileSync(path.join(tiny, 'llm', 'embedding.safetensors'), path.join(out, 'embedding.safetensors'));
    // tokenizer.save_pretrained only (llm_export.py:986-993): no generation_config.json.
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(src, f), path.join(out, f));
  } else if (cmd === 'tensorrt-edgellm-export-visual') {
    const src = at(flag('--model_dir'));
    const out = at(flag('--output_dir'));
    writeJson(path.join(out, 'config.json'), { ...readJson(path.join(src, 'config.json')), edgellm_version: '0.6.1' }); // config_export.py:237
    touch(path.join(out, 'model.onnx'));
    copyFileSync(path.join(src, 'preprocessor_config.json'), path.join(out, 'preprocessor_config.json')); // visual_export.py:184-193
  } else if (cmd === 'cp') {
    const [src, dst] = args.map(at) as [string, string];
    if (!existsSync(src)) throw new Error(`${line}: no such file ${src}`);
    copyFileSync(src, existsSync(dst) && statSync(dst).isDirectory() ? path.join(dst, path.basename(src)) : dst);
  } else if (cmd === 'ssh') {
    const remote = machines[args[0]!]!;
    if (args[1] !== 'mkdir' || args[2] !== '-p') throw new Error(`${line}: unknown remote command`);
    mkdirSync(path.resolve(remote.home, args[3]!), { recursive: true });
  } else if (cmd === 'scp') {
    const [src, dest] = args.filter((a) => a !== '-r').map((a, i) => (i === 0 ? at(a) : a)) as [string, string];
    const [host, remotePath] = dest.split(':') as [string, string];
    const remote = machines[host]!;
    const target = path.resolve(remote.home, remotePath.replace(/^~\/?/, ''));
    if (!existsSync(target)) throw new Error(`${line}: remote directory ${target} does not exist`);
    cpSync(src, path.join(target, path.basename(src)), { recursive: true });
  } else if (cmd.endsWith('/llm_build') || cmd.endsWith('/visual_build')) {
    if (!existsSync(at(cmd))) throw new Error(`${line}: ${at(cmd)} does not exist`);
    // cpp/common/trtUtils.h:56-70: $EDGELLM_PLUGIN_PATH, else build/libNvInfer_edgellm_plugin.so relative to the cwd.
    const plugin = m.env.EDGELLM_PLUGIN_PATH ?? 'build/libNvInfer_edgellm_plugin.so';
    if (!existsSync(at(plugin))) throw new Error(`${line}: the builder cannot dlopen its plugin library ${at(plugin)}`);
    const onnx = at(flag('--onnxDir'));
    const onnxConfig = readJson(path.join(onnx, 'config.json'));
    if (cmd.endsWith('/llm_build')) {
      const out = at(flag('--engineDir')); // used as given (llmBuilder.cpp:102-112,144)
      touch(path.join(out, 'llm.engine'));
      const builderConfig = {
        max_input_len: Number(flag('--maxInputLen')),
        eagle_draft: false,
        eagle_base: false,
        max_batch_size: Number(flag('--maxBatchSize')),
        max_lora_rank: 0,
        max_kv_cache_capacity: Number(flag('--maxKVCacheCapacity')),
        trt_native_ops: false,
      }; // llmBuilder.h:51-60
      writeJson(path.join(out, 'config.json'), { ...onnxConfig, builder_config: builderConfig }); // llmBuilder.cpp:735
      for (const f of ['tokenizer_config.json', 'tokenizer.json', 'processed_chat_template.json', 'embedding.safetensors']) {
        if (existsSync(path.join(onnx, f))) copyFileSync(path.join(onnx, f), path.join(out, f)); // llmBuilder.cpp:770-771, copyEmbeddingFile
      }
    } else {
      const flags = { min: Number(flag('--minImageTokens')), max: Number(flag('--maxImageTokens')), perImage: Number(flag('--maxImageTokensPerImage')) };
      if (flags.perImage < flags.min || flags.perImage > flags.max) throw new Error(`${line}: visual_build refuses these flags (visual_build.cpp:170-178)`);
      const out = path.join(at(flag('--engineDir')), 'visual'); // visual_build.cpp:184
      touch(path.join(out, 'visual.engine'));
      const builderConfig = { min_image_tokens: flags.min, max_image_tokens: flags.max, max_image_tokens_per_image: flags.perImage }; // visualBuilder.h:46-53
      writeJson(path.join(out, 'config.json'), { ...onnxConfig, builder_config: builderConfig }); // builderUtils.cpp:324-331
      copyFileSync(path.join(onnx, 'preprocessor_config.json'), path.join(out, 'preprocessor_config.json')); // visualBuilder.cpp:339-347
    }
  } else {
    throw new Error(`the README's Jetson steps run '${cmd}', which this test does not simulate: ${line}`);
  }
}

describe("README's Jetson steps", () => {
  let tiny: string;
  let bundle: string;
  let buildFlags: Json;

  beforeAll(async () => {
    tiny = await testModel('tiny', 'awq');
    const root = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-jetson-'));
    const x86: Machine = { home: path.join(root, 'x86'), cwd: path.join(root, 'x86'), env: {} };
    const orin: Machine = { home: path.join(root, 'orin'), cwd: path.join(root, 'orin'), env: {} };
    mkdirSync(x86.home, { recursive: true });
    mkdirSync(orin.home, { recursive: true });
    const machines = { orin };
    const [exportSteps, buildSteps] = jetsonBlocks();
    for (const line of lines(exportSteps!)) {
      if (line.startsWith('export MODEL=')) {
        run(line, x86, machines, tiny);
        checkpoint(path.resolve(x86.home, 'TensorRT-Edge-LLM', x86.env.MODEL!, 'hf'), tiny); // "downloaded to ./$MODEL/hf"
        continue;
      }
      run(line, x86, machines, tiny);
    }
    for (const line of lines(buildSteps!)) run(line, orin, machines, tiny);
    bundle = orin.env.M!;
    buildFlags = readJson(path.join(bundle, 'visual', 'config.json')).builder_config as Json;
  });

  it('produce a bundle whose every file is where lib/model/bundle.ts looks', () => {
    const files = resolveModelFiles(bundle);
    expect(files.layout).toBe('bundle');
    expect(files.llm.engineFile).toBe(path.join(bundle, 'llm', 'llm.engine'));
    expect(files.visual.engineFile).toBe(path.join(bundle, 'visual', 'visual.engine'));
    expect(files.llm.embeddingFile).toBe(path.join(bundle, 'llm', 'embedding.safetensors'));
    expect(files.llm.tokenizerDir).toBe(path.join(bundle, 'llm'));
    expect(files.llm.generationConfig).toEqual(readJson(path.join(tiny, 'llm', 'generation_config.json')));
    expect(files.visual.preprocessorConfig?.max_pixels).toBe(12845056);
    expect(existsSync(path.join(bundle, 'visual', 'visual'))).toBe(false);
    expect(engineReleaseProblem(files, 'tensorrt')).toBeUndefined();
    expect(resolvePluginLibrary(bundle, undefined, {})).toBe(path.join(bundle, 'libNvInfer_edgellm_plugin.so'));
  });

  it('size the visual engine for three 1600 x 900 cameras of 336 tokens each, as the README says', async () => {
    expect(jetsonBlocks().length).toBeGreaterThanOrEqual(2);
    const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
    expect(readme).toMatch(/672 × 392 = 24 × 14 merge units = \*\*336 image tokens\*\*/);
    // The bundle with the tiny model's weights next to the engines runs on the CPU engine, which takes
    // the profile visual_build made (builder_config), with Impromptu's image regularization (the default).
    linkSync(path.join(tiny, 'llm', 'model.safetensors'), path.join(bundle, 'llm', 'model.safetensors'));
    linkSync(path.join(tiny, 'visual', 'model.safetensors'), path.join(bundle, 'visual', 'model.safetensors'));
    await using model = await loadModel(bundle, { backend: 'cpu', threads: 1 });
    expect(model.description.edgellmVersion).toBe('0.6.1');
    expect(model.description.sampling.source).toBe(path.join('llm', 'generation_config.json'));
    expect(model.description.imageTokens).toEqual({
      minPerImage: buildFlags.min_image_tokens,
      maxPerImage: buildFlags.max_image_tokens_per_image,
      maxTotal: buildFlags.max_image_tokens,
      maxImages: Math.trunc(Number(buildFlags.max_image_tokens) / Number(buildFlags.min_image_tokens)),
    });
    const cameras = (n: number) => Array.from({ length: n }, () => model.allocFrame({ width: 1600, height: 900, format: 'rgb8' }));
    const prepared = await model.prepare({ images: cameras(3), text: '<image><image><image>' });
    expect(prepared.imageGrids).toEqual([
      [1, 28, 48],
      [1, 28, 48],
      [1, 28, 48],
    ]); // 392 x 672 px: 14 x 24 merge units = 336 tokens each
    await expect(model.prepare({ images: cameras(4), text: '<image>'.repeat(4) })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/1344 image tokens .*at most 1024 per call \(visual_build --maxImageTokens\)/),
    });
  });
});
