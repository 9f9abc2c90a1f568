#!/usr/bin/env node
// Runs the CUDA kernel tests without a GPU: builds the addon, the test addon and trt-vla-gpu-check into
// build-emu/ with every CUDA source compiled as host C++ against a CPU emulation of the CUDA runtime
// and device code (test/cuda-emulator/), then runs the given vitest files (default:
// test/native/cudaKernels.test.ts and test/native/devicePipeline.test.ts, the device pipeline end to
// end on the CPU engines) through it, where they see one "device". --build-only stops after the build
// (scripts/gpu-check.sh --emulated runs the built trt-vla-gpu-check).
//
//   node scripts/cuda-emulator.mjs [--no-build | --build-only] [test files...]
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

// The shared compiler cache where there is one (the same objects recur between runs).
const ccache = spawnSync('sh', ['-c', 'command -v ccache'], { encoding: 'utf8' }).stdout?.trim();

function compile(job) {
  return new Promise((resolve) => {
    const child = ccache ? spawn(ccache, [cxx, ...job.args], { cwd: root }) : spawn(cxx, job.args, { cwd: root });
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
  // Each source once, whichever binaries link it.
  const emulated = (file) => {
    if (!file.endsWith('.cu')) {
      const simd = groups.x86_avx2.includes(file) ? 'avx2' : groups.x86_avx512.includes(file) ? 'avx512' : groups.arm64_dotprod.includes(file) ? 'dotprod' : groups.arm64_i8mm.includes(file) ? 'i8mm' : null;
      return { file: path.join(root, file), simd };
    }
    const generated = path.join(out, 'gen', `${file.replaceAll('/', '_')}.cc`);
    const text = readFileSync(path.join(root, file), 'utf8');
    writeFileSync(generated, `#include "emu_device.h"\n#line 1 "${path.join(root, file)}"\n${emulateLaunches(text)}`);
    return { file: generated, simd: null };
  };
  const part = (files) => files.map(emulated);
  const parts = {
    core: [...part([...groups.common, ...(isX86 ? [...groups.x86_avx2, ...groups.x86_avx512] : []), ...(process.arch === 'arm64' ? [...groups.arm64_dotprod, ...groups.arm64_i8mm] : []), ...groups.cuda]), { file: path.join(emulator, 'runtime.cc'), simd: null }],
    napi: part(groups.napi),
    addon: part(groups.addon),
    testing: part(groups.testing),
    checks: part(groups.cuda_checks),
    gpuCheck: part(groups.gpu_check),
  };
  let index = 0;
  const jobs = [];
  for (const [name, sources] of Object.entries(parts)) {
    parts[name] = sources.map(({ file, simd }) => {
      const object = path.join(out, 'obj', `${index++}-${path.basename(file)}.o`);
      const simdFlags = {
        avx2: ['-mavx2', '-mfma', '-mf16c'],
        avx512: ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mfma', '-mf16c'],
        dotprod: ['-march=armv8.2-a+dotprod'],
        i8mm: ['-march=armv8.2-a+dotprod+i8mm'],
      };
      jobs.push({ object, args: [...flags, ...(simd ? simdFlags[simd] : []), '-c', file, '-o', object] });
      return object;
    });
  }
  const parallel = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const results = [];
  for (let i = 0; i < jobs.length; i += parallel) results.push(...(await Promise.all(jobs.slice(i, i + parallel).map(compile))));
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) console.error(`\n--- ${r.job.args.at(-3)}\n${r.output.trim()}`);
  if (failed.length) {
    console.error(`cuda-emulator: ${failed.length} of ${results.length} files failed`);
    process.exit(1);
  }
  const link = (output, objects, shared) => {
    const args = [...(shared ? ['-shared'] : []), '-pthread', '-o', path.join(out, output), ...objects, '-ldl'];
    if (spawnSync(cxx, args, { stdio: 'inherit' }).status !== 0) process.exit(1);
  };
  link('trt_vla.node', [...parts.addon, ...parts.napi, ...parts.core], true);
  link('trt_vla_testing.node', [...parts.testing, ...parts.napi, ...parts.checks, ...parts.core], true);
  link('trt-vla-gpu-check', [...parts.gpuCheck, ...parts.checks, ...parts.core], false);
  console.log(`cuda-emulator: built trt_vla.node, trt_vla_testing.node and trt-vla-gpu-check in ${path.relative(root, out)}/ from ${jobs.length} files`);
}

const defaultTests = ['test/native/cudaKernels.test.ts', 'test/native/devicePipeline.test.ts'];
if (!args.includes('--no-build')) await build();
if (args.includes('--build-only')) process.exit(0);
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(process.execPath, [vitest, 'run', ...(tests.length ? tests : defaultTests)], {
  cwd: root,
  env: { ...process.env, TRT_VLA_ADDON_PATH: path.join(out, 'trt_vla.node'), TRT_VLA_TESTING_ADDON_PATH: path.join(out, 'trt_vla_testing.node') },
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
