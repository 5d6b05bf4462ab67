#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

constexpr double kLayerNormEps = 1e-5;

template <class T>
void layernorm_forward(int threads, T* out, T* mean, T* rstd, const T* x, const T* weight, const T* bias,
                       std::int64_t N, std::int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* xi = x + i * C;
    double s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += xi[c];
    const double m = s / static_cast<double>(C);
    double v = 0;
    for (std::int64_t c = 0; c < C; ++c) v += (xi[c] - m) * (xi[c] - m);
    const double r = 1.0 / std::sqrt(v / static_cast<double>(C) + kLayerNormEps);
    const T mt = static_cast<T>(m), rt = static_cast<T>(r);
    T* oi = out + i * C;
    for (std::int64_t c = 0; c < C; ++c) oi[c] = (xi[c] - mt) * rt * weight[c] + (bias ? bias[c] : T(0));
    mean[i] = mt;
    rstd[i] = rt;
  }
}

// dx += rstd · (g - mean(g) - x̂ · mean(g · x̂)) with g = dout · weight, per row; then the
// parameter gradients, reduced over rows one column block per thread.
template <class T>
void layernorm_backward(int threads, T* dx, T* dweight, T* dbias, const T* dout, const T* x, const T* weight,
                        const T* mean, const T* rstd, std::int64_t N, std::int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* xi = x + i * C;
    const T* di = dout + i * C;
    const T m = mean[i], r = rstd[i];
    double g_mean = 0, gx_mean = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      const double g = static_cast<double>(di[c]) * weight[c];
      g_mean += g;
      gx_mean += g * ((xi[c] - m) * r);
    }
    g_mean /= static_cast<double>(C);
    gx_mean /= static_cast<double>(C);
    const T gm = static_cast<T>(g_mean), gxm = static_cast<T>(gx_mean);
    T* dxi = dx + i * C;
    for (std::int64_t c = 0; c < C; ++c) {
      const T xhat = (xi[c] - m) * r;
      dxi[c] += r * (di[c] * weight[c] - gm - xhat * gxm);
    }
  }
  const std::int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * kColumnBlock, c1 = std::min(C, c0 + kColumnBlock);
    for (std::int64_t i = 0; i < N; ++i) {
      const T* xi = x + i * C;
      const T* di = dout + i * C;
      for (std::int64_t c = c0; c < c1; ++c) {
        dweight[c] += di[c] * ((xi[c] - mean[i]) * rstd[i]);
        if (dbias) dbias[c] += di[c];
      }
    }
  }
}

// RMSNorm: LayerNorm without the mean and the bias.
template <class T>
void rmsnorm_forward(int threads, T* out, T* rstd, const T* x, const T* weight, std::int64_t N, std::int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* xi = x + i * C;
    double v = 0;
    for (std::int64_t c = 0; c < C; ++c) v += static_cast<double>(xi[c]) * xi[c];
    const T rt = static_cast<T>(1.0 / std::sqrt(v / static_cast<double>(C) + kLayerNormEps));
    T* oi = out + i * C;
    for (std::int64_t c = 0; c < C; ++c) oi[c] = xi[c] * rt * weight[c];
    rstd[i] = rt;
  }
}

// dx += rstd · (g − x̂ · mean(g · x̂)) with g = dout · weight; dweight += Σ_rows dout · x̂.
template <class T>
void rmsnorm_backward(int threads, T* dx, T* dweight, const T* dout, const T* x, const T* weight, const T* rstd,
                      std::int64_t N, std::int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* xi = x + i * C;
    const T* di = dout + i * C;
    const T r = rstd[i];
    double gx_mean = 0;
    for (std::int64_t c = 0; c < C; ++c) gx_mean += static_cast<double>(di[c]) * weight[c] * (xi[c] * r);
    const T gxm = static_cast<T>(gx_mean / static_cast<double>(C));
    T* dxi = dx + i * C;
    for (std::int64_t c = 0; c < C; ++c) dxi[c] += r * (di[c] * weight[c] - xi[c] * r * gxm);
  }
  const std::int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * C))
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * kColumnBlock, c1 = std::min(C, c0 + kColumnBlock);
    for (std::int64_t i = 0; i < N; ++i) {
      const T* xi = x + i * C;
      const T* di = dout + i * C;
      for (std::int64_t c = c0; c < c1; ++c) dweight[c] += di[c] * (xi[c] * rstd[i]);
    }
  }
}

}  // namespace gpt::cpu
