#!/usr/bin/env node
// End-to-end check of what users install: builds the portable prebuilt binary (prebuildify, node-gyp,
// CPU-only), packs the package with `npm pack`, installs the tarball into an empty project with
// --offline (no network: everything must come from the tarball and npm's cache), once with install
// scripts and once with --ignore-scripts, and checks that `info()` works there.
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
  }
  step('ok');
} finally {
  if (!process.env.TRT_VLA_KEEP_PACK) rmSync(work, { recursive: true, force: true });
}
