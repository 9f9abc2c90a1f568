#!/usr/bin/env bash
# Tests the NEON kernels on an x86 machine: cross-compiles the standalone kernel check
# (test/cpp/kernel_check.cc, every usable kernel table vs the reference table) for AArch64 and runs it
# under qemu-user on an emulated CPU without the dot-product extension (baseline NEON), on one with it but
# without the int8 matrix multiply extension (baseline NEON and the SDOT kernels of kernels_neon_dot_*.cc)
# and on one with both (also the USMMLA kernels of kernels_neon_i8mm_*.cc); the run-time check must pick
# exactly the levels each CPU has.
# With --host it instead builds the same check for this machine (the AVX2 and, where the CPU has them,
# AVX-512 kernels on x86-64); with --sanitize the aarch64 check is built with AddressSanitizer + UBSan
# (dynamically linked: qemu loads the cross toolchain's aarch64 libraries from AARCH64_SYSROOT, default
# /usr/aarch64-linux-gnu), so that a kernel reading past its operands fails the run;
# CHECK_FLAGS adds compiler flags, e.g. CHECK_FLAGS="-fsanitize=address,undefined -g".
#
#   apt-get install g++-aarch64-linux-gnu qemu-user     # Debian / Ubuntu
#   scripts/test-neon.sh [--host | --sanitize]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build-kernel-check"
mkdir -p "$out"
common=(core/error.cc core/cpu_features.cc core/thread_pool.cc engine/cpu/kernels.cc engine/cpu/kernels_ref.cc
        engine/cpu/kernels_neon.cc engine/cpu/kernels_neon_q4.cc engine/cpu/kernels_neon_q8.cc engine/cpu/awq.cc
        engine/cpu/q8_buffer.cc engine/cpu/q8_weights.cc)
flags=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -I"$root/native" ${CHECK_FLAGS:-})

if [[ "${1:-}" == "--host" ]]; then
  cxx="${CXX:-c++}"
  objs=()
  for f in "${common[@]}"; do
    "$cxx" "${flags[@]}" -c "$root/native/$f" -o "$out/host-$(basename "$f").o"
    objs+=("$out/host-$(basename "$f").o")
  done
  if [[ "$(uname -m)" == "x86_64" ]]; then
    for f in engine/cpu/kernels_avx2.cc engine/cpu/kernels_avx2_q4.cc engine/cpu/kernels_avx2_q8.cc; do
      "$cxx" "${flags[@]}" -mavx2 -mfma -mf16c -c "$root/native/$f" -o "$out/host-$(basename "$f").o"
      objs+=("$out/host-$(basename "$f").o")
    done
    for f in engine/cpu/kernels_avx512.cc engine/cpu/kernels_avx512_q4.cc engine/cpu/kernels_avx512_q8.cc; do
      "$cxx" "${flags[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c -c "$root/native/$f" \
        -o "$out/host-$(basename "$f").o"
      objs+=("$out/host-$(basename "$f").o")
    done
  fi
  "$cxx" "${flags[@]}" "$root/test/cpp/kernel_check.cc" "${objs[@]}" -lpthread -o "$out/kernel_check-host"
  exec "$out/kernel_check-host"
fi

cxx="${CXX_AARCH64:-aarch64-linux-gnu-g++}"
qemu="${QEMU_AARCH64:-qemu-aarch64}"
for tool in "$cxx" "$qemu"; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-neon: '$tool' not found; install g++-aarch64-linux-gnu and qemu-user" >&2
    exit 2
  fi
done
# One binary, as the addon is built: baseline flags everywhere but the SDOT and USMMLA files (sources.json
# 'arm64_dotprod', 'arm64_i8mm'), which the run-time CPU check selects.
prefix=arm64
link=(-static)  # runs under qemu without an AArch64 sysroot
if [[ "${1:-}" == "--sanitize" ]]; then
  prefix=arm64-sanitize
  flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  link=()  # the sanitizer runtimes are shared libraries
  export QEMU_LD_PREFIX="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}" ASAN_OPTIONS=detect_leaks=0
  if ! ls "$QEMU_LD_PREFIX"/lib/libasan.so.* >/dev/null 2>&1; then
    echo "test-neon: no aarch64 libasan under $QEMU_LD_PREFIX/lib (g++-aarch64-linux-gnu installs it); set AARCH64_SYSROOT" >&2
    exit 2
  fi
fi
bin="$out/kernel_check-$prefix"
objs=()
compile() {  # compile MARCH FILE...
  local march=$1 f
  shift
  for f in "$@"; do
    "$cxx" "${flags[@]}" "-march=$march" -c "$root/native/$f" -o "$out/$prefix-$(basename "$f").o"
    objs+=("$out/$prefix-$(basename "$f").o")
  done
}
compile armv8-a "${common[@]}"
compile armv8.2-a+dotprod engine/cpu/kernels_neon_dot_q4.cc engine/cpu/kernels_neon_dot_q8.cc
compile armv8.2-a+dotprod+i8mm engine/cpu/kernels_neon_i8mm_q4.cc
"$cxx" "${flags[@]}" -march=armv8-a "${link[@]}" "$root/test/cpp/kernel_check.cc" "${objs[@]}" -lpthread -o "$bin"
status=0
echo "== qemu-aarch64 -cpu cortex-a57 (Armv8.0: no dot product)"
"$qemu" -cpu cortex-a57 "$bin" --expect neon || status=1
echo "== qemu-aarch64 -cpu cortex-a76 (Armv8.2 with the dot product, no int8 matrix multiply)"
"$qemu" -cpu cortex-a76 "$bin" --expect neon,neon-dotprod || status=1
echo "== qemu-aarch64 -cpu max (dot product and int8 matrix multiply)"
"$qemu" -cpu max "$bin" --expect neon,neon-dotprod,neon-i8mm || status=1
exit $status
