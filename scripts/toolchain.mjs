// Facts about this machine's native toolchain, shared by the install script and the build checks.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { findNvcc } from './build-native.mjs';

export { findNvcc };

const TENSORRT_INCLUDE_CANDIDATES = [
  '/usr/include/aarch64-linux-gnu', // JetPack
  '/usr/include/x86_64-linux-gnu',
  '/usr/local/tensorrt/include',
];

/** The Jetson's L4T release line (/etc/nv_tegra_release), or undefined elsewhere. */
export function jetsonRelease() {
  try {
    return readFileSync('/etc/nv_tegra_release', 'utf8').split('\n')[0].trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Where NvInferVersion.h is, and its version, or undefined. */
export function findTensorrtHeaders(env = process.env) {
  const dirs = [
    env.TENSORRT_INCLUDE_DIR,
    env.TENSORRT_ROOT && path.join(env.TENSORRT_ROOT, 'include'),
    ...TENSORRT_INCLUDE_CANDIDATES,
  ].filter(Boolean);
  for (const dir of dirs) {
    const header = path.join(dir, 'NvInferVersion.h');
    if (!existsSync(header)) continue;
    const text = readFileSync(header, 'utf8');
    const part = (name) => new RegExp(`#define\\s+NV_TENSORRT_${name}\\s+(\\d+)`).exec(text)?.[1] ?? '?';
    return { includeDir: dir, version: [part('MAJOR'), part('MINOR'), part('PATCH')].join('.') };
  }
  return undefined;
}

/** Whether a TensorRT build is possible here: headers and nvcc. */
export function detectTensorrtToolchain(env = process.env) {
  const headers = findTensorrtHeaders(env);
  const nvcc = findNvcc(env);
  if (!headers) return { found: false, reason: 'TensorRT headers (NvInferVersion.h) not found' };
  if (!nvcc) return { found: false, reason: `TensorRT ${headers.version} found, but no CUDA compiler (nvcc)` };
  return { found: true, version: headers.version, includeDir: headers.includeDir, nvcc };
}

export function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
