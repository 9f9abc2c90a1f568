#!/usr/bin/env node
// Runs the CUDA kernel tests without a GPU: builds the addon into build-emu/ with every CUDA source
// compiled as host C++ against a CPU emulation of the CUDA runtime and device code
// (test/cuda-emulator/), then runs the given vitest files (default: test/native/cudaKernels.test.ts
// and test/native/devicePipeline.test.ts, the device pipeline end to end on the CPU engines) through
// it, where they see one "device".
//
//   node scripts/cuda-emulator.mjs [--no-build] [test files...]
//
// What this checks: the kernels' logic and index arithmetic, bounds (the hooks' guard bytes), block
// cooperation (__syncthreads, warp shuffles and atomics on real threads), grid-stride loops with a
// smaller grid than requested, the launchers' workspace layouts, and bit-exactness of the arithmetic as
// written. It runs at most 3 blocks per launch, so it only suits grid-stride kernels (all of
// native/cuda/kernels; not self_test.cu's one-thread-per-element kernel). What it cannot check: nvcc's code generation, the device's math library (sincosf), CUB's
// real radix sort (a stable sort stands in), the memory model, mapped memory, timing. It is a
// development aid, not a substitute for running test/native/cudaKernels.test.ts on a GPU.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build-emu');
const emulator = path.join(root, 'test', 'cuda-emulator');
const args = process.argv.slice(2);
const tests = args.filter((a) => !a.startsWith('--'));
const cxx = process.env.CXX || 'c++';

// kernel<<<grid, block, shared, stream>>>(args) -> (::emu::Launch(grid, block, shared, stream) * kernel)(args)
function emulateLaunches(source) {
  return source.replace(/([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)<<<([\s\S]*?)>>>/g, '(::emu::Launch($2) * $1)');
}

function compile(job) {
  return new Promise((resolve) => {
    const child = spawn(cxx, job.args, { cwd: root });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ job, ok: code === 0, output }));
  });
}

async function build() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, 'gen'), { recursive: true });
  mkdirSync(path.join(out, 'obj'), { recursive: true });
  const groups = JSON.parse(readFileSync(path.join(root, 'native', 'sources.json'), 'utf8'));
  const isX86 = process.arch === 'x64';
  const flags = [
    '-std=c++17', '-O1', '-fPIC', '-pthread', '-ffp-contract=off', '-fvisibility=hidden',
    '-I', path.join(emulator, 'include'), '-I', path.join(root, 'native'),
    '-isystem', path.join(root, 'node_modules', 'node-api-headers', 'include'),
    '-isystem', path.join(root, 'node_modules', 'node-addon-api'),
    ...['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NAPI_CPP_EXCEPTIONS',
      'TRT_VLA_VERSION="emulated"', 'TRT_VLA_GIT_REVISION="emulated"', 'TRT_VLA_BUILD_SYSTEM="cmake"',
      'TRT_VLA_CUDA_ARCHS="emulated"', 'TRT_VLA_CUDA_REASON=""', 'TRT_VLA_TENSORRT_REASON="not in the emulated build"',
      'TRT_VLA_WITH_CUDA=1'].map((d) => `-D${d}`),
  ];
  const sources = [...groups.common, ...(isX86 ? groups.x86_avx2 : []), ...groups.cuda].map((file) => {
    if (!file.endsWith('.cu')) return { file: path.join(root, file), simd: groups.x86_avx2.includes(file) };
    const generated = path.join(out, 'gen', `${file.replaceAll('/', '_')}.cc`);
    const text = readFileSync(path.join(root, file), 'utf8');
    writeFileSync(generated, `#include "emu_device.h"\n#line 1 "${path.join(root, file)}"\n${emulateLaunches(text)}`);
    return { file: generated, simd: false };
  });
  sources.push({ file: path.join(emulator, 'runtime.cc'), simd: false });
  const jobs = sources.map(({ file, simd }, i) => {
    const object = path.join(out, 'obj', `${i}-${path.basename(file)}.o`);
    return { object, args: [...flags, ...(simd ? ['-mavx2', '-mfma', '-mf16c'] : []), '-c', file, '-o', object] };
  });
  const parallel = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const results = [];
  for (let i = 0; i < jobs.length; i += parallel) results.push(...(await Promise.all(jobs.slice(i, i + parallel).map(compile))));
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) console.error(`\n--- ${r.job.args.at(-3)}\n${r.output.trim()}`);
  if (failed.length) {
    console.error(`cuda-emulator: ${failed.length} of ${results.length} files failed`);
    process.exit(1);
  }
  const link = spawnSync(cxx, ['-shared', '-pthread', '-o', path.join(out, 'trt_vla.node'), ...jobs.map((j) => j.object), '-ldl'], { stdio: 'inherit' });
  if (link.status !== 0) process.exit(1);
  console.log(`cuda-emulator: built ${path.relative(root, path.join(out, 'trt_vla.node'))} from ${jobs.length} files`);
}

const defaultTests = ['test/native/cudaKernels.test.ts', 'test/native/devicePipeline.test.ts'];
if (!args.includes('--no-build')) await build();
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(process.execPath, [vitest, 'run', ...(tests.length ? tests : defaultTests)], {
  cwd: root,
  env: { ...process.env, TRT_VLA_ADDON_PATH: path.join(out, 'trt_vla.node') },
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
