#!/usr/bin/env node
// End-to-end check of what users install:
//  1. the prebuilt binaries the package ships (scripts/build-prebuilds.mjs: prebuildify driving the
//     CMake build): linux-x64 with the CUDA path compiled in, reusing the checkout's CMake build when
//     it qualifies (CI's `npm ci` made one), and linux-arm64 CPU-only, cross-compiled, when
//     aarch64-linux-gnu-g++ is installed; each checked with readelf;
//  2. `npm pack`, then `npm install trt-vla` into empty projects, as users install it, from a local
//     registry (scripts/lib/local-registry.mjs) that serves the tarball as `trt-vla` and everything
//     else from npm's cache, so nothing comes from the network (npm's allowScripts treats registry
//     packages and tarball files differently, and npm 11.19.1's --offline install asks for full
//     packuments, @npmcli/arborist lib/arborist/build-ideal-tree.js:1334 `fullMetadata: true`,
//     which `npm ci` does not cache). With and without install scripts, with stand-in
//     cmake/ninja/make/compilers/node-gyp on PATH that record any call: on linux-x64 the install
//     compiles nothing and info() reports the CUDA path compiled;
//  3. npm 11's install-script approval, the README's `<!-- install-steps: NAME -->` blocks run
//     command by command, each in a fresh project;
//  4. a new user's first run (`npx trt-vla make-model`, `bench`, `plan`) in the installed project;
//  5. the README's runnable examples (`<!-- readme-example: FILE -->`), compiled with TypeScript and
//     run in a fresh `npm init -y` project (CommonJS under npm 11) and in an ES module one.
//
//   npm run check:pack
//
// It works in a temporary copy; the checkout's build/ is only read. TRT_VLA_KEEP_PACK=1 keeps the copy.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildPrebuilt, describe, loadBuildInfo, missingTools } from './build-prebuilds.mjs';
import { formatDuration } from './lib/build-progress.mjs';
import { startLocalRegistry } from './lib/local-registry.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const work = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-pack-'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const step = (line) => console.log(`check:pack: ${line}`);

