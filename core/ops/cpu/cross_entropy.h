#pragma once
// Softmax cross-entropy fused with its gradient: one row at a time, the exponentials are written
// straight into dlogits (which may alias logits), so no probability tensor exists on its own.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/ops/cpu/fast_math.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

// The loss and gradient of one row whose logits are soft-capped: y = cap · tanh(l / cap) is
// written into d first (d may alias l), then the gradient over it, times dy/dl = 1 − (y / cap)².
template <class T>
T softcap_row(T* d, const T* l, std::int64_t target, std::int64_t real_vocab, std::int64_t V, double dloss,
              double softcap) {
  const T cap = static_cast<T>(softcap), inv_cap = static_cast<T>(1.0 / softcap);
  T maxl = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : maxl)
  for (std::int64_t j = 0; j < real_vocab; ++j) maxl = l[j] > maxl ? l[j] : maxl;
  const T maxv = cap * tanh_accurate(maxl * inv_cap);  // tanh is increasing
  const T target_logit = cap * tanh_accurate(l[target] * inv_cap);
  double sum = 0;
  if (d) {
    for (std::int64_t j = 0; j < real_vocab; ++j) d[j] = cap * tanh_accurate(l[j] * inv_cap);
    sum = blocked_sum<T>(real_vocab, [d, maxv](std::int64_t j) { return exp_fast(d[j] - maxv); });
    const T scale = static_cast<T>(dloss / sum);
    for (std::int64_t j = 0; j < real_vocab; ++j) {
      const T u = d[j] * inv_cap;
      d[j] = exp_fast(d[j] - maxv) * scale * (T(1) - u * u);
    }
    const T u = target_logit * inv_cap;
    d[target] -= static_cast<T>(dloss) * (T(1) - u * u);
    for (std::int64_t j = real_vocab; j < V; ++j) d[j] = 0;
  } else {
    sum = blocked_sum<T>(real_vocab, [l, maxv, cap, inv_cap](std::int64_t j) {
      return exp_fast(cap * tanh_accurate(l[j] * inv_cap) - maxv);
    });
  }
  return static_cast<T>(std::log(sum) + static_cast<double>(maxv) - static_cast<double>(target_logit));
}

template <class T>
void cross_entropy(int threads, T* losses, T* dlogits, const T* logits, const std::int32_t* targets, std::int64_t N,
                   std::int64_t V, std::int64_t real_vocab, double dloss, double softcap = 0) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * V))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* l = logits + i * V;
    const std::int64_t target = targets[i];
    if (softcap > 0) {
      losses[i] = softcap_row(dlogits ? dlogits + i * V : nullptr, l, target, real_vocab, V, dloss, softcap);
      continue;
    }
    T maxv = -std::numeric_limits<T>::infinity();
    // A max reduction GCC vectorises (std::max's NaN rule keeps it scalar).
#pragma omp simd reduction(max : maxv)
    for (std::int64_t j = 0; j < real_vocab; ++j) maxv = l[j] > maxv ? l[j] : maxv;
    const T target_logit = l[target];
    double sum = 0;
    if (dlogits) {
      T* d = dlogits + i * V;
      sum = blocked_sum<T>(real_vocab, [d, l, maxv](std::int64_t j) { return d[j] = exp_fast(l[j] - maxv); });
      const T scale = static_cast<T>(dloss / sum);
      for (std::int64_t j = 0; j < real_vocab; ++j) d[j] *= scale;
      d[target] -= static_cast<T>(dloss);
      for (std::int64_t j = real_vocab; j < V; ++j) d[j] = 0;
    } else {
      sum = blocked_sum<T>(real_vocab, [l, maxv](std::int64_t j) { return exp_fast(l[j] - maxv); });
    }
    losses[i] = static_cast<T>(std::log(sum) + static_cast<double>(maxv) - static_cast<double>(target_logit));
  }
}

}  // namespace gpt::cpu
