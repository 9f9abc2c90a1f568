#!/usr/bin/env node
// prebuildify's builder, in place of node-gyp (its documented `--node-gyp` / PREBUILD_NODE_GYP hook;
// prebuildify 6.0.1 index.js spawns `<node-gyp> rebuild --target=V --devdir=D --arch=A --release` in
// its --cwd and takes the first .node file from <cwd>/build/Release). It builds this package's
// CMakeLists.txt (the full build; binding.gyp is CPU-only) into <cwd>/build with what a prebuilt
// binary needs:
//   x64    CUDA compiled in (TRT_VLA_CUDA=ON: fails without nvcc), the CUDA runtime linked statically
//          (CMakeLists.txt: cudart_static), so the binary loads without a driver or GPU and reports
//          why CUDA is unavailable; no TensorRT (a prebuilt cannot know the machine's TensorRT).
//   arm64  cross-compiled with aarch64-linux-gnu-g++, CPU only (a Jetson builds from source on
//          install to get CUDA and TensorRT: scripts/install.mjs).
// TRT_VLA_PREBUILD_REUSE=DIR takes trt_vla.node from an existing CMake build folder instead of
// compiling (CI's `npm ci` already built it), after checking its build-info.json says it qualifies.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { buildNative } from './build-native.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: { arch: { type: 'string' }, target: { type: 'string' }, devdir: { type: 'string' }, release: { type: 'boolean' }, debug: { type: 'boolean' } },
});
const fail = (message) => {
  console.error(`cmake-js-as-node-gyp: ${message}`);
  process.exit(1);
};
if (positionals[0] !== 'rebuild') fail(`only "rebuild" is supported (got ${positionals.join(' ')})`);

const arch = String(values.arch ?? os.arch());
const out = path.resolve('build');
const release = path.join(out, values.debug ? 'Debug' : 'Release');
const env = process.env;

/** CMake cache entries for each target architecture. */
function prebuildDefines(targetArch, hostArch = os.arch()) {
  if (targetArch === 'x64' && hostArch === 'x64') {
    return {
      TRT_VLA_CUDA: 'ON',
      TRT_VLA_TENSORRT: 'OFF',
      // Fixed, so the binary does not depend on the GPU of the machine that built it.
      TRT_VLA_CUDA_ARCHITECTURES: env.TRT_VLA_CUDA_ARCHITECTURES || '87;90',
    };
  }
  if (targetArch === 'arm64') {
    const cross = hostArch !== 'arm64';
    const cxx = env.CXX_AARCH64 || (cross ? 'aarch64-linux-gnu-g++' : 'c++');
    return {
      TRT_VLA_CUDA: 'OFF',
      TRT_VLA_TENSORRT: 'OFF',
      ...(cross && {
        CMAKE_SYSTEM_NAME: 'Linux',
        CMAKE_SYSTEM_PROCESSOR: 'aarch64',
        CMAKE_CXX_COMPILER: cxx,
        CMAKE_C_COMPILER: cxx.replace(/g\+\+$/, 'gcc'),
      }),
    };
  }
  throw new Error(`no prebuilt binary is defined for ${targetArch} (built on ${hostArch})`);
}

function reuse(dir) {
  const from = path.join(path.resolve(dir), 'Release');
  const infoFile = path.join(from, 'build-info.json');
  if (!existsSync(infoFile) || !existsSync(path.join(from, 'trt_vla.node'))) fail(`TRT_VLA_PREBUILD_REUSE=${dir}: no Release/trt_vla.node with build-info.json there`);
  const info = JSON.parse(readFileSync(infoFile, 'utf8'));
  const problems = [
    info.buildSystem !== 'cmake' && `built by ${info.buildSystem}, not CMake`,
    !info.backends.includes('cuda') && 'CUDA not compiled in',
    info.backends.includes('tensorrt') && 'TensorRT compiled in (a prebuilt must not need libnvinfer)',
    info.sanitize && 'a sanitizer build',
    arch !== 'x64' || info.arch !== 'x86_64' ? `built for ${info.arch}, wanted ${arch}` : undefined,
  ].filter(Boolean);
  if (problems.length) fail(`TRT_VLA_PREBUILD_REUSE=${dir} does not qualify: ${problems.join('; ')}`);
  rmSync(release, { recursive: true, force: true });
  mkdirSync(release, { recursive: true });
  copyFileSync(path.join(from, 'trt_vla.node'), path.join(release, 'trt_vla.node'));
  copyFileSync(infoFile, path.join(release, 'build-info.json'));
  console.log(`cmake-js-as-node-gyp: reusing ${path.join(from, 'trt_vla.node')} (backends ${info.backends.join(', ')}, CUDA ${info.cudaVersion} for sm ${info.cudaArchitectures})`);
}

if (env.TRT_VLA_PREBUILD_REUSE) {
  reuse(env.TRT_VLA_PREBUILD_REUSE);
} else {
  let defines;
  try {
    defines = prebuildDefines(arch);
  } catch (error) {
    fail(error.message);
  }
  // Each architecture has its own work folder (build-prebuilds/linux-<arch>), so a second run only
  // relinks what prebuildify moved away.
  console.log(`cmake-js-as-node-gyp: building for linux-${arch} with ${Object.entries(defines).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const ok = buildNative({ out, debug: Boolean(values.debug), testing: false, defines });
  if (!ok) fail('the CMake build failed (see above)');
}
