import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { planInstall } from '../../scripts/lib/install-plan.mjs';
import { detectTensorrtToolchain } from '../../scripts/toolchain.mjs';

// The install script's decision (scripts/install.mjs), with the toolchain facts read the way the
// script reads them: a folder with NvInferVersion.h (as JetPack's /usr/include/aarch64-linux-gnu
// has) and an nvcc, here a stand-in file, since detection only looks for them.
const dir = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-install-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'NvInferVersion.h'), '#define NV_TENSORRT_MAJOR 10\n#define NV_TENSORRT_MINOR 3\n#define NV_TENSORRT_PATCH 0\n');
writeFileSync(path.join(dir, 'nvcc'), '#!/bin/sh\n');
chmodSync(path.join(dir, 'nvcc'), 0o755);
const jetpack = detectTensorrtToolchain({ TENSORRT_INCLUDE_DIR: dir, CUDACXX: path.join(dir, 'nvcc') });
const noTensorrt = { found: false, reason: 'TensorRT headers (NvInferVersion.h) not found' };
const prebuiltArm64 = path.join('node_modules', 'trt-vla', 'prebuilds', 'linux-arm64', 'node.napi.glibc.node');
const prebuiltX64 = path.join('node_modules', 'trt-vla', 'prebuilds', 'linux-x64', 'node.napi.glibc.node');

describe('planInstall', () => {
  it('reads a JetPack-like toolchain as found, with its TensorRT version', () => {
    expect(jetpack).toMatchObject({ found: true, version: '10.3.0' });
  });

  it('builds from source on a Jetson even though the arm64 prebuilt binary loads: it has no TensorRT', () => {
    const plan = planInstall({
      forceSource: false,
      existing: prebuiltArm64,
      probe: { ok: true, info: { backends: ['cpu'] } },
      toolchain: jetpack,
      jetson: '# R36 (release), REVISION: 4.3',
      target: 'linux-arm64',
    });
    expect(plan).toEqual({ action: 'build', reason: 'TensorRT 10.3.0 found on a Jetson (# R36 (release), REVISION: 4.3), but the available binary lacks TensorRT' });
  });

  it('uses the x64 prebuilt binary (CPU + CUDA) where there is no TensorRT: nothing is compiled', () => {
    const plan = planInstall({ forceSource: false, existing: prebuiltX64, probe: { ok: true, info: { backends: ['cpu', 'cuda'] } }, toolchain: noTensorrt, jetson: undefined, target: 'linux-x64' });
    expect(plan).toEqual({ action: 'use', why: 'no TensorRT build here: TensorRT headers (NvInferVersion.h) not found' });
  });

  it('keeps a binary that already has TensorRT (a rebuild after a Jetson build)', () => {
    const plan = planInstall({ forceSource: false, existing: 'build/Release/trt_vla.node', probe: { ok: true, info: { backends: ['cpu', 'cuda', 'tensorrt'] } }, toolchain: jetpack, jetson: 'R36', target: 'linux-arm64' });
    expect(plan).toEqual({ action: 'use', why: 'TensorRT compiled in' });
  });

  it('builds when there is no binary for the platform, when it does not load, and when asked to', () => {
    const base = { forceSource: false, toolchain: noTensorrt, jetson: undefined, target: 'linux-ppc64' };
    expect(planInstall({ ...base, existing: undefined, probe: undefined })).toEqual({ action: 'build', reason: 'no prebuilt binary for linux-ppc64 in this package' });
    expect(planInstall({ ...base, existing: prebuiltX64, probe: { ok: false, error: "Error: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found" } })).toEqual({
      action: 'build',
      reason: "the available binary does not load (Error: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found)",
    });
    expect(planInstall({ ...base, forceSource: true, existing: prebuiltX64, probe: { ok: true, info: { backends: ['cpu', 'cuda'] } } })).toEqual({ action: 'build', reason: 'build from source requested' });
  });
});
