#pragma once
// exp and tanh that GCC vectorises: libm's expf/tanhf are one call per element and made GELU and
// the softmaxes a quarter of a CPU step. The float exp is Cody-Waite range reduction
// x = n·ln2 + r (|r| ≤ ln2/2), Cephes' degree-6 polynomial for e^r (about 1 ulp), and 2^n
// written into the exponent bits. Double keeps libm: it is the precision reference.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace gpt::cpu {

inline float exp_fast(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);  // keeps 2^n a normal float
  // Round to nearest by adding and removing 1.5·2²³ (std::floor would stop GCC vectorising).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln2 split in two for an exact first product
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}
inline double exp_fast(double x) {
  return std::exp(x);
}

// tanh with small absolute error (not relative: near 0 it is the difference of two numbers near
// 1), which is what GELU needs: its output is x·(1 + tanh(...))/2.
inline float tanh_fast(float x) {
  return 1.0f - 2.0f / (exp_fast(2.0f * x) + 1.0f);
}
inline double tanh_fast(double x) {
  return std::tanh(x);
}

}  // namespace gpt::cpu
