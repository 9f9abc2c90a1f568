#!/usr/bin/env bash
# The one command for a lent GPU machine (bare x86-64 + CUDA toolkit, CMake, ninja; no Node, no
# network): builds trt-vla-gpu-check from the working tree with CMake + nvcc (sm_90 for the H100 /
# H200, sm_87 compiled too so Orin's code generation is checked), rewrites the tiny and small generated
# models from their recipes, runs the check and writes $OUT/gpu-check.json, $OUT/gpu-check.log and
# $OUT/build.log. docs/gpu-check.md has the exact `run` call and what it took.
#
#   bash scripts/gpu-check.sh --prepare     here (needs Node and dist/): writes the model recipes into
#                                           build-gpu-check/recipes/ (carry that folder)
#   bash scripts/gpu-check.sh               on the GPU machine
#   bash scripts/gpu-check.sh --emulated    here and in CI: the same check built against the CUDA
#                                           emulator (test/cuda-emulator; needs Node), end to end
#
# Environment: OUT (default build-gpu-check/out), TRT_VLA_CUDA_ARCHITECTURES (default "90;87"),
# GPU_CHECK_TIMED_RUNS (20 launches timed per kernel; 2 when emulated, where a launch takes up to a
# second and its time means nothing), GPU_CHECK_DECODE_STEPS (64; 16 when emulated), GPU_CHECK_NO_BUILD=1 (emulated:
# reuse the build-emu/ that `npm run test:cuda-emulated` just made).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-gpu}
work=$root/build-gpu-check
recipes=$work/recipes
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
stamp() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(stamp)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$mode" = "--prepare" ]; then
  [ -f dist/model/generate.js ] || npm run build:ts
  node scripts/gpu-check-recipes.mjs "$recipes" tiny small
  du -sh "$recipes"
  exit 0
fi

if [ ! -f "$recipes/tiny.json" ] || [ ! -f "$recipes/small.json" ]; then
  echo "gpu-check: no model recipes in $recipes: run 'bash scripts/gpu-check.sh --prepare' first (with Node), and carry build-gpu-check/recipes" >&2
  exit 2
fi

t0=$(stamp)
timed_runs=${GPU_CHECK_TIMED_RUNS:-20}
decode_steps=${GPU_CHECK_DECODE_STEPS:-64}
if [ "$mode" = "--emulated" ]; then
  # An emulated decode step takes about half a second (every kernel block on real threads): 16 steps
  # keep CI's end-to-end run within minutes; the GPU runs 64.
  timed_runs=${GPU_CHECK_TIMED_RUNS:-2}
  decode_steps=${GPU_CHECK_DECODE_STEPS:-16}
  binary=$root/build-emu/trt-vla-gpu-check
  if [ "${GPU_CHECK_NO_BUILD:-0}" != 1 ] || [ ! -x "$binary" ]; then
    node scripts/cuda-emulator.mjs --build-only >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
  fi
elif [ "$mode" = "gpu" ]; then
  build=$work/cmake
  nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  {
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || true
    "$nvcc" --version | tail -2
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
      -DTRT_VLA_NODE_ADDONS=OFF -DTRT_VLA_CUDA=ON -DTRT_VLA_TENSORRT=OFF \
      -DTRT_VLA_CUDA_ARCHITECTURES="${TRT_VLA_CUDA_ARCHITECTURES:-90;87}"
    cmake --build "$build" --target trt-vla-gpu-check --parallel "$(nproc)"
  } >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
  binary=$build/trt-vla-gpu-check
else
  echo "usage: bash scripts/gpu-check.sh [--prepare | --emulated]" >&2
  exit 2
fi
echo "gpu-check: built in $(elapsed "$t0") s ($OUT/build.log)"

t1=$(stamp)
models=$work/models
for preset in tiny small; do
  rm -rf "$models/$preset"
  "$binary" --make-model "$recipes/$preset.json" "$models/$preset" --threads "$(nproc)"
done
echo "gpu-check: models written in $(elapsed "$t1") s"

t2=$(stamp)
set +e
"$binary" --report "$OUT/gpu-check.json" --model "$models/tiny" --model "$models/small" \
  --timed-runs "$timed_runs" --decode-steps "$decode_steps" --threads "$(nproc)" 2>&1 | tee "$OUT/gpu-check.log"
status=${PIPESTATUS[0]}
set -e
echo "gpu-check: checked in $(elapsed "$t2") s; total $(elapsed "$t0") s"
exit "$status"
