#!/usr/bin/env node
// End-to-end check of what users install: builds the portable prebuilt binary (prebuildify, node-gyp,
// CPU-only), packs the package with `npm pack`, installs the tarball into an empty project with
// --offline (no network: everything must come from the tarball and npm's cache), once with install
// scripts and once with --ignore-scripts, and checks that `info()` works there. In the project installed
// with scripts it then does a new user's first run: `npx trt-vla make-model`, `bench` and `plan`. Last,
// the README's runnable examples (marked `<!-- readme-example: FILE -->`) are compiled with TypeScript
// and run in a fresh `npm init -y` project (CommonJS under npm 11) and in an ES module one.
//
//   npm run check:pack
//
// It works in a temporary copy, so the checkout's build/ (the CMake build) is left alone.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const work = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-pack-'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const step = (line) => console.log(`check:pack: ${line}`);

function run(cmd, args, cwd, env = process.env) {
  const result = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  if (result.status !== 0) {
    console.error(result.stdout, result.stderr);
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}`);
  }
  return result.stdout;
}

// A new user's first run in the installed project: everything make-model, bench and plan need at run
// time comes with the package (the Qwen tokenizer included), and generated models go to the user
// cache ($XDG_CACHE_HOME/trt-vla), never into node_modules.
function checkFirstRun(app, installEnv) {
  const cache = path.join(work, 'xdg-cache');
  const env = { ...installEnv, XDG_CACHE_HOME: cache, TRT_VLA_ADDON_PATH: '' };
  const npx = (...args) => run(npm, ['exec', '--offline', '--no', '--', 'trt-vla', ...args], app, env);
  const installed = path.join(app, 'node_modules', 'trt-vla');
  const packageFiles = () => readdirSync(installed, { recursive: true }).map(String).sort().join('\n');
  const filesBefore = packageFiles();

  const made = npx('make-model', '--preset', 'tiny', '--seed', '5');
  const modelDir = /to (\S+) in [\d.]+ s/.exec(made)?.[1];
  if (!modelDir || !modelDir.startsWith(path.join(cache, 'trt-vla') + path.sep) || !existsSync(path.join(modelDir, 'llm', 'tokenizer.json'))) {
    throw new Error(`npx trt-vla make-model did not write a model into the user cache ${cache}:\n${made}`);
  }
  step(`npx trt-vla make-model: ${path.relative(work, modelDir)}`);

  const bench = npx('bench', '--frames', '2', '--warmup', '0');
  if (!/FPS \(sustained\)/.test(bench) || !/2\/2 plans complete/.test(bench)) throw new Error(`npx trt-vla bench did not report:\n${bench}`);
  const demo = readdirSync(path.join(cache, 'trt-vla')).filter((e) => e.startsWith('tiny-awq-seed1-'));
  if (demo.length !== 1) throw new Error(`bench did not put its demo model into the user cache: ${readdirSync(path.join(cache, 'trt-vla')).join(', ')}`);
  if (packageFiles() !== filesBefore) throw new Error('make-model or bench wrote into the installed package (node_modules/trt-vla)');
  step(`npx trt-vla bench --frames 2: ok, demo model in the user cache (${demo[0]})`);

  run(process.execPath, ['--input-type=module', '-e', `import sharp from 'sharp'; await sharp({ create: { width: 320, height: 180, channels: 3, background: '#506e96' } }).jpeg().toFile('front.jpg');`], app, env);
  writeFileSync(path.join(app, 'history.json'), JSON.stringify([{ t: -0.5, x: -2, y: 0, ax: 0.1, ay: 0, speed: 4, steering: 0.3 }, { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, speed: 4, steering: 0.3 }]));
  const plan = npx('plan', '--model', modelDir, '--image', 'front.jpg', '--history', 'history.json');
  if ((plan.match(/^ {2}t=\d\.\ds /gm) ?? []).length !== 6) throw new Error(`npx trt-vla plan did not print 6 waypoints:\n${plan}`);
  step('npx trt-vla plan: 6 waypoints');
}

// What the tarball must and must not hold: the license texts, the tokenizer asset make-model needs,
// and source maps only where the sources they point at ship too.
function checkTarballContents(tarballPath) {
  const entries = run('tar', ['-tzf', tarballPath], work).split('\n').filter(Boolean);
  for (const required of ['package/LICENSE', 'package/NOTICE', 'package/dist/assets/qwen-bpe.json.gz']) {
    if (!entries.includes(required)) throw new Error(`the tarball lacks ${required}`);
  }
  const maps = entries.filter((e) => e.endsWith('.map'));
  if (maps.length > 0 && !entries.some((e) => e.startsWith('package/lib/'))) throw new Error(`the tarball ships source maps without their sources: ${maps.slice(0, 3).join(', ')}`);
  step(`tarball: ${entries.length} files, LICENSE and NOTICE, the tokenizer asset, no source maps without sources`);
}

/** The README's runnable examples: `<!-- readme-example: FILE -->` right before a fenced block. */
function readmeExamples() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/<!-- readme-example: (\S+) -->\n```(\w+)\n([\s\S]*?)\n```/g)].map(([, file, lang, code]) => ({ file, lang, code }));
  if (!examples.some((e) => e.file.endsWith('.ts'))) throw new Error('README.md has no runnable TypeScript example (<!-- readme-example: FILE.ts -->)');
  return examples;
}

// Each example project: `npm init -y`, the tarball plus TypeScript and @types/node (the versions this
// package is developed with) from npm's cache, the README's blocks as files; the shell blocks run
// first (they prepare the model), then tsc compiles the TypeScript and node runs it.
function checkReadmeExamples(tarballPath) {
  const examples = readmeExamples();
  const devVersion = (name) => `${name}@${pkg.devDependencies[name]}`;
  for (const flavour of ['commonjs', 'module']) {
    const app = path.join(work, `readme-${flavour}`);
    mkdirSync(app, { recursive: true });
    const env = { ...process.env, npm_config_offline: 'true', XDG_CACHE_HOME: path.join(work, 'xdg-cache'), TRT_VLA_ADDON_PATH: '' };
    run(npm, ['init', '-y'], app, env);
    if (flavour === 'module') run(npm, ['pkg', 'set', 'type=module'], app, env);
    const type = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')).type ?? 'commonjs';
    if (type !== flavour) throw new Error(`npm init -y made a "${type}" project, expected "${flavour}"`);
    run(npm, ['install', '--offline', '--no-audit', '--no-fund', tarballPath, devVersion('typescript'), devVersion('@types/node')], app, env);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, types: ['node'] } }),
    );
    run(process.execPath, ['--input-type=module', '-e', `import sharp from 'sharp'; await sharp({ create: { width: 480, height: 270, channels: 3, background: '#6e7f8f' } }).jpeg().toFile('front.jpg');`], app, env);
    for (const { file, code } of examples) writeFileSync(path.join(app, file), `${code}\n`);
    for (const { file } of examples.filter((e) => e.lang === 'sh')) run('bash', ['-e', file], app, env);
    run(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app, env);
    for (const { file } of examples.filter((e) => e.lang === 'ts')) {
      const out = run(process.execPath, [file.replace(/\.ts$/, '.js')], app, env);
      if (!/t: 0\.5, x: -?[\d.]+, y: -?[\d.]+/.test(out) || !/random weights/.test(out)) throw new Error(`README example ${file} (${flavour}) printed no waypoints or no warning:\n${out}`);
    }
    step(`README examples compiled and ran in a fresh ${flavour} project: ${examples.map((e) => e.file).join(', ')}`);
  }
}

try {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts` first');

  // 1. A staging copy of the package: what `files` publishes, plus the tools to build it.
  const stage = path.join(work, 'stage');
  for (const entry of [...pkg.files.filter((f) => f !== 'prebuilds' && !f.startsWith('!')), 'package.json', 'README.md']) {
    const from = path.join(root, entry);
    if (existsSync(from)) cpSync(from, path.join(stage, entry), { recursive: true });
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  step('building the prebuilt CPU binary with prebuildify (node-gyp)');
  run(process.execPath, [path.join(root, 'node_modules', 'prebuildify', 'bin.js'), '--napi', '--strip', '--tag-libc'], stage);
  const prebuilt = readdirSync(path.join(stage, 'prebuilds'), { recursive: true }).filter((f) => String(f).endsWith('.node'));
  if (prebuilt.length === 0) throw new Error('prebuildify produced no .node file');
  step(`prebuilt: ${prebuilt.join(', ')}`);
  rmSync(path.join(stage, 'build'), { recursive: true, force: true });
  rmSync(path.join(stage, 'node_modules'));

  // 2. npm pack (without scripts: dist/ and prebuilds/ are already in place).
  const tarball = run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], stage).trim().split('\n').pop();
  const tarballPath = path.join(work, tarball);
  step(`packed ${tarball}`);
  checkTarballContents(tarballPath);
  // What users never need: the test addon's sources, the GPU check's, and their scripts.
  const listed = run('tar', ['tzf', tarballPath], work).split('\n');
  const unwanted = listed.filter((f) => /^package\/(native\/(testing|checks)\/|scripts\/(gpu-check|cuda-emulator)|.*trt_vla_testing)/.test(f));
  if (unwanted.length) throw new Error(`the package contains test-only files: ${unwanted.join(', ')}`);
  step(`${listed.filter(Boolean).length} files in the package, none of them test-only`);

  // 3. Install offline into empty projects, with and without install scripts.
  for (const scripts of [true, false]) {
    const app = path.join(work, scripts ? 'app-scripts' : 'app-no-scripts');
    mkdirSync(app, { recursive: true });
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const args = ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarballPath];
    if (!scripts) args.push('--ignore-scripts');
    const env = { ...process.env, npm_config_offline: 'true' };
    const installLog = run(npm, args, app, env);
    if (scripts && !/trt-vla: using the prebuilt binary/.test(installLog)) {
      throw new Error(`the install script did not report the prebuilt binary:\n${installLog}`);
    }
    const script = `import { info } from 'trt-vla'; const i = await info(); console.log(JSON.stringify(i));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', env: { ...process.env, TRT_VLA_ADDON_PATH: '' } });
    const i = JSON.parse(out);
    if (!i.backends.cpu.available) throw new Error('cpu backend unavailable in the installed package');
    if (!i.build.addonPath.includes(`${path.sep}prebuilds${path.sep}`)) throw new Error(`loaded ${i.build.addonPath}, not the prebuilt binary`);
    const bin = execFileSync(path.join(app, 'node_modules', '.bin', 'trt-vla'), ['info'], { cwd: app, encoding: 'utf8', env: { ...process.env, TRT_VLA_ADDON_PATH: '' } });
    if (!/cpu\s+available/.test(bin)) throw new Error(`npx trt-vla info did not work:\n${bin}`);
    step(`installed offline ${scripts ? 'with' : 'without'} install scripts: info() ok, backends ${i.build.backends.join(', ')}, addon ${path.relative(app, i.build.addonPath)}`);
    if (scripts) checkFirstRun(app, env);
  }
  checkReadmeExamples(tarballPath);
  step('ok');
} finally {
  if (!process.env.TRT_VLA_KEEP_PACK) rmSync(work, { recursive: true, force: true });
}
