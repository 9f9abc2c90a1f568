#!/usr/bin/env node
// Builds the addon with CMake (through cmake-js): the full build, with CUDA and TensorRT where found.
// --testing also builds the test addon (trt_vla_testing.node, beside trt_vla.node): `npm test`'s
// setup, `npm run build:native`, the sanitizer build; the install script never asks for it.
//
//   node scripts/build-native.mjs [--out DIR] [--sanitize] [--debug] [--testing]
//
// Environment (each optional): TRT_VLA_CUDA / TRT_VLA_TENSORRT = AUTO|ON|OFF, TENSORRT_ROOT,
// TRT_VLA_CUDA_ARCHITECTURES (e.g. "87" or "87;90"), CUDACXX (path to nvcc), TRT_VLA_BUILD_JOBS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export function findNvcc(env = process.env) {
  const candidates = [
    env.CUDACXX,
    env.CUDA_HOME && path.join(env.CUDA_HOME, 'bin', 'nvcc'),
    env.CUDA_PATH && path.join(env.CUDA_PATH, 'bin', 'nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ].filter(Boolean);
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

/**
 * The cmake-js configure and build command lines for one build folder. `defines` adds or overrides
 * CMake cache entries (the prebuilds use it for TRT_VLA_TENSORRT=OFF and for cross-compiling).
 */
function cmakeJsCommands({ out = 'build', sanitize = false, debug = false, testing = false, env = process.env, defines: extra = {} } = {}) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = Number(env.TRT_VLA_BUILD_JOBS) || Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const defines = {
    TRT_VLA_CUDA: env.TRT_VLA_CUDA ?? 'AUTO',
    TRT_VLA_TENSORRT: env.TRT_VLA_TENSORRT ?? 'AUTO',
    TRT_VLA_SANITIZE: sanitize ? 'ON' : 'OFF',
    TRT_VLA_TESTING_ADDON: testing ? 'ON' : 'OFF',
  };
  if (env.TRT_VLA_CUDA_ARCHITECTURES) defines.TRT_VLA_CUDA_ARCHITECTURES = env.TRT_VLA_CUDA_ARCHITECTURES;
  if (env.TENSORRT_ROOT) defines.TENSORRT_ROOT = env.TENSORRT_ROOT;
  Object.assign(defines, extra);
  const childEnv = { ...env };
  const nvcc = defines.TRT_VLA_CUDA === 'OFF' ? undefined : findNvcc(env);
  if (nvcc) childEnv.CUDACXX = nvcc;
  const common = ['--directory', root, '--out', path.resolve(root, out), '--config', debug ? 'Debug' : 'Release', '--log-level', 'warn'];
  // Configure every time, then build: `cmake-js compile` keeps an existing build folder's cache, so a
  // folder first configured by the install script (no test addon) would ignore --testing and the other
  // defines. Re-configuring an up-to-date folder costs seconds and rebuilds nothing that is unchanged.
  const configure = [cmakeJs, 'configure', ...common, ...Object.entries(defines).map(([k, v]) => `--CD${k}=${v}`)];
  const build = [cmakeJs, 'build', ...common, '--parallel', String(jobs)];
  return { configure, build, childEnv };
}

/** Builds with CMake, the tools' output going straight to this process's stdout/stderr. */
export function buildNative(options = {}) {
  const { configure, build, childEnv } = cmakeJsCommands(options);
  for (const args of [configure, build]) {
    const result = spawnSync(process.execPath, args, { cwd: root, env: childEnv, stdio: options.stdio ?? 'inherit' });
    if (result.status !== 0) return false;
  }
  return true;
}

/**
 * Builds with CMake, feeding the tools' output to `reporter` (scripts/lib/build-progress.mjs), which
 * turns it into one line per step; resolves to true when both steps succeed.
 */
export async function buildNativeWithProgress(options, reporter) {
  const { configure, build, childEnv } = cmakeJsCommands(options);
  for (const [name, args] of [['configuring with CMake', configure], ['building', build]]) {
    reporter.phase(name);
    const status = await new Promise((resolve) => {
      const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d) => reporter.write(d));
      child.stderr.on('data', (d) => reporter.write(d));
      child.on('error', (error) => {
        reporter.write(`${error.message}\n`);
        resolve(1);
      });
      child.on('close', (code) => resolve(code ?? 1));
    });
    reporter.end();
    if (status !== 0) return false;
  }
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'build' },
      sanitize: { type: 'boolean', default: false },
      debug: { type: 'boolean', default: false },
      testing: { type: 'boolean', default: false },
    },
  });
  process.exit(buildNative(values) ? 0 : 1);
}
