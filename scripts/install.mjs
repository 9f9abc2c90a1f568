#!/usr/bin/env node
// npm install hook. Keeps `npm install trt-vla` working everywhere and picks the best binary:
// - a prebuilt or local binary is probed in a child process (a broken binary cannot crash npm);
// - on a machine with a TensorRT toolchain (a Jetson with JetPack) where that binary lacks TensorRT,
//   or where no usable binary exists, it builds from source: CMake when present, else node-gyp (CPU);
// - it prints one line with the chosen backends and why; a source build prints a line per step
//   ("[12/57] compiled native/engine/cpu/kernels.cc (1m05s)"), and, since npm hides that output
//   unless --foreground-scripts, its start line and some progress go to the terminal as well.
// The runtime never depends on this script (it explains itself when scripts were skipped).
// TRT_VLA_SKIP_INSTALL=1 skips it; TRT_VLA_BUILD_FROM_SOURCE=1 (or --build-from-source) forces a build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildNativeWithProgress } from './build-native.mjs';
import { createBuildReporter } from './lib/build-progress.mjs';
import { planInstall } from './lib/install-plan.mjs';
import { detectTensorrtToolchain, findNvcc, findTensorrtHeaders, hasCommand, jetsonRelease } from './toolchain.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const env = process.env;
const say = (line) => console.log(`trt-vla: ${line}`);
const warn = (line) => console.error(`trt-vla: WARNING: ${line}`);

function resolveBinary() {
  try {
    return require('node-gyp-build').resolve(root);
  } catch {
    return undefined;
  }
}

// Loads the binary in a child process and returns its build info, or the load error.
function probe(binary) {
  const code = `process.stdout.write(JSON.stringify(require(${JSON.stringify(binary)}).buildInfo()))`;
  const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
  if (child.status === 0) {
    try {
      return { ok: true, info: JSON.parse(child.stdout) };
    } catch {
      /* fall through */
    }
  }
  const error = (child.stderr || child.error?.message || `exit ${child.status}`).trim().split('\n').find((l) => /Error|error/.test(l));
  return { ok: false, error: error ?? 'it did not load' };
}

function describe(binary, info) {
  const kind = binary.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuilt binary' : `${info.buildSystem} build`;
  const extras = [info.cudaVersion && `CUDA ${info.cudaVersion}`, info.tensorrtVersion && `TensorRT ${info.tensorrtVersion}`]
    .filter(Boolean)
    .join(', ');
  return `${kind} with backends ${info.backends.join(', ')}${extras ? ` (${extras})` : ''}`;
}

