// Emulated __half: the bits, rounded like the device's __float2half_rn (to nearest even).
#pragma once

#include "core/fp16.h"

struct __half {
  unsigned short bits;
};
inline __half __float2half_rn(float f) { return __half{tv::floatToHalf(f)}; }
