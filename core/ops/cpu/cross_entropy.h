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

template <class T>
void cross_entropy(int threads, T* losses, T* dlogits, const T* logits, const std::int32_t* targets, std::int64_t N,
                   std::int64_t V, std::int64_t real_vocab, double dloss) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * V))
  for (std::int64_t i = 0; i < N; ++i) {
    const T* l = logits + i * V;
    T maxv = -std::numeric_limits<T>::infinity();
    // A max reduction GCC vectorises (std::max's NaN rule keeps it scalar).
#pragma omp simd reduction(max : maxv)
    for (std::int64_t j = 0; j < real_vocab; ++j) maxv = l[j] > maxv ? l[j] : maxv;
    const std::int64_t target = targets[i];
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
