// Scalar IEEE half (fp16) and bfloat16 conversions. Exact: fp16 -> fp32 is lossless, fp32 -> fp16 and
// fp32 -> bf16 round to nearest even (NaN stays NaN, overflow becomes infinity), matching F16C's
// vcvtps2ph with rounding mode 0 and PyTorch's .half() / .bfloat16().
#pragma once

#include <cstdint>
#include <cstring>

namespace tv {

inline float bitsToFloat(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t floatToBits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

inline float halfToFloat(std::uint16_t h) {
  std::uint32_t const sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t const exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bitsToFloat(sign | 0x7f800000u | (mantissa << 13));  // inf / NaN
  if (exponent != 0) return bitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bitsToFloat(sign);  // ±0
  // Subnormal: normalise.
  int e = -1;
  do {
    ++e;
    mantissa <<= 1;
  } while ((mantissa & 0x400u) == 0);
  return bitsToFloat(sign | static_cast<std::uint32_t>(112 - e) << 23 | ((mantissa & 0x3ffu) << 13));
}

inline std::uint16_t floatToHalf(float f) {
  std::uint32_t const bits = floatToBits(f);
  std::uint32_t const sign = (bits >> 16) & 0x8000u;
  std::uint32_t const abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN (keep NaN quiet and non-zero)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: overflow
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);  // < 2^-25 rounds to zero
    std::uint32_t const exponent = abs >> 23;
    std::uint32_t const mantissa = (abs & 0x7fffffu) | 0x800000u;
    std::uint32_t const shift = 126 - exponent;  // 14..24
    std::uint32_t value = mantissa >> shift;
    std::uint32_t const remainder = mantissa & ((1u << shift) - 1u);
    std::uint32_t const half = 1u << (shift - 1);
    if (remainder > half || (remainder == half && (value & 1u))) ++value;
    return static_cast<std::uint16_t>(sign | value);
  }
  std::uint32_t value = ((abs >> 13) - (112u << 10));
  std::uint32_t const remainder = abs & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u))) ++value;
  return static_cast<std::uint16_t>(sign | value);
}

// The smallest half >= s, for a positive s <= 65504 (quantization scales rounded up, so that
// |w| / scale never exceeds the largest code).
inline std::uint16_t halfAtLeast(float s) {
  std::uint16_t h = floatToHalf(s);
  if (halfToFloat(h) < s) ++h;  // positive halves are ordered like their bit patterns
  return h;
}

inline float bf16ToFloat(std::uint16_t b) { return bitsToFloat(static_cast<std::uint32_t>(b) << 16); }

inline std::uint16_t floatToBf16(float f) {
  std::uint32_t const bits = floatToBits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  std::uint32_t const rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

}  // namespace tv
