/**
 * Turns a failure to load the native addon into one message that names the cause and the fixes
 * (sharp's pattern). Pure: tests feed it synthetic errors and platform facts; lib/native.ts gathers
 * the facts (where it looked, the first bytes of the file that failed).
 *
 * No fix points at `trt-vla info`: `info` itself prints these fixes when the addon is missing, so
 * advice to run it there would be circular. native() adds that pointer to the error it throws.
 */

export interface LoadContext {
  platform: string;
  arch: string;
  nodeVersion: string;
  napiVersion: string;
  /** glibc version of this system ("2.36"), when known. */
  glibc?: string;
  /** The .node file that failed to load, when one was found. */
  addonPath?: string;
  /** The path came from TRT_VLA_ADDON_PATH rather than the package's own search. */
  fromEnvironment?: boolean;
  /** What the file at addonPath is, read from its first bytes ({@link describeBinaryHeader}). */
  binary?: BinaryFacts;
}

/** What the first bytes of a would-be addon say it is. */
export type BinaryFacts =
  | { kind: 'missing' }
  | { kind: 'elf'; bits: 32 | 64; machine: number; arch?: string }
  | { kind: 'mach-o' }
  | { kind: 'pe' }
  | { kind: 'other'; start: string };

/** ELF e_machine values (the ELF gABI's table) for the architectures Node.js reports as process.arch. */
const ELF_MACHINES: Readonly<Record<number, string>> = { 3: 'ia32', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390x', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64', 258: 'loong64' };

/**
 * Classifies a file from its first bytes (64 are enough): an ELF shared object (with its word size
 * and CPU), a macOS (Mach-O) or Windows (PE) binary, or something else (its start, printable).
 */
