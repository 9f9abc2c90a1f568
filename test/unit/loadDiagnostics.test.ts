import { describe, expect, it } from 'vitest';

import { diagnoseLoadFailure, formatLoadFailure, type LoadContext } from '../../lib/loadDiagnostics.js';

const ctx: LoadContext = { platform: 'linux', arch: 'arm64', nodeVersion: 'v20.20.2', napiVersion: '9', glibc: '2.31' };

function err(message: string, code?: string): Error {
  return Object.assign(new Error(message), code ? { code } : {});
}

describe('addon load diagnostics', () => {
  it('explains a missing binary for the platform', () => {
    const d = diagnoseLoadFailure(err('No native build was found for platform=linux arch=arm64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2'), ctx);
    expect(d.cause).toMatch(/no binary for linux-arm64/);
    expect(d.solutions.join('\n')).toMatch(/npm rebuild trt-vla/);
    expect(d.solutions.join('\n')).toMatch(/--ignore-scripts/);
  });

  it('names a missing TensorRT library and how to fix it', () => {
    const d = diagnoseLoadFailure(err('libnvinfer.so.10: cannot open shared object file: No such file or directory', 'ERR_DLOPEN_FAILED'), ctx);
    expect(d.cause).toMatch(/TensorRT runtime library libnvinfer\.so\.10 is missing/);
    expect(d.solutions.join('\n')).toMatch(/TRT_VLA_TENSORRT=OFF npm rebuild trt-vla/);
  });

  it('names a missing CUDA driver library', () => {
    const d = diagnoseLoadFailure(err('libcuda.so.1: cannot open shared object file: No such file or directory'), ctx);
    expect(d.cause).toMatch(/NVIDIA driver library libcuda\.so\.1/);
  });

  it('names any other missing shared library', () => {
    const d = diagnoseLoadFailure(err('libfoo.so.3: cannot open shared object file: No such file or directory'), ctx);
    expect(d.cause).toMatch(/libfoo\.so\.3/);
  });

  it('explains a glibc that is too old, with both versions', () => {
    const d = diagnoseLoadFailure(err("/lib/aarch64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by trt_vla.node)"), ctx);
    expect(d.cause).toBe('glibc is too old: the binary needs glibc 2.34, this system has glibc 2.31');
  });

  it('explains an old libstdc++', () => {
    const d = diagnoseLoadFailure(err("version `GLIBCXX_3.4.30' not found"), ctx);
    expect(d.cause).toMatch(/libstdc\+\+/);
  });

  it('explains --no-addons', () => {
    const d = diagnoseLoadFailure(err('Cannot load native addon because loading addons is disabled', 'ERR_DLOPEN_DISABLED'), ctx);
    expect(d.solutions[0]).toMatch(/without the --no-addons flag/);
  });

  it('explains a binary for another architecture', () => {
    const d = diagnoseLoadFailure(err('trt_vla.node: wrong ELF class: ELFCLASS32'), { ...ctx, addonPath: '/x/trt_vla.node' });
    expect(d.cause).toMatch(/another CPU architecture/);
  });

  it('formats one message with the cause and a list of solutions', () => {
    const text = formatLoadFailure(err('No native build was found'), ctx);
    expect(text.split('\n')[0]).toBe('Could not load the trt-vla native addon for linux-arm64 (Node.js v20.20.2, Node-API 9).');
    expect(text).toMatch(/^Cause: /m);
    expect(text).toMatch(/^Possible solutions:\n- /m);
  });

  it('still gives advice for an unknown failure', () => {
    const d = diagnoseLoadFailure(err('something odd'), ctx);
    expect(d.cause).toBe('unexpected error: something odd');
    expect(d.solutions.length).toBeGreaterThan(0);
  });
});
