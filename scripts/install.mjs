#!/usr/bin/env node
// npm install hook. Keeps `npm install trt-vla` working everywhere and picks the best binary:
// - a prebuilt or local binary is probed in a child process (a broken binary cannot crash npm);
// - on a machine with a TensorRT toolchain (a Jetson with JetPack) where that binary lacks TensorRT,
//   or where no usable binary exists, it builds from source: CMake when present, else node-gyp (CPU);
// - it prints one line with the chosen backends and why.
// The runtime never depends on this script (it explains itself when scripts were skipped).
// TRT_VLA_SKIP_INSTALL=1 skips it; TRT_VLA_BUILD_FROM_SOURCE=1 (or --build-from-source) forces a build.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildNative } from './build-native.mjs';
import { detectTensorrtToolchain, hasCommand, jetsonRelease } from './toolchain.mjs';

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

function main() {
  if (env.TRT_VLA_SKIP_INSTALL === '1') {
    say('install step skipped (TRT_VLA_SKIP_INSTALL=1); run `npm rebuild trt-vla` to build later');
    return 0;
  }
  const forceSource = env.TRT_VLA_BUILD_FROM_SOURCE === '1' || env.npm_config_build_from_source === 'true';
  const toolchain = detectTensorrtToolchain(env);
  const jetson = jetsonRelease();

  const existing = forceSource ? undefined : resolveBinary();
  const existingProbe = existing ? probe(existing) : undefined;
  if (existingProbe?.ok) {
    const hasTensorrt = existingProbe.info.backends.includes('tensorrt');
    if (!toolchain.found || hasTensorrt) {
      const why = hasTensorrt ? 'TensorRT compiled in' : `no TensorRT build here: ${toolchain.reason}`;
      say(`using the ${describe(existing, existingProbe.info)} — ${why}`);
      return 0;
    }
  }

  const reason = forceSource
    ? 'build from source requested'
    : !existing
      ? `no binary for ${process.platform}-${process.arch} yet`
      : !existingProbe.ok
        ? `the available binary does not load (${existingProbe.error})`
        : `TensorRT ${toolchain.version} found${jetson ? ` on a Jetson (${jetson})` : ''}, but the available binary lacks TensorRT`;
  const useCmake = hasCommand('cmake');
  say(`building from source with ${useCmake ? 'CMake' : 'node-gyp (CPU only: cmake not found)'}: ${reason}`);
  const built = useCmake ? buildNative({}) : buildWithNodeGyp();
  const binary = built ? resolveBinary() : undefined;
  const builtProbe = binary ? probe(binary) : undefined;
  if (builtProbe?.ok) {
    say(`built the ${describe(binary, builtProbe.info)}`);
    if (toolchain.found && !builtProbe.info.backends.includes('tensorrt')) {
      warn('a TensorRT toolchain was found but the build has no TensorRT backend; see the CMake output above');
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

process.exit(main());
