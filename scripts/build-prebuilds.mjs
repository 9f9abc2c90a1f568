#!/usr/bin/env node
// Builds the prebuilt binaries the package ships, with prebuildify driving the CMake build through
// scripts/cmake-js-as-node-gyp.mjs (its `--node-gyp` hook), named the way node-gyp-build looks them
// up: prebuilds/linux-x64/node.napi.glibc.node (CUDA path compiled in, CUDA runtime static) and
// prebuilds/linux-arm64/node.napi.glibc.node (CPU only, cross-compiled with aarch64-linux-gnu-g++).
// Each is then checked with readelf (scripts/lib/check-prebuilt.mjs) and the x64 one loaded.
//
//   npm run build:prebuilds [-- --arch x64,arm64] [--reuse-build build] [--out DIR]
//
// --reuse-build DIR takes the x64 binary from an existing CMake build (e.g. the one `npm ci` made)
// when that build qualifies (CUDA, no TensorRT, no sanitizers), instead of compiling it again.
// TRT_VLA_CUDA_ARCHITECTURES sets the x64 binary's CUDA architectures (default "87;90").
// TRT_VLA_ARM64_NODE=PATH (an arm64 `node` binary) also loads the arm64 binary under qemu-aarch64.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { inspectPrebuilt } from './lib/check-prebuilt.mjs';
import { formatDuration } from './lib/build-progress.mjs';
import { hasCommand } from './toolchain.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (line) => console.log(`build:prebuilds: ${line}`);

/** The tools a target needs on this host, or why it cannot be built here. */
export function missingTools(arch) {
  if (arch === 'arm64' && os.arch() !== 'arm64') {
    const cxx = process.env.CXX_AARCH64 || 'aarch64-linux-gnu-g++';
    const missing = [cxx, 'aarch64-linux-gnu-strip'].filter((t) => !hasCommand(t));
    return missing.length ? `${missing.join(' and ')} not found (apt-get install g++-aarch64-linux-gnu)` : undefined;
  }
  return hasCommand('cmake') ? undefined : 'cmake not found';
}

/**
 * Builds the prebuilt binary for `arch` into `<out>/prebuilds/linux-<arch>/` and checks it.
 * Returns { file, inspection, seconds }.
 */
export function buildPrebuilt(arch, { out = root, reuseBuild, quiet = false } = {}) {
  const started = Date.now();
  const work = path.join(root, 'build-prebuilds', `linux-${arch}`);
  const dest = path.join(out, 'prebuilds', `linux-${arch}`);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const cross = arch !== os.arch();
  const args = [
    require.resolve('prebuildify/bin.js'),
    '--napi', '--strip', '--tag-libc',
    // prebuildify 6.0.1's prebuildName() starts the file name with --name (else the package name, else
    // the runtime) and adds no "napi" tag of its own; node-gyp-build (node-gyp-build.js parseTags /
    // runtimeAgnostic) takes "node.napi" as "any runtime, Node-API", hence node.napi.glibc.node.
    '--name', 'node.napi',
    '--platform', 'linux', '--arch', arch,
    '--cwd', work, '--out', out,
    '--node-gyp', path.join(root, 'scripts', 'cmake-js-as-node-gyp.mjs'),
  ];
  if (cross && arch === 'arm64') args.push('--strip-bin', 'aarch64-linux-gnu-strip');
  const env = { ...process.env };
  delete env.TRT_VLA_PREBUILD_REUSE;
  if (reuseBuild && arch === 'x64') env.TRT_VLA_PREBUILD_REUSE = path.resolve(root, reuseBuild);
  const result = spawnSync(process.execPath, args, { cwd: root, env, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (result.status !== 0) {
    if (quiet) console.error(result.stdout, result.stderr);
    throw new Error(`prebuildify failed for linux-${arch}`);
  }
  const files = readdirSync(dest).filter((f) => f.endsWith('.node'));
  if (files.length !== 1) throw new Error(`expected one .node in ${dest}, found ${files.join(', ') || 'none'}`);
  const file = path.join(dest, files[0]);
  const inspection = inspectPrebuilt(file, arch);
  if (inspection.problems.length) throw new Error(`${path.relative(out, file)}: ${inspection.problems.join('; ')}`);
  return { file, inspection, seconds: (Date.now() - started) / 1000, reused: Boolean(env.TRT_VLA_PREBUILD_REUSE) };
}

/** Loads a prebuilt binary in a child process (optionally under qemu with another node) and returns its buildInfo(). */
export function loadBuildInfo(file, { node = process.execPath, qemu } = {}) {
  const code = `process.stdout.write(JSON.stringify(require(${JSON.stringify(file)}).buildInfo()))`;
  const [cmd, args] = qemu ? [qemu.command, [...qemu.args, node, '-e', code]] : [node, ['-e', code]];
  const child = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000 });
  if (child.status !== 0) throw new Error(`loading ${file} failed: ${child.stderr || child.error?.message}`);
  return JSON.parse(child.stdout);
}

export function describe(file, inspection, out) {
  const versions = Object.entries(inspection.newest).map(([k, v]) => `${k}_${v}`).join(' ');
  return `${path.relative(out, file)}: ${inspection.machine}, ${(statSync(file).size / 1e6).toFixed(1)} MB, needs ${inspection.needed.join(' ')}; newest symbol versions ${versions}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string', default: 'x64,arm64' },
      'reuse-build': { type: 'string' },
      out: { type: 'string', default: root },
    },
  });
  const out = path.resolve(values.out);
  let failed = false;
  for (const arch of values.arch.split(',').map((a) => a.trim()).filter(Boolean)) {
    const missing = missingTools(arch);
    if (missing) {
      console.error(`build:prebuilds: cannot build linux-${arch} here: ${missing}`);
      failed = true;
      continue;
    }
    try {
      say(`linux-${arch}: building`);
      const { file, inspection, seconds, reused } = buildPrebuilt(arch, { out, reuseBuild: values['reuse-build'] });
      say(`${describe(file, inspection, out)} (${reused ? 'reused' : 'built'} in ${formatDuration(seconds * 1000)})`);
      if (arch === os.arch()) {
        const info = loadBuildInfo(file);
        say(`linux-${arch}: loads; backends ${info.backends.join(', ')}${info.cudaVersion ? `, CUDA ${info.cudaVersion} (sm ${info.cudaArchitectures})` : ''}, simd ${info.simd}`);
      } else if (arch === 'arm64' && process.env.TRT_VLA_ARM64_NODE && hasCommand('qemu-aarch64')) {
        const info = loadBuildInfo(file, { node: process.env.TRT_VLA_ARM64_NODE, qemu: { command: 'qemu-aarch64', args: ['-L', '/usr/aarch64-linux-gnu'] } });
        say(`linux-arm64: loads under qemu-aarch64 with ${process.env.TRT_VLA_ARM64_NODE}; backends ${info.backends.join(', ')}, simd ${info.simd}, arch ${info.arch}`);
      } else {
        say(`linux-${arch}: not loaded here (no arm64 node; set TRT_VLA_ARM64_NODE to run it under qemu-aarch64)`);
      }
    } catch (error) {
      console.error(`build:prebuilds: ${error.message}`);
      failed = true;
    }
  }
  if (existsSync(path.join(root, 'build-prebuilds')) && !failed) say(`done; work folders in build-prebuilds/`);
  process.exit(failed ? 1 : 0);
}
