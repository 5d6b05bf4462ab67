#pragma once
// 16-bit floats on the host, as bit patterns: bfloat16 (the top half of a float32) and IEEE 754
// half (float16). Narrowing rounds to nearest, ties to even; NaN stays NaN, overflow becomes inf.
// What uploads to bf16 devices and the float16/bfloat16 tensors of weight files need.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace gpt {

inline std::uint16_t float_to_bf16_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

inline float bf16_bits_to_float(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  // 65520 (0x477ff000) lies halfway between the largest half, 65504, and 2^16; the tie goes to the
  // even neighbour, 2^16, which is inf.
  if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (a < 0x38800000u) {                // below 2^-14, half's smallest normal
    if (a <= 0x33000000u) return sign;  // at most 2^-25, half the smallest subnormal: 0
    const std::uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - (a >> 23);  // value·2^24 = mant >> shift; 14 <= shift <= 24
    std::uint32_t r = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (r & 1u))) ++r;  // may carry into the smallest normal: right
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t r = a - 0x38000000u;  // exponent bias 127 -> 15
  r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
  return static_cast<std::uint16_t>(sign | r);
}

inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mant·2^-24, exact in float32
    const float magnitude = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -magnitude : magnitude;
  }
  const std::uint32_t u =
      sign | (exponent == 0x1fu ? 0x7f800000u | (mant << 13) : ((exponent + 112u) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace gpt