export function describeBinaryHeader(bytes: Uint8Array): BinaryFacts {
  const b = bytes;
  if (b.length >= 20 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) {
    const littleEndian = b[5] !== 2;
    const machine = littleEndian ? b[18]! | (b[19]! << 8) : (b[18]! << 8) | b[19]!;
    const arch = ELF_MACHINES[machine];
    return { kind: 'elf', bits: b[4] === 1 ? 32 : 64, machine, ...(arch !== undefined && { arch }) };
  }
  const magic = b.length >= 4 ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : 0;
  if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic)) return { kind: 'mach-o' };
  if (b[0] === 0x4d && b[1] === 0x5a) return { kind: 'pe' };
  const start = Array.from(b.subarray(0, 16), (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
  return { kind: 'other', start };
}

export interface LoadDiagnosis {
  cause: string;
  solutions: string[];
}

const REBUILD =
  'Build it on this machine: `npm rebuild trt-vla` (needs CMake >= 3.19 and a C++17 compiler, or python3, make and g++ for the ' +
  'CPU-only node-gyp fallback; on a Jetson it also picks up CUDA and TensorRT from JetPack)';
const IGNORED_SCRIPTS =
  'If npm skipped the install script (`--ignore-scripts`, or npm >= 11 holding back scripts of packages not yet approved), ' +
  'approve it and build: `npm install-scripts approve trt-vla && npm rebuild trt-vla`';
const UNSET_OVERRIDE = 'Unset TRT_VLA_ADDON_PATH (`unset TRT_VLA_ADDON_PATH`) to load the binary the package found or built itself';
const POINT_OVERRIDE = 'Or point TRT_VLA_ADDON_PATH at a built addon: in a checkout, `npm run build:native` writes build/Release/trt_vla.node';

/** The fixes for a binary that is not the right one: replace it, or stop pointing at it. */
function wrongFileSolutions(ctx: LoadContext, reinstall: boolean): string[] {
  if (ctx.fromEnvironment) return [UNSET_OVERRIDE, POINT_OVERRIDE];
  return reinstall
    ? ['Reinstall on this machine instead of copying node_modules from another one: `rm -rf node_modules && npm install`', REBUILD]
    : [REBUILD];
}

/** A cause from the file's own bytes, when they alone explain the failure (another OS or CPU, not a binary at all). */
function diagnoseBinary(ctx: LoadContext, target: string): LoadDiagnosis | undefined {
  const file = ctx.addonPath ?? 'the binary';
  const b = ctx.binary;
  if (!b || b.kind === 'missing') return undefined;
  if (b.kind === 'mach-o' || b.kind === 'pe') {
    return { cause: `${file} is a ${b.kind === 'pe' ? 'Windows (PE)' : 'macOS (Mach-O)'} binary, this machine is ${target}`, solutions: wrongFileSolutions(ctx, true) };
  }
  if (b.kind === 'other') {
    return {
      cause: `${file} is not a compiled addon (no ELF header; it starts with "${b.start}")`,
      solutions: wrongFileSolutions(ctx, false),
    };
  }
  const wordSize = ctx.arch === 'ia32' || ctx.arch === 'arm' ? 32 : 64;
  const hostKnown = Object.values(ELF_MACHINES).includes(ctx.arch);
  if (b.bits !== wordSize || (hostKnown && b.arch !== ctx.arch)) {
    // glibc reports an ELF file for another CPU as "cannot open shared object file: No such file or
    // directory" (elf/dl-load.c, open_verify: a machine mismatch closes the file and carries on as if it did not exist).
    const built = b.arch ?? `ELF machine ${b.machine}`;
    return {
      cause: `${file} was built for another CPU architecture (${built}, ${b.bits}-bit) than this machine (${target})`,
      solutions: wrongFileSolutions(ctx, true),
    };
  }
  return undefined;
}

export function diagnoseLoadFailure(error: unknown, ctx: LoadContext): LoadDiagnosis {
  const err = error as { message?: string; code?: string } | undefined;
  const message = String(err?.message ?? error);
  const target = `${ctx.platform}-${ctx.arch}`;

  if (err?.code === 'ERR_DLOPEN_DISABLED' || /--no-addons/.test(message)) {
    return {
      cause: 'Node.js was started with --no-addons, which forbids native addons',
      solutions: ['Run Node.js without the --no-addons flag (check NODE_OPTIONS too)'],
    };
  }
  if (ctx.fromEnvironment && ctx.binary?.kind === 'missing') {
    return { cause: `TRT_VLA_ADDON_PATH is set to ${ctx.addonPath ?? '(empty)'}, and there is no file there`, solutions: [UNSET_OVERRIDE, POINT_OVERRIDE] };
  }
  if (/No native build was found/i.test(message)) {
    return {
      cause: `no binary for ${target} (Node-API ${ctx.napiVersion}): this package has no prebuilt binary for it and nothing was built locally`,
      solutions: [REBUILD, IGNORED_SCRIPTS],
    };
  }
  const fromBytes = diagnoseBinary(ctx, target);
  if (fromBytes) return fromBytes;
  if (/did not self-register/.test(message)) {
    return {
      cause: `${ctx.addonPath ?? 'the binary'} is a shared library but not a Node.js addon (it registers no module)`,
      solutions: wrongFileSolutions(ctx, false),
    };
  }
  const missing = /(lib[\w.+-]+\.so[\w.]*): cannot open shared object file/.exec(message);
  if (missing) {
    const lib = missing[1]!;
    if (/^libnvinfer/.test(lib)) {
      return {
        cause: `the TensorRT runtime library ${lib} is missing: this binary was built with TensorRT, which this machine does not have (or not in this version)`,
        solutions: [
          'On JetPack 6 install TensorRT: `sudo apt install nvidia-tensorrt` (or the libnvinfer10 package), then retry',
          'If TensorRT lives elsewhere, add its lib/ folder to LD_LIBRARY_PATH',
          'Or rebuild without TensorRT (CPU and CUDA only): `TRT_VLA_TENSORRT=OFF npm rebuild trt-vla`',
        ],
      };
    }
    if (/^libcuda\.so/.test(lib)) {
      return {
        cause: `the NVIDIA driver library ${lib} is missing`,
        solutions: [
          'Install the NVIDIA driver (on a Jetson it comes with JetPack / L4T)',
          'Or rebuild for the CPU only: `TRT_VLA_CUDA=OFF TRT_VLA_TENSORRT=OFF npm rebuild trt-vla`',
        ],
      };
    }
    if (/^libcudart|^libcublas|^libnvrtc/.test(lib)) {
      return {
        cause: `the CUDA library ${lib} is missing`,
        solutions: [
          'Install the CUDA runtime that matches the build (on JetPack 6: `sudo apt install cuda-runtime-12-6`), or add its lib folder to LD_LIBRARY_PATH',
          REBUILD,
        ],
      };
    }
    return {
      cause: `the shared library ${lib} that the binary needs is missing`,
      solutions: [`Install the package that provides ${lib}, or add its folder to LD_LIBRARY_PATH`, REBUILD],
    };
  }
  const glibc = /GLIBC_(\d+\.\d+(?:\.\d+)?)'? not found/.exec(message);
  if (glibc) {
    const have = ctx.glibc ? `, this system has glibc ${ctx.glibc}` : '';
    return {
      cause: `glibc is too old: the binary needs glibc ${glibc[1]}${have}`,
      solutions: ['Update the operating system (glibc), or use a newer JetPack / distribution', REBUILD],
    };
  }
  if (/GLIBCXX_[\d.]+|CXXABI_[\d.]+/.test(message)) {
    return {
      cause: 'the C++ runtime (libstdc++) is older than the one the binary was built with',
      solutions: ['Update libstdc++ (the OS or its gcc runtime package)', REBUILD],
    };
  }
  if (/invalid ELF header|wrong ELF class|ELFCLASS|Exec format error/i.test(message)) {
    return {
      cause: `the binary${ctx.addonPath ? ` ${ctx.addonPath}` : ''} was built for another CPU architecture or OS than ${target}`,
      solutions: wrongFileSolutions(ctx, true),
    };
  }
  if (/file too short/.test(message)) {
    return { cause: `${ctx.addonPath ?? 'the binary'} is truncated or not a compiled addon (file too short)`, solutions: wrongFileSolutions(ctx, false) };
  }
  if (/undefined symbol/.test(message)) {
    return {
      cause: 'the binary was built against different library versions than the ones installed here (undefined symbol)',
      solutions: [REBUILD],
    };
  }
  if (/NODE_MODULE_VERSION|napi_|Node-API/.test(message)) {
    return {
      cause: `this Node.js (${ctx.nodeVersion}, Node-API ${ctx.napiVersion}) cannot load the binary; trt-vla needs Node.js >= 20 (Node-API 8)`,
      solutions: ['Upgrade Node.js to version 20 or later', REBUILD],
    };
  }
  return { cause: `unexpected error: ${message.split('\n')[0]}`, solutions: ctx.fromEnvironment ? [UNSET_OVERRIDE, REBUILD] : [REBUILD] };
}

export function formatLoadFailure(error: unknown, ctx: LoadContext): string {
  return formatDiagnosis(diagnoseLoadFailure(error, ctx), ctx);
}

/** The diagnosis as the lines of an error message: what failed, the cause, one line per fix. */
export function formatDiagnosis({ cause, solutions }: LoadDiagnosis, ctx: LoadContext): string {
  return [
    `Could not load the trt-vla native addon for ${ctx.platform}-${ctx.arch} (Node.js ${ctx.nodeVersion}, Node-API ${ctx.napiVersion}).`,
    `Cause: ${cause}.`,
    'Possible solutions:',
    ...solutions.map((s) => `- ${s}`),
  ].join('\n');
}
