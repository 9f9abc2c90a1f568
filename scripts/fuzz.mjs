#!/usr/bin/env node
// libFuzzer runs of the parsers that read untrusted model files: `npm run fuzz -- --seconds N [name...]`.
// Harnesses: test/fuzz/*_fuzzer.cc (json, safetensors, qwen_config). Each is built with clang into
// build-fuzz/ with AddressSanitizer + UBSan, starts from test/fuzz/corpus/<name>/ (seeds and the
// reproducers of every crash found so far: the regression set, each input is run first) and runs for
// the given time, one after the other (the machines this runs on have few cores). Fails on any finding
// and says where its reproducer is. Installs Debian's clang + libFuzzer runtime with apt when missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build-fuzz');

// The native sources each harness links (only what the parser and its layout code need).
const FUZZERS = {
  json: ['native/core/json.cc', 'native/core/loaded_file.cc', 'native/core/error.cc'],
  safetensors: ['native/core/safetensors.cc', 'native/core/json.cc', 'native/core/loaded_file.cc', 'native/core/tensor_types.cc', 'native/core/error.cc'],
  qwen_config: [
    'native/engine/cpu/qwen_config.cc',
    'native/vla/preprocess.cc',
    'native/vla/image_resize.cc',
    'native/vla/frame.cc',
    'native/core/json.cc',
    'native/core/loaded_file.cc',
    'native/core/tensor_types.cc',
    'native/core/error.cc',
  ],
};

function parseArgs(argv) {
  let seconds = 60;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') {
      seconds = Number(argv[++i]);
      if (!Number.isInteger(seconds) || seconds < 1) usage(`--seconds needs a whole number of seconds, got ${argv[i]}`);
    } else if (argv[i] in FUZZERS) {
      names.push(argv[i]);
    } else {
      usage(`unknown argument ${argv[i]}`);
    }
  }
  return { seconds, names: names.length > 0 ? names : Object.keys(FUZZERS) };
}

function usage(problem) {
  console.error(`fuzz: ${problem}\nUsage: npm run fuzz -- [--seconds N] [${Object.keys(FUZZERS).join('|')} ...]`);
  process.exit(2);
}

const cxx = process.env.FUZZ_CXX ?? 'clang++';

/** True when clang can link a libFuzzer program here. */
function canBuildFuzzers() {
  mkdirSync(out, { recursive: true });
  const probe = path.join(out, 'probe.cc');
  writeFileSync(probe, 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n');
  const r = spawnSync(cxx, ['-fsanitize=fuzzer', probe, '-o', path.join(out, 'probe')], { stdio: 'ignore' });
  return r.status === 0;
}

function installClang() {
  console.log('::: installing clang and the libFuzzer runtime (Debian packages)');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'clang', 'libclang-rt-14-dev']);
}

function build(name) {
  const binary = path.join(out, `${name}_fuzzer`);
  const args = [
    '-std=c++17', '-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined',
    '-I', path.join(root, 'native'), path.join(root, 'test', 'fuzz', `${name}_fuzzer.cc`),
    ...FUZZERS[name].map((s) => path.join(root, s)), '-lpthread', '-o', binary,
  ];
  console.log(`::: building ${name}_fuzzer`);
  const r = spawnSync(cxx, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`fuzz: building ${name}_fuzzer failed`);
    process.exit(1);
  }
  return binary;
}

function run(name, binary, seconds) {
  const seeds = path.join(root, 'test', 'fuzz', 'corpus', name);
  const work = path.join(out, 'corpus', name);  // what this run discovers; not committed
  const artifacts = path.join(out, 'artifacts', name) + path.sep;
  mkdirSync(work, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  console.log(`::: ${name}: ${readdirSync(seeds).length} committed inputs, then ${seconds} s of fuzzing`);
  const started = Date.now();
  const r = spawnSync(
    binary,
    [`-max_total_time=${seconds}`, '-timeout=10', '-rss_limit_mb=2048', '-max_len=65536', '-print_final_stats=1', `-artifact_prefix=${artifacts}`, work, seeds],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' } },
  );
  const elapsed = ((Date.now() - started) / 1000).toFixed(0);
  if (r.status !== 0) {
    const found = existsSync(artifacts) ? readdirSync(artifacts) : [];
    console.error(`::: ${name}: FINDING after ${elapsed} s (exit ${r.status ?? r.signal}); reproducer(s) in ${artifacts}: ${found.join(', ') || 'none written'}`);
    console.error(`    fix it, then commit the reproducer to test/fuzz/corpus/${name}/ so it stays fixed`);
    return false;
  }
  console.log(`::: ${name}: no finding in ${elapsed} s`);
  return true;
}

const { seconds, names } = parseArgs(process.argv.slice(2));
if (!canBuildFuzzers()) {
  installClang();
  if (!canBuildFuzzers()) {
    console.error('fuzz: clang still cannot build a libFuzzer program after installing clang and libclang-rt-14-dev');
    process.exit(1);
  }
}
const binaries = names.map((n) => [n, build(n)]);
let ok = true;
for (const [name, binary] of binaries) ok = run(name, binary, seconds) && ok;
process.exit(ok ? 0 : 1);
