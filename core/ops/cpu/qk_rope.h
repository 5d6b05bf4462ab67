#pragma once
// QK-norm and rotary position embedding, in place on the queries and keys of qkv (B, T, 3C).
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/ops/cpu/layernorm.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

// Every query and key head (d = C / n_head elements) scaled to unit RMS; rstd per token: the
// n_head query heads, then the n_head key heads.
template <class T>
void qk_norm_forward(int threads, T* qkv, T* rstd, std::int64_t N, std::int64_t C, int n_head) {
  const std::int64_t d = C / n_head, heads = 2 * n_head;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    for (std::int64_t h = 0; h < heads; ++h) {
      T* x = qkv + i * 3 * C + h * d;  // queries then keys: the first 2C of the row
      double v = 0;
      for (std::int64_t c = 0; c < d; ++c) v += static_cast<double>(x[c]) * x[c];
      const T r = static_cast<T>(1.0 / std::sqrt(v / static_cast<double>(d) + kLayerNormEps));
      for (std::int64_t c = 0; c < d; ++c) x[c] *= r;
      rstd[i * heads + h] = r;
    }
  }
}

// dx ← rstd · (dx − x̂ · mean(dx · x̂)) per head, x̂ the normalised (or normalised and rotated) values.
template <class T>
void qk_norm_backward(int threads, T* dqkv, const T* qkv, const T* rstd, std::int64_t N, std::int64_t C, int n_head) {
  const std::int64_t d = C / n_head, heads = 2 * n_head;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const T* y = qkv + i * 3 * C + h * d;
      T* g = dqkv + i * 3 * C + h * d;
      double gy = 0;
      for (std::int64_t c = 0; c < d; ++c) gy += static_cast<double>(g[c]) * y[c];
      const T gym = static_cast<T>(gy / static_cast<double>(d)), r = rstd[i * heads + h];
      for (std::int64_t c = 0; c < d; ++c) g[c] = r * (g[c] - y[c] * gym);
    }
  }
}

// The pair (c, c + d/2) of each query and key head at position position0 + t turns by
// (position0 + t) · base^(−2c/d), or back with inverse. The angles' cosines and sines are
// computed once per call, in double (positions reach thousands of radians).
template <class T>
void rope(int threads, T* qkv, std::int64_t B, std::int64_t T_, std::int64_t C, int n_head, std::int64_t position0,
          double base, bool inverse) {
  const std::int64_t d = C / n_head, half = d / 2, heads = 2 * n_head;
  std::vector<T> cos_sin(static_cast<std::size_t>(T_ * half * 2));
  for (std::int64_t t = 0; t < T_; ++t)
    for (std::int64_t c = 0; c < half; ++c) {
      const double angle =
          static_cast<double>(position0 + t) * std::pow(base, -2.0 * static_cast<double>(c) / static_cast<double>(d));
      cos_sin[static_cast<std::size_t>((t * half + c) * 2)] = static_cast<T>(std::cos(angle));
      cos_sin[static_cast<std::size_t>((t * half + c) * 2 + 1)] =
          static_cast<T>(inverse ? -std::sin(angle) : std::sin(angle));
    }
  const T* table = cos_sin.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(B * T_ * C))
  for (std::int64_t i = 0; i < B * T_; ++i) {
    const T* cs = table + (i % T_) * half * 2;
    for (std::int64_t h = 0; h < heads; ++h) {
      T* x = qkv + i * 3 * C + h * d;
      for (std::int64_t c = 0; c < half; ++c) {
        const T a = x[c], b = x[c + half], cos = cs[2 * c], sin = cs[2 * c + 1];
        x[c] = a * cos - b * sin;
        x[c + half] = b * cos + a * sin;
      }
    }
  }
}

}  // namespace gpt::cpu