/** Runs a command without blocking this process (the local registry answers from it). */
function runAsync(cmd, args, cwd, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => resolve({ status: 1, stdout, stderr: `${stderr}${error.message}` }));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function run(cmd, args, cwd, env = process.env) {
  const result = await runAsync(cmd, args, cwd, env);
  if (result.status !== 0) {
    console.error(result.stdout, result.stderr);
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}`);
  }
  return result.stdout;
}

// A new user's first run in the installed project: everything make-model, bench and plan need at run
// time comes with the package (the Qwen tokenizer included), and generated models go to the user
// cache ($XDG_CACHE_HOME/trt-vla), never into node_modules.
async function checkFirstRun(app, installEnv) {
  const cache = path.join(work, 'xdg-cache');
  const env = { ...installEnv, XDG_CACHE_HOME: cache, TRT_VLA_ADDON_PATH: '' };
  const npx = (...args) => run(npm, ['exec', '--no', '--', 'trt-vla', ...args], app, env);
  const installed = path.join(app, 'node_modules', 'trt-vla');
  const packageFiles = () => readdirSync(installed, { recursive: true }).map(String).sort().join('\n');
  const filesBefore = packageFiles();

  const made = await npx('make-model', '--preset', 'tiny', '--seed', '5');
  const modelDir = /to (\S+) in [\d.]+ s/.exec(made)?.[1];
  if (!modelDir || !modelDir.startsWith(path.join(cache, 'trt-vla') + path.sep) || !existsSync(path.join(modelDir, 'llm', 'tokenizer.json'))) {
    throw new Error(`npx trt-vla make-model did not write a model into the user cache ${cache}:\n${made}`);
  }
  step(`npx trt-vla make-model: ${path.relative(work, modelDir)}`);

  const bench = await npx('bench', '--frames', '2', '--warmup', '0');
  if (!/FPS \(sustained\)/.test(bench) || !/2\/2 plans complete/.test(bench)) throw new Error(`npx trt-vla bench did not report:\n${bench}`);
  const demo = readdirSync(path.join(cache, 'trt-vla')).filter((e) => e.startsWith('tiny-awq-seed1-'));
  if (demo.length !== 1) throw new Error(`bench did not put its demo model into the user cache: ${readdirSync(path.join(cache, 'trt-vla')).join(', ')}`);
  if (packageFiles() !== filesBefore) throw new Error('make-model or bench wrote into the installed package (node_modules/trt-vla)');
  step(`npx trt-vla bench --frames 2: ok, demo model in the user cache (${demo[0]})`);

  await run(process.execPath, ['--input-type=module', '-e', `import sharp from 'sharp'; await sharp({ create: { width: 320, height: 180, channels: 3, background: '#506e96' } }).jpeg().toFile('front.jpg');`], app, env);
  writeFileSync(path.join(app, 'history.json'), JSON.stringify([{ t: -0.5, x: -2, y: 0, ax: 0.1, ay: 0, speed: 4, steering: 0.3 }, { t: 0, x: 0, y: 0, ax: 0.1, ay: 0, speed: 4, steering: 0.3 }]));
  const plan = await npx('plan', '--model', modelDir, '--image', 'front.jpg', '--history', 'history.json');
  if ((plan.match(/^ {2}t=\d\.\ds /gm) ?? []).length !== 6) throw new Error(`npx trt-vla plan did not print 6 waypoints:\n${plan}`);
  step('npx trt-vla plan: 6 waypoints');
}

// What the tarball must and must not hold: the license texts, the tokenizer asset make-model needs,
// and source maps only where the sources they point at ship too.
async function checkTarballContents(tarballPath) {
  const entries = (await run('tar', ['-tzf', tarballPath], work)).split('\n').filter(Boolean);
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

// Each example project: `npm init -y`, trt-vla plus TypeScript and @types/node (the versions this
// package is developed with) from the local registry, the README's blocks as files; the shell blocks
// run first (they prepare the model), then tsc compiles the TypeScript and node runs it.
async function checkReadmeExamples(npmEnv) {
  const examples = readmeExamples();
  const devVersion = (name) => `${name}@${pkg.devDependencies[name]}`;
  for (const flavour of ['commonjs', 'module']) {
    const app = path.join(work, `readme-${flavour}`);
    mkdirSync(app, { recursive: true });
    const env = { ...npmEnv, XDG_CACHE_HOME: path.join(work, 'xdg-cache'), TRT_VLA_ADDON_PATH: '' };
    await run(npm, ['init', '-y'], app, env);
    if (flavour === 'module') await run(npm, ['pkg', 'set', 'type=module'], app, env);
    const type = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')).type ?? 'commonjs';
    if (type !== flavour) throw new Error(`npm init -y made a "${type}" project, expected "${flavour}"`);
    await run(npm, ['install', 'trt-vla', devVersion('typescript'), devVersion('@types/node')], app, env);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, types: ['node'] } }),
    );
    await run(process.execPath, ['--input-type=module', '-e', `import sharp from 'sharp'; await sharp({ create: { width: 480, height: 270, channels: 3, background: '#6e7f8f' } }).jpeg().toFile('front.jpg');`], app, env);
    for (const { file, code } of examples) writeFileSync(path.join(app, file), `${code}\n`);
    for (const { file } of examples.filter((e) => e.lang === 'sh')) await run('bash', ['-e', file], app, env);
    await run(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app, env);
    for (const { file } of examples.filter((e) => e.lang === 'ts')) {
      const out = await run(process.execPath, [file.replace(/\.ts$/, '.js')], app, env);
      if (!/t: 0\.5, x: -?[\d.]+, y: -?[\d.]+/.test(out) || !/random weights/.test(out)) throw new Error(`README example ${file} (${flavour}) printed no waypoints or no warning:\n${out}`);
    }
    step(`README examples compiled and ran in a fresh ${flavour} project: ${examples.map((e) => e.file).join(', ')}`);
  }
}

// The environment of a user's shell: without what `npm run check:pack` adds (npm_config_* for every
// setting of this machine's npm, e.g. omit-lockfile-registry-resolved, which would change what
// `npm install-scripts approve` writes; npm_package_*, npm_lifecycle_*; the checkout's
// node_modules/.bin on PATH).
function userEnvironment() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(config|package|lifecycle)_/i.test(key) || /^(npm_command|npm_execpath|npm_node_execpath|INIT_CWD)$/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !path.resolve(dir).startsWith(root + path.sep)).join(path.delimiter);
  return env;
}

/** The checkout's CMake build folder whose trt_vla.node can be the linux-x64 prebuilt, if any. */
function reusableBuild() {
  const infoFile = path.join(root, 'build', 'Release', 'build-info.json');
  if (!existsSync(infoFile) || !existsSync(path.join(root, 'build', 'Release', 'trt_vla.node'))) return undefined;
  const info = JSON.parse(readFileSync(infoFile, 'utf8'));
  const ok = info.buildSystem === 'cmake' && info.backends.includes('cuda') && !info.backends.includes('tensorrt') && !info.sanitize && info.arch === 'x86_64';
  return ok ? 'build' : undefined;
}

// Stand-ins for every tool a source build would run: each call is recorded, then fails. An install
// that uses the prebuilt binary leaves the record empty.
const BUILD_TOOLS = ['cmake', 'ninja', 'make', 'node-gyp', 'cc', 'c++', 'gcc', 'g++', 'nvcc', 'aarch64-linux-gnu-g++'];
function fakeBuildTools() {
  const dir = path.join(work, 'fake-build-tools');
  const record = path.join(work, 'build-tool-calls.log');
  mkdirSync(dir, { recursive: true });
  for (const tool of BUILD_TOOLS) {
    writeFileSync(path.join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> '${record}'\nexit 1\n`);
    chmodSync(path.join(dir, tool), 0o755);
  }
  return {
    env: (env) => ({ ...env, PATH: `${dir}${path.delimiter}${env.PATH}`, CUDACXX: path.join(dir, 'nvcc') }),
    calls: () => (existsSync(record) ? readFileSync(record, 'utf8').trim().split('\n').filter(Boolean) : []),
  };
}

