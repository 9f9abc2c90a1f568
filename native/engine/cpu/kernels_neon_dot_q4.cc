// The int4 matmul of kernels_neon_q4.cc with SDOT: the same source, compiled with the dot-product
// extension (sources.json 'arm64_dotprod': -march=armv8.2-a+dotprod), installed by installNeonDotQ4Kernels
// only where the CPU reports the extension (cpu_features.cc), so that one arm64 binary runs baseline
// NEON everywhere and SDOT where it can (Jetson Orin's Cortex-A78AE has it). Its results are
// bit-identical to the baseline file's: both compute the exact int32 block sums, then the same float steps.
#if defined(__aarch64__)
#define TV_NEON_DOT_BUILD 1
#include "engine/cpu/kernels_neon_q4.cc"
#endif
