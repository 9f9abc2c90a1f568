import { describe, expect, it } from 'vitest';

import { describeBinaryHeader, diagnoseLoadFailure, formatLoadFailure, type LoadContext } from '../../lib/loadDiagnostics.js';

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

  it('reads what a binary is from its first bytes: ELF (word size, CPU), Mach-O, PE, anything else', () => {
    const elf = (bits: 1 | 2, machine: number) => Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, bits, 1, 1, 0, ...new Array(10).fill(0), machine & 0xff, machine >> 8]);
    expect(describeBinaryHeader(elf(2, 183))).toEqual({ kind: 'elf', bits: 64, machine: 183, arch: 'arm64' });
    expect(describeBinaryHeader(elf(1, 40))).toEqual({ kind: 'elf', bits: 32, machine: 40, arch: 'arm' });
    expect(describeBinaryHeader(elf(2, 9999))).toEqual({ kind: 'elf', bits: 64, machine: 9999 });
    expect(describeBinaryHeader(Uint8Array.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]))).toEqual({ kind: 'mach-o' });
    expect(describeBinaryHeader(Uint8Array.from([0x4d, 0x5a, 0x90, 0]))).toEqual({ kind: 'pe' });
    expect(describeBinaryHeader(new TextEncoder().encode('{"name": "x"}\n'))).toEqual({ kind: 'other', start: '{"name": "x"}.' });
  });

  it('names a binary for another OS or CPU from its bytes, whatever the loader said', () => {
    const at = { ...ctx, addonPath: '/p/trt_vla.node' };
    expect(diagnoseLoadFailure(err('/p/trt_vla.node: invalid ELF header'), { ...at, binary: { kind: 'mach-o' } }).cause).toBe('/p/trt_vla.node is a macOS (Mach-O) binary, this machine is linux-arm64');
    expect(diagnoseLoadFailure(err('/p/trt_vla.node: invalid ELF header'), { ...at, binary: { kind: 'pe' } }).cause).toMatch(/Windows \(PE\)/);
    const foreign = diagnoseLoadFailure(err('/p/trt_vla.node: cannot open shared object file: No such file or directory'), { ...at, binary: { kind: 'elf', bits: 64, machine: 62, arch: 'x64' } });
    expect(foreign.cause).toBe('/p/trt_vla.node was built for another CPU architecture (x64, 64-bit) than this machine (linux-arm64)');
    expect(foreign.solutions[0]).toMatch(/Reinstall on this machine/);
    // A binary of this machine: the loader's message decides (here a missing library).
    const own = diagnoseLoadFailure(err('libnvinfer.so.10: cannot open shared object file'), { ...at, binary: { kind: 'elf', bits: 64, machine: 183, arch: 'arm64' } });
    expect(own.cause).toMatch(/TensorRT runtime library/);
  });

  it('for a TRT_VLA_ADDON_PATH file, says to unset it or point it at a built addon', () => {
    const env = { ...ctx, addonPath: '/x/y.node', fromEnvironment: true };
    const missing = diagnoseLoadFailure(err('no such file'), { ...env, binary: { kind: 'missing' } });
    expect(missing.cause).toBe('TRT_VLA_ADDON_PATH is set to /x/y.node, and there is no file there');
    expect(missing.solutions.join('\n')).toMatch(/unset TRT_VLA_ADDON_PATH[\s\S]*npm run build:native/);
    const notAddon = diagnoseLoadFailure(err("Module did not self-register: '/x/y.node'."), { ...env, binary: { kind: 'elf', bits: 64, machine: 183, arch: 'arm64' } });
    expect(notAddon.cause).toBe('/x/y.node is a shared library but not a Node.js addon (it registers no module)');
  });

  it('never advises running trt-vla info (info prints this advice, so that would be circular)', () => {
    const messages = ['No native build was found', 'libfoo.so.1: cannot open shared object file', "GLIBC_2.99' not found", 'undefined symbol: x', 'NODE_MODULE_VERSION 1', 'odd', 'file too short'];
    for (const m of messages) {
      for (const fromEnvironment of [false, true]) {
        expect(diagnoseLoadFailure(err(m), { ...ctx, fromEnvironment }).solutions.join('\n')).not.toMatch(/trt-vla info/);
      }
    }
  });

  it('still gives advice for an unknown failure', () => {
    const d = diagnoseLoadFailure(err('something odd'), ctx);
    expect(d.cause).toBe('unexpected error: something odd');
    expect(d.solutions.length).toBeGreaterThan(0);
  });
});
