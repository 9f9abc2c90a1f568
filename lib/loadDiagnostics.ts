/**
 * Turns a failure to load the native addon into one message that names the cause and the fixes
 * (sharp's pattern). Pure: tests feed it synthetic errors and platform facts.
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
}

export interface LoadDiagnosis {
  cause: string;
  solutions: string[];
}

const REBUILD = 'Rebuild from source on this machine: `npm rebuild trt-vla` (needs cmake >= 3.19 and a C++17 compiler; on a Jetson it also picks up CUDA and TensorRT from JetPack)';
const IGNORED_SCRIPTS = 'If you installed with --ignore-scripts (or your package manager blocks install scripts), the build step was skipped: run `npm rebuild trt-vla`';
const INFO = 'Check what this machine offers: `npx trt-vla info`';

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
  if (/No native build was found/i.test(message)) {
    return {
      cause: `no binary for ${target} (Node-API ${ctx.napiVersion}): this package has no prebuilt binary for it and nothing was built locally`,
      solutions: [REBUILD, IGNORED_SCRIPTS, INFO],
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
      solutions: [
        'Reinstall on this machine instead of copying node_modules from another one: `rm -rf node_modules && npm install`',
        REBUILD,
      ],
    };
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
  return { cause: `unexpected error: ${message}`, solutions: [REBUILD, INFO] };
}

export function formatLoadFailure(error: unknown, ctx: LoadContext): string {
  const { cause, solutions } = diagnoseLoadFailure(error, ctx);
  return [
    `Could not load the trt-vla native addon for ${ctx.platform}-${ctx.arch} (Node.js ${ctx.nodeVersion}, Node-API ${ctx.napiVersion}).`,
    `Cause: ${cause}.`,
    'Possible solutions:',
    ...solutions.map((s) => `- ${s}`),
  ].join('\n');
}
