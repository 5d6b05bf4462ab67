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

// tanh with small relative error everywhere (below 4e-7, measured against double), for the
// logit soft-cap, whose small logits tanh_fast would blur: a rational fit x·P(x²)/Q(x²) on
// |x| ≤ 7.9 (beyond, tanh is 1 in float), the form Eigen and XLA vectorise.
inline float tanh_accurate(float x) {
  x = std::min(std::max(x, -7.90531110763549805f), 7.90531110763549805f);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}
inline double tanh_accurate(double x) {
  return std::tanh(x);
}

}  // namespace gpt::cpu
