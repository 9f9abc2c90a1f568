import { describe, expect, it } from 'vitest';

import { classifyBuildLine, createBuildReporter } from '../../scripts/lib/build-progress.mjs';

// Lines as the tools print them when their output is a pipe (as under npm): ninja 1.11 prints an
// edge when it has finished ("[n/total] description"), CMake's Unix Makefiles before each step
// ("[ nn%] description"). The block below is shortened from this project's own CMake build output
// (scripts/build-native.mjs, ninja generator), with a compiler warning added.
const ninjaBuild = `-- The CXX compiler identification is GNU 12.2.0
-- Detecting CXX compiler ABI info
-- trt-vla: CUDA ON 13.0.88 [87;90]
-- trt-vla: TensorRT OFF  TensorRT not found at build time (set TENSORRT_ROOT)
-- Configuring done
[1/4] Building CXX object CMakeFiles/trt_vla_core.dir/native/core/error.cc.o
[2/4] Building CUDA object CMakeFiles/trt_vla_core.dir/native/cuda/kernels/sampling.cu.o
/work/native/core/json.cc:12:5: warning: unused variable 'x' [-Wunused-variable]
[3/4] Linking CXX static library libtrt_vla_core.a
[4/4] Linking CXX shared library Release/trt_vla.node
`;

describe('build progress', () => {
  it('classifies ninja and make lines', () => {
    expect(classifyBuildLine('[2/4] Building CUDA object CMakeFiles/trt_vla_core.dir/native/cuda/kernels/sampling.cu.o')).toMatchObject({ kind: 'compile', step: 2, total: 4, what: 'native/cuda/kernels/sampling.cu' });
    expect(classifyBuildLine('[ 12%] Building CXX object CMakeFiles/trt_vla_core.dir/native/engine/cpu/kernels.cc.o')).toMatchObject({ kind: 'compile', percent: 12, what: 'native/engine/cpu/kernels.cc' });
    expect(classifyBuildLine('[100%] Linking CXX shared module Release/trt_vla.node')).toMatchObject({ kind: 'link', percent: 100, what: 'trt_vla.node' });
    expect(classifyBuildLine('-- Detecting CXX compiler ABI info')).toMatchObject({ kind: 'noise' });
    expect(classifyBuildLine('CMake Error at CMakeLists.txt:151 (message):')).toMatchObject({ kind: 'diagnostic' });
  });

  it('prints one line per step with a counter, the CMake summary and diagnostics, and keeps the whole log', () => {
    let t = 0;
    const lines: string[] = [];
    const reporter = createBuildReporter({ say: (l) => lines.push(l), now: () => t });
    reporter.phase('configuring with CMake');
    // Any chunking: split mid-line.
    const cut = ninjaBuild.indexOf('Building CUDA') + 5;
    reporter.write(ninjaBuild.slice(0, cut));
    t = 65_000;
    reporter.write(Buffer.from(ninjaBuild.slice(cut)));
    reporter.end();
    expect(lines).toEqual([
      'configuring with CMake (0s)',
      'CMake: CUDA ON 13.0.88 [87;90]',
      'CMake: TensorRT OFF  TensorRT not found at build time (set TENSORRT_ROOT)',
      '[1/4] compiled native/core/error.cc (0s)',
      '[2/4] compiled native/cuda/kernels/sampling.cu (1m05s)',
      "/work/native/core/json.cc:12:5: warning: unused variable 'x' [-Wunused-variable]",
      '[3/4] linked libtrt_vla_core.a (1m05s)',
      '[4/4] linked trt_vla.node (1m05s)',
    ]);
    expect(reporter.log()).toHaveLength(ninjaBuild.trim().split('\n').length);
  });

  it('sends the terminal at most one step line per interval, but every phase change and the last step', () => {
    let t = 0;
    const terminal: string[] = [];
    const reporter = createBuildReporter({ say: () => {}, sayThrottled: (l) => terminal.push(l), throttleMs: 20_000, now: () => t });
    reporter.phase('building');
    for (let i = 1; i <= 50; i++) {
      t = i * 1000;
      reporter.write(`[ ${String(i * 2).padStart(2)}%] Building CXX object CMakeFiles/trt_vla_core.dir/native/f${i}.cc.o\n`);
    }
    t = 51_000;
    reporter.write('[100%] Linking CXX shared module Release/trt_vla.node\n');
    expect(terminal).toEqual([
      'building (0s)',
      '[  2%] compiling native/f1.cc (1s)',
      '[ 42%] compiling native/f21.cc (21s)',
      '[ 82%] compiling native/f41.cc (41s)',
      '[100%] linking trt_vla.node (51s)',
    ]);
  });
});