/** The README's `<!-- install-steps: NAME -->` blocks: the npm commands, comments removed. */
function readmeInstallSteps() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const steps = {};
  // The blocks sit in a list, indented.
  for (const [, , name, code] of readme.matchAll(/^( *)<!-- install-steps: (\S+) -->\n\1```sh\n([\s\S]*?)\n\1```/gm)) {
    steps[name] = code.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
  }
  for (const name of ['default', 'strict', 'strict-after-install']) {
    if (!steps[name]?.length) throw new Error(`README.md has no <!-- install-steps: ${name} --> block`);
    const other = steps[name].find((l) => !/^npm /.test(l));
    if (other) throw new Error(`README install-steps ${name}: "${other}" is not an npm command`);
  }
  return steps;
}

function loadInfo(app, env) {
  const script = `import { info } from 'trt-vla'; const i = await info(); console.log(JSON.stringify(i));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', env: { ...env, TRT_VLA_ADDON_PATH: '' } }));
}

// npm 11's install-script policy, observed on npm 11.19.1 (/usr/lib/node_modules/npm here) and cited
// from its sources and docs:
// - without approval a dependency's install script still runs, and the install ends with the warning
//   "N packages have install scripts not yet covered by allowScripts" (lib/utils/reify-output.js:235
//   unreviewedScriptsMessage); only denied packages are skipped (@npmcli/arborist
//   lib/arborist/rebuild.js:208 `isScriptAllowed(node, this.options.allowScripts) === false`);
// - `npm install-scripts approve NAME` writes allowScripts into package.json: "By default it writes
//   pinned entries (pkg@1.2.3)" (`npm help install-scripts`), and only for installed packages
//   (lib/utils/allow-scripts-cmd.js:202, ENOMATCH "No installed packages match");
// - strict-allow-scripts: "If true, turn the install-script policy from a warning into a hard error:
//   any dependency with install scripts not covered by allowScripts will fail the install instead of
//   running with a notice" (`npm help install`), checked before reify, so before anything is
//   installed (lib/commands/install.js:157, lib/utils/strict-allow-scripts-preflight.js:72
//   ESTRICTALLOWSCRIPTS).
// Each README block runs in a fresh project with npm's defaults (an empty userconfig); `--loglevel=info`
// is added to installs and rebuilds only to see npm's "run trt-vla@V install ..." lines.
async function checkInstallSteps(env) {
  const steps = readmeInstallSteps();
  const version = pkg.version;
  const scriptRan = (out) => new RegExp(`run trt-vla@${version.replace(/\./g, '\\.')} install node_modules/trt-vla node scripts/install\\.mjs`).test(out) && /run trt-vla@\S+ install \{ code: 0/.test(out);
  const unreviewed = (out) => /install scripts not yet covered by allowScripts:([\s\S]*?)(\n\S|$)/.exec(out.replace(/^npm warn install-scripts ?/gm, ''))?.[1] ?? '';
  const runSteps = async (name, app, onEach) => {
    mkdirSync(app, { recursive: true });
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: `app-${name}`, version: '1.0.0', private: true }));
    for (const line of steps[name]) {
      const args = line.split(/\s+/).slice(1);
      if (args[0] === 'install' || args[0] === 'rebuild') args.push('--loglevel=info');
      const result = await runAsync(npm, args, app, env);
      await onEach(line, result);
    }
  };
  const expectOk = (line, r) => {
    if (r.status !== 0) throw new Error(`README step \`${line}\` failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  };
  const allowScripts = (app) => JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')).allowScripts ?? {};
  const checkPrebuiltInUse = (app, label) => {
    if (existsSync(path.join(app, 'node_modules', 'trt-vla', 'build'))) throw new Error(`${label}: the install built something into node_modules/trt-vla/build`);
    const i = loadInfo(app, process.env);
    if (!i.build.addonPath.includes(`${path.sep}prebuilds${path.sep}`)) throw new Error(`${label}: loaded ${i.build.addonPath}, not the prebuilt binary`);
  };

  // Default npm settings: `npm install trt-vla` runs the script with a warning; approving silences it.
  const appDefault = path.join(work, 'steps-default');
  await runSteps('default', appDefault, async (line, r) => {
    expectOk(line, r);
    const out = `${r.stdout}\n${r.stderr}`;
    if (line === 'npm install trt-vla') {
      if (!scriptRan(out)) throw new Error(`\`${line}\`: npm did not run trt-vla's install script:\n${out}`);
      if (!unreviewed(out).includes(`trt-vla@${version} (install: node scripts/install.mjs)`)) throw new Error(`\`${line}\`: no allowScripts warning naming trt-vla:\n${out}`);
      checkPrebuiltInUse(appDefault, line);
    } else if (/^npm install-scripts approve/.test(line)) {
      if (allowScripts(appDefault)[`trt-vla@${version}`] !== true) throw new Error(`\`${line}\` did not write allowScripts "trt-vla@${version}": true: ${JSON.stringify(allowScripts(appDefault))}`);
      // The next install no longer lists trt-vla as unreviewed.
      const again = await runAsync(npm, ['install', '--loglevel=info'], appDefault, env);
      expectOk('npm install (after approving)', again);
      if (unreviewed(`${again.stdout}\n${again.stderr}`).includes('trt-vla@')) throw new Error(`after \`${line}\` npm still lists trt-vla as unreviewed:\n${again.stderr}`);
    }
  });
  step(`README install steps, npm defaults (${steps.default.join('; ')}): the script ran with npm's allowScripts warning, used the prebuilt binary; approved as trt-vla@${version}, then no warning`);

  // --strict-allow-scripts: unapproved fails the install before anything is installed, and
  // `npm install-scripts approve` cannot approve a package that is not installed yet.
  const appRefused = path.join(work, 'steps-refused');
  mkdirSync(appRefused, { recursive: true });
  writeFileSync(path.join(appRefused, 'package.json'), JSON.stringify({ name: 'app-refused', version: '1.0.0', private: true }));
  const refused = await runAsync(npm, ['install', 'trt-vla', '--strict-allow-scripts'], appRefused, env);
  if (refused.status === 0 || !/ESTRICTALLOWSCRIPTS/.test(refused.stderr) || !refused.stderr.includes(`trt-vla@${version} (install: node scripts/install.mjs)`)) {
    throw new Error(`npm install trt-vla --strict-allow-scripts without approval did not fail with ESTRICTALLOWSCRIPTS naming trt-vla:\n${refused.stderr}`);
  }
  const others = [...refused.stderr.matchAll(/^npm error {3}(\S+)@\S+ \(/gm)].map((m) => m[1]).filter((n) => n !== 'trt-vla');
  if (existsSync(path.join(appRefused, 'node_modules', 'trt-vla'))) throw new Error('the refused strict install left node_modules/trt-vla behind');
  const tooEarly = await runAsync(npm, ['install-scripts', 'approve', 'trt-vla'], appRefused, env);
  if (tooEarly.status === 0 || !/ENOMATCH/.test(tooEarly.stderr)) throw new Error(`npm install-scripts approve before installing did not fail with ENOMATCH:\n${tooEarly.stderr}`);
  step(`--strict-allow-scripts without approval: ESTRICTALLOWSCRIPTS naming trt-vla${others.length ? ` and ${others.join(', ')}` : ''}, nothing installed; \`npm install-scripts approve trt-vla\` before the install: ENOMATCH`);

  // The README's strict steps, for a new project and for one installed with --ignore-scripts.
  for (const name of ['strict', 'strict-after-install']) {
    const app = path.join(work, `steps-${name}`);
    let ran = false;
    await runSteps(name, app, async (line, r) => {
      expectOk(line, r);
      ran ||= scriptRan(`${r.stdout}\n${r.stderr}`);
    });
    if (!ran) throw new Error(`README install-steps ${name}: trt-vla's install script never ran`);
    const left = allowScripts(app);
    for (const other of others) if (!Object.keys(left).some((k) => k === other || k.startsWith(`${other}@`))) throw new Error(`README install-steps ${name} leave ${other} (which has an install script) out of allowScripts: ${JSON.stringify(left)}`);
    checkPrebuiltInUse(app, `install-steps ${name}`);
    step(`README install steps with --strict-allow-scripts (${steps[name].join('; ')}): ok, the script ran, allowScripts ${JSON.stringify(left)}`);
  }
}

