// The int4 matmul of kernels_neon_q4.cc with USMMLA for two tokens or more (and SDOT for one): the same
// source, compiled with the dot-product and int8 matrix multiply extensions (sources.json 'arm64_i8mm':
// -march=armv8.2-a+dotprod+i8mm), installed by installNeonI8mmQ4Kernels only where the CPU reports both
// (cpu_features.cc). Its results are bit-identical to the SDOT and baseline builds': all compute the exact
// int32 group sums, then the same float steps.
#if defined(__aarch64__)
#define TV_NEON_DOT_BUILD 1
#define TV_NEON_I8MM_BUILD 1
#include "engine/cpu/kernels_neon_q4.cc"
#endif
