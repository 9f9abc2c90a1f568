#!/usr/bin/env node
// Compiles every source of a TensorRT build (common + SIMD + CUDA + TensorRT groups, with
// TRT_VLA_WITH_CUDA and TRT_VLA_WITH_TENSORRT defined) against real TensorRT headers and the CUDA
// toolkit, without linking. Any error or warning fails. For machines without TensorRT:
//
//   TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run check:tensorrt
//
// The headers are the include/ folder of NVIDIA's open-source TensorRT repository at release/10.3
// (JetPack 6.2's version), kept outside this repository.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { findNvcc, findTensorrtHeaders } from './toolchain.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fail = (message) => {
  console.error(`check:tensorrt: ${message}`);
  process.exit(1);
};

const headers = findTensorrtHeaders(process.env);
if (!headers) fail('TensorRT headers not found: set TENSORRT_INCLUDE_DIR to a folder containing NvInferVersion.h');
const nvcc = findNvcc(process.env);
if (!nvcc) fail('nvcc not found: set CUDACXX or CUDA_HOME');
const cudaInclude = path.resolve(path.dirname(nvcc), '..', 'include');
if (!existsSync(path.join(cudaInclude, 'cuda_runtime_api.h'))) fail(`CUDA headers not found in ${cudaInclude}`);

const groups = JSON.parse(readFileSync(path.join(root, 'native', 'sources.json'), 'utf8'));
const isX86 = process.arch === 'x64';
const napiHeaders = path.join(root, 'node_modules', 'node-api-headers', 'include');
const addonApi = path.join(root, 'node_modules', 'node-addon-api');
const defines = [
  'NAPI_VERSION=8',
  'NODE_ADDON_API_DISABLE_DEPRECATED',
  'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
  'NAPI_CPP_EXCEPTIONS',
  'TRT_VLA_VERSION="check"',
  'TRT_VLA_GIT_REVISION="check"',
  'TRT_VLA_BUILD_SYSTEM="cmake"',
  'TRT_VLA_CUDA_ARCHS="87"',
  'TRT_VLA_CUDA_REASON=""',
  'TRT_VLA_TENSORRT_REASON=""',
  'TRT_VLA_WITH_CUDA=1',
  'TRT_VLA_WITH_TENSORRT=1',
].map((d) => `-D${d}`);
const includes = ['-I', path.join(root, 'native'), ...[napiHeaders, addonApi, headers.includeDir, cudaInclude].flatMap((dir) => ['-isystem', dir])];
const warnings = ['-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror'];

const jobs = [];
// Every C++ source: the library, both addons and trt-vla-gpu-check (built with CUDA, so its checks too).
const isArm64 = process.arch === 'arm64';
const cxxGroups = [groups.common, isX86 ? groups.x86_avx2 : [], isX86 ? groups.x86_avx512 : [], isArm64 ? [...groups.arm64_dotprod, ...groups.arm64_i8mm] : [], groups.tensorrt, groups.napi, groups.addon, groups.testing, groups.cuda_checks, groups.gpu_check];
for (const file of cxxGroups.flat()) {
  const simd = groups.x86_avx2.includes(file)
    ? ['-mavx2', '-mfma', '-mf16c']
    : groups.x86_avx512.includes(file)
      ? ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mfma', '-mf16c']
      : groups.arm64_dotprod.includes(file)
        ? ['-march=armv8.2-a+dotprod']
        : groups.arm64_i8mm.includes(file)
          ? ['-march=armv8.2-a+dotprod+i8mm']
          : [];
  jobs.push({ file, cmd: process.env.CXX || 'c++', args: ['-std=c++17', '-fsyntax-only', ...simd, ...warnings, ...defines, ...includes, path.join(root, file)] });
}
for (const file of groups.cuda) {
  if (file.endsWith('.cu')) {
    jobs.push({
      file,
      cmd: nvcc,
      args: ['-std=c++17', '-c', '-o', '/dev/null', '-arch=sm_87', '--expt-relaxed-constexpr', '-Werror', 'all-warnings',
        '-Xcompiler', '-Wall,-Wextra,-Wno-unused-parameter', ...defines, ...includes, path.join(root, file)],
    });
  } else {
    jobs.push({ file, cmd: process.env.CXX || 'c++', args: ['-std=c++17', '-fsyntax-only', ...warnings, ...defines, ...includes, path.join(root, file)] });
  }
}

function run(job) {
  return new Promise((resolve) => {
    const child = spawn(job.cmd, job.args, { cwd: root });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ job, ok: code === 0 && output.trim() === '', output }));
  });
}

console.log(`check:tensorrt: TensorRT ${headers.version} headers in ${headers.includeDir}; ${path.basename(nvcc)} from ${path.dirname(nvcc)}; ${jobs.length} files`);
const parallel = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
const results = [];
for (let i = 0; i < jobs.length; i += parallel) {
  results.push(...(await Promise.all(jobs.slice(i, i + parallel).map(run))));
}
const failed = results.filter((r) => !r.ok);
for (const r of failed) console.error(`\n--- ${r.job.file}\n${r.output.trim() || 'failed without output'}`);
if (failed.length) fail(`${failed.length} of ${results.length} files failed`);
console.log(`check:tensorrt: all ${results.length} files compile cleanly (${groups.tensorrt.length} TensorRT, ${groups.cuda.length} CUDA)`);
