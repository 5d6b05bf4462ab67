#pragma once
// The KV cache on the CPU: writing new keys and values, and attention of new queries over the
// cache. One (row, head) pair per task, as in attention.h; decoding one token reads the whole
// cache once, so it is a bandwidth-bound loop over positions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/ops/cpu/fast_math.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

template <class T>
void kv_cache_write(T* k_cache, T* v_cache, const T* qkv, std::int64_t B, std::int64_t T_, std::int64_t C,
                    std::int64_t S, std::int64_t position) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T_; ++t) {
      const T* row = qkv + (b * T_ + t) * 3 * C;
      const std::int64_t at = (b * S + position + t) * C;
      std::memcpy(k_cache + at, row + C, static_cast<std::size_t>(C) * sizeof(T));
      std::memcpy(v_cache + at, row + 2 * C, static_cast<std::size_t>(C) * sizeof(T));
    }
}

template <class T>
void cached_attention_forward(int threads, T* out, const T* qkv, const T* k_cache, const T* v_cache, std::int64_t B,
                              std::int64_t T_, std::int64_t C, std::int64_t S, std::int64_t position, std::int64_t NH) {
  const std::int64_t hd = C / NH;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
  const std::int64_t work = B * NH * T_ * (position + T_) * hd;
#pragma omp parallel num_threads(threads) if (worth_parallel(work))
  {
    std::vector<T> scores(static_cast<std::size_t>(position + T_));
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t h = 0; h < NH; ++h) {
        for (std::int64_t t = 0; t < T_; ++t) {
          const std::int64_t visible = position + t + 1;
          const T* q = qkv + (b * T_ + t) * 3 * C + h * hd;
          T maxv = -std::numeric_limits<T>::infinity();
          for (std::int64_t s = 0; s < visible; ++s) {
            const T* k = k_cache + (b * S + s) * C + h * hd;
            T dot = 0;
            // Vector lanes keep partial sums: a fixed order for a given binary, and decoding cost
            // that stays close to the weights' as the cache grows.
#pragma omp simd reduction(+ : dot)
            for (std::int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
            scores[static_cast<std::size_t>(s)] = dot * scale;
            maxv = std::max(maxv, dot * scale);
          }
          double sum = 0;
          for (std::int64_t s = 0; s < visible; ++s) {
            T& p = scores[static_cast<std::size_t>(s)];
            p = exp_fast(p - maxv);
            sum += p;
          }
          const T inv = static_cast<T>(1.0 / sum);
          T* o = out + (b * T_ + t) * C + h * hd;
          std::fill_n(o, hd, T(0));
          for (std::int64_t s = 0; s < visible; ++s) {
            const T p = scores[static_cast<std::size_t>(s)] * inv;
            const T* v = v_cache + (b * S + s) * C + h * hd;
#pragma omp simd
            for (std::int64_t d = 0; d < hd; ++d) o[d] += p * v[d];
          }
        }
      }
    }
  }
}

}  // namespace gpt::cpu
