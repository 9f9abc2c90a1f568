#!/usr/bin/env node
// Builds the addon and the test addon with AddressSanitizer + UBSan (into build-asan/) and runs the native test suites
// through it: `npm run test:sanitizers`. The sanitizer runtimes are preloaded into plain node;
// leak checking is off because V8 keeps allocations alive until exit by design.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildNative } from './build-native.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = 'build-asan';

if (!process.argv.includes('--no-build')) {
  if (!buildNative({ out, sanitize: true, testing: true })) process.exit(1);
}
const runtime = (name) => execFileSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
const env = {
  ...process.env,
  LD_PRELOAD: [runtime('libasan.so'), runtime('libubsan.so')].join(':'),
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:protect_shadow_gap=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  TRT_VLA_ADDON_PATH: path.join(root, out, 'Release', 'trt_vla.node'),
  TRT_VLA_SANITIZED: '1',
};
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const suites = process.argv.slice(2).filter((a) => !a.startsWith('--'));
// The suites that drive native code: engines, kernels, the pipeline, loading and hostile input. The
// CLI, packaging, benchmark-report, README and planner-service suites exercise TypeScript and child
// processes around the same native calls; under the sanitizers they would double CI's time and find
// nothing the suites below do not reach.
const NATIVE_SUITES = [
  'addonSurface', 'bindingPlan', 'cpuLlmEngine', 'cpuVisionEngine', 'devicePipeline', 'engineCheck', 'engineRelease', 'evaluate',
  'frame', 'hostileFiles', 'hostileInput', 'imageTokenLimits', 'kernels', 'log', 'modelLoadErrors', 'parity', 'pipeline', 'preprocess',
  'speculation', 'speculativeSampling', 'tensorrtSupport', 'verifyCall', 'vocabMap', 'waypointDrafter',
].map((name) => `test/native/${name}.test.ts`);
const result = spawnSync(process.execPath, [vitest, 'run', ...(suites.length ? suites : [...NATIVE_SUITES, 'test/gpu'])], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