function buildWithNodeGyp() {
  const nodeGyp = env.npm_config_node_gyp;
  const [cmd, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['npx', ['--no-install', 'node-gyp', 'rebuild']];
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status === 0;
}

// npm (7 and later, 11 included) runs a dependency's install script with its output piped and shows
// it only when the script fails, unless --foreground-scripts is given (npm 11.19.1,
// @npmcli/arborist lib/arborist/rebuild.js:298: `stdio = this.options.foregroundScripts ? 'inherit' :
// 'pipe'`). A source build takes minutes, so when our output is not a terminal and npm was not asked
// to show it, the start line and a progress line every 20 s also go to the user's terminal
// (/dev/tty) directly. In CI and other runs without a terminal /dev/tty cannot be opened: nothing.
function openTerminal() {
  if (process.stdout.isTTY || env.npm_config_foreground_scripts === 'true' || env.npm_config_loglevel === 'silent') return undefined;
  try {
    const fd = openSync('/dev/tty', 'w');
    // Clear npm's spinner line first, so the two do not mix.
    return (line) => {
      try {
        writeSync(fd, `\r\x1b[K${line}\n`);
      } catch {
        /* the terminal went away: stdout still has everything */
      }
    };
  } catch {
    return undefined;
  }
}

async function buildFromSource(reason, terminal) {
  const useCmake = hasCommand('cmake');
  const nvcc = findNvcc(env);
  const tensorrt = findTensorrtHeaders(env);
  const parts = ['CPU', nvcc && env.TRT_VLA_CUDA !== 'OFF' && 'CUDA', tensorrt && nvcc && env.TRT_VLA_TENSORRT !== 'OFF' && `TensorRT ${tensorrt.version}`].filter(Boolean);
  const start = useCmake
    ? `building the native addon from source with CMake (${parts.join(' + ')}): ${reason}`
    : `building the native addon from source with node-gyp (CPU only: cmake not found): ${reason}`;
  say(start);
  terminal?.(`trt-vla: ${start}`);
  terminal?.('trt-vla: this takes several minutes; npm shows the build\'s output with --foreground-scripts');
  if (!useCmake) return buildWithNodeGyp();

  const reporter = createBuildReporter({
    say: (line) => say(line),
    sayThrottled: terminal && ((line) => terminal(`trt-vla: ${line}`)),
  });
  const ok = await buildNativeWithProgress({}, reporter);
  const logFile = path.join(root, 'build', 'trt-vla-build.log');
  try {
    mkdirSync(path.dirname(logFile), { recursive: true });
    writeFileSync(logFile, `${reporter.log().join('\n')}\n`);
  } catch {
    /* a read-only package folder: the tail below is all there is */
  }
  if (ok) {
    say(`build finished in ${reporter.elapsed()} (full log: ${logFile})`);
    terminal?.(`trt-vla: build finished in ${reporter.elapsed()}`);
  } else {
    console.error(`trt-vla: the CMake build failed after ${reporter.elapsed()}; its last lines (full log: ${logFile}):`);
    console.error(reporter.log().slice(-40).join('\n'));
    terminal?.(`trt-vla: the build failed after ${reporter.elapsed()}; see ${logFile}`);
  }
  return ok;
}

async function main() {
  if (env.TRT_VLA_SKIP_INSTALL === '1') {
    say('install step skipped (TRT_VLA_SKIP_INSTALL=1); run `npm rebuild trt-vla` to build later');
    return 0;
  }
  const forceSource = env.TRT_VLA_BUILD_FROM_SOURCE === '1' || env.npm_config_build_from_source === 'true';
  const toolchain = detectTensorrtToolchain(env);
  const existing = forceSource ? undefined : resolveBinary();
  const existingProbe = existing ? probe(existing) : undefined;
  const plan = planInstall({
    forceSource,
    existing,
    probe: existingProbe,
    toolchain,
    jetson: jetsonRelease(),
    target: `${process.platform}-${process.arch}`,
  });
  if (plan.action === 'use') {
    say(`using the ${describe(existing, existingProbe.info)} — ${plan.why}`);
    return 0;
  }

  const built = await buildFromSource(plan.reason, openTerminal());
  const binary = built ? resolveBinary() : undefined;
  const builtProbe = binary ? probe(binary) : undefined;
  if (builtProbe?.ok) {
    say(`built the ${describe(binary, builtProbe.info)}`);
    if (toolchain.found && !builtProbe.info.backends.includes('tensorrt')) {
      warn('a TensorRT toolchain was found but the build has no TensorRT backend; see the CMake summary above and build/trt-vla-build.log');
    }
    return 0;
  }
  if (existingProbe?.ok) {
    warn(`the source build failed; falling back to the ${describe(existing, existingProbe.info)}. ` +
      'GPU backends are NOT available: fix the build (see above) and run `npm rebuild trt-vla`.');
    return env.TRT_VLA_TENSORRT === 'ON' ? 1 : 0;
  }
  console.error(
    'trt-vla: could not build the native addon. Needs cmake >= 3.19 (or python3 + make for node-gyp) and a C++17 compiler.\n' +
      'trt-vla: after fixing the toolchain run `npm rebuild trt-vla`; `npx trt-vla info` explains what is available.',
  );
  return 1;
}

process.exit(await main());