const started = Date.now();
let registry;
try {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts` first');
  if (os.platform() !== 'linux' || os.arch() !== 'x64') throw new Error('check:pack builds the linux-x64 prebuilt binary and installs it: run it on linux-x64');

  // 1. A staging copy of the package: what `files` publishes, and the prebuilt binaries.
  const stage = path.join(work, 'stage');
  for (const entry of [...pkg.files.filter((f) => f !== 'prebuilds' && !f.startsWith('!')), 'package.json', 'README.md']) {
    const from = path.join(root, entry);
    if (existsSync(from)) cpSync(from, path.join(stage, entry), { recursive: true });
  }
  const reuse = reusableBuild();
  step(`linux-x64 prebuilt: ${reuse ? 'reusing build/Release/trt_vla.node (CMake, CUDA, no TensorRT)' : 'building with CMake (CUDA) in build-prebuilds/linux-x64'}`);
  const x64 = buildPrebuilt('x64', { out: stage, reuseBuild: reuse, quiet: true });
  const x64Info = loadBuildInfo(x64.file);
  if (!x64Info.backends.includes('cuda') || x64Info.backends.includes('tensorrt')) throw new Error(`the linux-x64 prebuilt has backends ${x64Info.backends.join(', ')}, expected cpu and cuda`);
  step(`${describe(x64.file, x64.inspection, stage)}; backends ${x64Info.backends.join(', ')}, CUDA ${x64Info.cudaVersion} sm ${x64Info.cudaArchitectures} (${formatDuration(x64.seconds * 1000)})`);
  const arm64Missing = missingTools('arm64');
  if (arm64Missing) {
    if (process.env.CI) throw new Error(`linux-arm64 prebuilt: ${arm64Missing}`);
    step(`linux-arm64 prebuilt: NOT BUILT, ${arm64Missing}; the package checked here lacks it`);
  } else {
    step('linux-arm64 prebuilt: cross-compiling (CPU only) in build-prebuilds/linux-arm64');
    const arm64 = buildPrebuilt('arm64', { out: stage, quiet: true });
    step(`${describe(arm64.file, arm64.inspection, stage)} (${formatDuration(arm64.seconds * 1000)})`);
  }

  // 2. npm pack (without scripts: dist/ and prebuilds/ are already in place).
  const tarball = (await run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], stage)).trim().split('\n').pop();
  const tarballPath = path.join(work, tarball);
  step(`packed ${tarball}`);
  await checkTarballContents(tarballPath);
  // What users never need: the test addon's sources, the GPU check's, and their scripts.
  const listed = (await run('tar', ['tzf', tarballPath], work)).split('\n');
  const unwanted = listed.filter((f) => /^package\/(native\/(testing|checks)\/|scripts\/(gpu-check|cuda-emulator)|.*trt_vla_testing)/.test(f));
  if (unwanted.length) throw new Error(`the package contains test-only files: ${unwanted.join(', ')}`);
  const shipped = listed.filter((f) => /^package\/prebuilds\/.*\.node$/.test(f));
  step(`${listed.filter(Boolean).length} files in the package, none of them test-only; prebuilt: ${shipped.map((f) => f.replace('package/', '')).join(', ')}`);

  // 3. `npm install trt-vla` from the local registry into empty projects, with and without install
  //    scripts, where any build tool call would be recorded. npm's defaults (an empty userconfig), a
  //    cache of its own (npm would otherwise file the local registry's answers into the user's).
  const userCache = (await run(npm, ['config', 'get', 'cache'], work)).trim();
  registry = await startLocalRegistry({ cacheDir: userCache, tarballs: [tarballPath] });
  writeFileSync(path.join(work, 'empty-npmrc'), '');
  const tools = fakeBuildTools();
  const npmEnv = tools.env({
    ...userEnvironment(),
    npm_config_userconfig: path.join(work, 'empty-npmrc'),
    npm_config_registry: `${registry.url}/`,
    npm_config_cache: path.join(work, 'npm-cache'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  });
  for (const scripts of [true, false]) {
    const app = path.join(work, scripts ? 'app-scripts' : 'app-no-scripts');
    mkdirSync(app, { recursive: true });
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const args = ['install', 'trt-vla', '--foreground-scripts'];
    if (!scripts) args.push('--ignore-scripts');
    const installLog = await run(npm, args, app, npmEnv);
    if (scripts && !/trt-vla: using the prebuilt binary with backends cpu, cuda/.test(installLog)) {
      throw new Error(`the install script did not report the prebuilt binary with CUDA:\n${installLog}`);
    }
    if (tools.calls().length) throw new Error(`installing ran build tools: ${tools.calls().join('; ')}`);
    if (existsSync(path.join(app, 'node_modules', 'trt-vla', 'build'))) throw new Error('the install made node_modules/trt-vla/build');
    const i = loadInfo(app, process.env);
    if (!i.backends.cpu.available) throw new Error('cpu backend unavailable in the installed package');
    if (!i.build.addonPath.includes(`${path.sep}prebuilds${path.sep}linux-x64${path.sep}`)) throw new Error(`loaded ${i.build.addonPath}, not the linux-x64 prebuilt binary`);
    if (!i.backends.cuda.compiled || (!i.backends.cuda.available && !i.backends.cuda.reason)) throw new Error(`info().backends.cuda in the installed package: ${JSON.stringify(i.backends.cuda)}`);
    const bin = execFileSync(path.join(app, 'node_modules', '.bin', 'trt-vla'), ['info'], { cwd: app, encoding: 'utf8', env: { ...process.env, TRT_VLA_ADDON_PATH: '' } });
    if (!/cpu\s+available/.test(bin)) throw new Error(`npx trt-vla info did not work:\n${bin}`);
    const cuda = i.backends.cuda.available ? 'available' : `compiled, unavailable: ${i.backends.cuda.reason}`;
    step(`npm install trt-vla ${scripts ? 'with' : 'without'} install scripts: no build tool ran; info() ok, backends ${i.build.backends.join(', ')} (cuda ${cuda}), addon ${path.relative(app, i.build.addonPath)}`);
    if (scripts) await checkFirstRun(app, npmEnv);
  }
  await checkInstallSteps(npmEnv);
  await checkReadmeExamples(npmEnv);
  if (tools.calls().length) throw new Error(`a build tool ran: ${tools.calls().join('; ')}`);
  // npm asks for the packuments of optional dependencies for other platforms too (sharp's
  // @img/sharp-darwin-arm64, ...); `npm ci` never fetched those, so they 404 and npm skips them. Any
  // package an install needs and the cache lacks has already failed that install above.
  const missed = [...new Set(registry.misses.map((m) => m.replace(/^GET \//, '')))];
  step(`local registry: ${registry.served.length} answers from npm's cache and the tarball${missed.length ? `; 404 for ${missed.length} packages not in the cache (${missed.slice(0, 3).join(', ')}${missed.length > 3 ? ', ...' : ''})` : ''}`);
  step(`ok in ${formatDuration(Date.now() - started)}`);
} finally {
  await registry?.close();
  if (!process.env.TRT_VLA_KEEP_PACK) rmSync(work, { recursive: true, force: true });
}
