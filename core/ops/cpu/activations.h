#pragma once
// GELU (GPT-2's tanh form), ReLU², SwiGLU and the logit soft-cap, elementwise.
#include <cmath>
#include <cstdint>

#include "core/ops/cpu/fast_math.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluCubic = 0.044715;

template <class T>
void gelu_forward(int threads, T* out, const T* x, std::int64_t n) {
  const T a = static_cast<T>(kSqrt2OverPi), b = static_cast<T>(kGeluCubic);
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    out[i] = T(0.5) * v * (T(1) + tanh_fast(a * (v + b * v * v * v)));
  }
}

template <class T>
void gelu_backward(int threads, T* dx, const T* dout, const T* x, std::int64_t n) {
  const T a = static_cast<T>(kSqrt2OverPi), b = static_cast<T>(kGeluCubic);
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    const T th = tanh_fast(a * (v + b * v * v * v));
    const T sech2 = T(1) - th * th;
    const T grad = T(0.5) * (T(1) + th) + T(0.5) * v * sech2 * a * (T(1) + T(3) * b * v * v);
    dx[i] = grad * dout[i];
  }
}

template <class T>
void relu2_forward(int threads, T* out, const T* x, std::int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) {
    const T r = x[i] > T(0) ? x[i] : T(0);
    out[i] = r * r;
  }
}

template <class T>
void relu2_backward(int threads, T* dx, const T* dout, const T* x, std::int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) dx[i] = (x[i] > T(0) ? T(2) * x[i] : T(0)) * dout[i];
}

// out = cap · tanh(x / cap); out may alias x.
template <class T>
void softcap_forward(int threads, T* out, const T* x, std::int64_t n, T cap) {
  const T inv_cap = T(1) / cap;
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) out[i] = cap * tanh_accurate(x[i] * inv_cap);
}

template <class T>
T sigmoid(T v) {
  return T(1) / (T(1) + exp_fast(-v));
}

template <class T>
void swiglu_forward(int threads, T* out, const T* x, std::int64_t N, std::int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * H))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* gate = x + i * 2 * H;
    const T* up = gate + H;
    T* o = out + i * H;
    for (std::int64_t j = 0; j < H; ++j) o[j] = gate[j] * sigmoid(gate[j]) * up[j];
  }
}

template <class T>
void swiglu_backward(int threads, T* dx, const T* dout, const T* x, std::int64_t N, std::int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * H))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* gate = x + i * 2 * H;
    const T* up = gate + H;
    const T* d = dout + i * H;
    T* dgate = dx + i * 2 * H;
    T* dup = dgate + H;
    for (std::int64_t j = 0; j < H; ++j) {
      const T s = sigmoid(gate[j]);
      const T silu = gate[j] * s;
      dup[j] = d[j] * silu;
      dgate[j] = d[j] * up[j] * s * (T(1) + gate[j] * (T(1) - s));
    }
  }
}

}  // namespace gpt::cpu
