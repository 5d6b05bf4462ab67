#pragma once
// Causal multi-head attention on the CPU, the plain reference: the softmax probabilities
// (B, n_head, T, T) are kept for the backward. One (batch, head) pair per task, so every task
// writes disjoint slices of its outputs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/ops/cpu/fast_math.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

template <class T>
void attention_forward(int threads, T* out, T* probs, const T* qkv, std::int64_t B, std::int64_t T_, std::int64_t C,
                       std::int64_t NH) {
  const std::int64_t hd = C / NH;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (worth_parallel(B * NH * T_ * T_ * hd))
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < NH; ++h) {
      for (std::int64_t t = 0; t < T_; ++t) {
        const T* q = qkv + (b * T_ + t) * 3 * C + h * hd;
        T* p = probs + ((b * NH + h) * T_ + t) * T_;
        T maxv = -std::numeric_limits<T>::infinity();
        for (std::int64_t s = 0; s <= t; ++s) {
          const T* k = qkv + (b * T_ + s) * 3 * C + C + h * hd;
          T dot = 0;
          for (std::int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
          p[s] = dot * scale;
          maxv = std::max(maxv, p[s]);
        }
        double sum = 0;
        for (std::int64_t s = 0; s <= t; ++s) {
          p[s] = exp_fast(p[s] - maxv);
          sum += p[s];
        }
        const T inv = static_cast<T>(1.0 / sum);
        for (std::int64_t s = 0; s <= t; ++s) p[s] *= inv;
        for (std::int64_t s = t + 1; s < T_; ++s) p[s] = 0;

        T* o = out + (b * T_ + t) * C + h * hd;
        for (std::int64_t d = 0; d < hd; ++d) o[d] = 0;
        for (std::int64_t s = 0; s <= t; ++s) {
          const T* v = qkv + (b * T_ + s) * 3 * C + 2 * C + h * hd;
          for (std::int64_t d = 0; d < hd; ++d) o[d] += p[s] * v[d];
        }
      }
    }
  }
}

// Overwrites dqkv. Per query t: dp = dout·v, dscore = p ⊙ (dp - Σ p·dp), then dq, dk, dv.
template <class T>
void attention_backward(int threads, T* dqkv, const T* dout, const T* qkv, const T* probs, std::int64_t B,
                        std::int64_t T_, std::int64_t C, std::int64_t NH) {
  const std::int64_t hd = C / NH;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (worth_parallel(B * NH * T_ * T_ * hd))
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < NH; ++h) {
      for (std::int64_t t = 0; t < T_; ++t)
        for (int part = 0; part < 3; ++part) std::fill_n(dqkv + (b * T_ + t) * 3 * C + part * C + h * hd, hd, T(0));
      std::vector<T> dscore(static_cast<std::size_t>(T_));
      for (std::int64_t t = 0; t < T_; ++t) {
        const T* p = probs + ((b * NH + h) * T_ + t) * T_;
        const T* dout_t = dout + (b * T_ + t) * C + h * hd;
        const T* q = qkv + (b * T_ + t) * 3 * C + h * hd;
        T* dq = dqkv + (b * T_ + t) * 3 * C + h * hd;
        double weighted = 0;
        for (std::int64_t s = 0; s <= t; ++s) {
          const T* v = qkv + (b * T_ + s) * 3 * C + 2 * C + h * hd;
          T* dv = dqkv + (b * T_ + s) * 3 * C + 2 * C + h * hd;
          T dp = 0;
          for (std::int64_t d = 0; d < hd; ++d) {
            dp += dout_t[d] * v[d];
            dv[d] += p[s] * dout_t[d];
          }
          dscore[static_cast<std::size_t>(s)] = dp;
          weighted += static_cast<double>(p[s]) * dp;
        }
        const T w = static_cast<T>(weighted);
        for (std::int64_t s = 0; s <= t; ++s) {
          const T ds = p[s] * (dscore[static_cast<std::size_t>(s)] - w) * scale;
          const T* k = qkv + (b * T_ + s) * 3 * C + C + h * hd;
          T* dk = dqkv + (b * T_ + s) * 3 * C + C + h * hd;
          for (std::int64_t d = 0; d < hd; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * q[d];
          }
        }
      }
    }
  }
}

}  // namespace gpt::cpu
