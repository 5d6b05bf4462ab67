#pragma once
#include <algorithm>
#include <cstdint>

#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

template <class T>
void embedding_forward(int threads, T* out, const std::int32_t* tokens, const T* wte, const T* wpe, std::int64_t B,
                       std::int64_t T_, std::int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(B * T_ * C))
  for (std::int64_t i = 0; i < B * T_; ++i) {
    const T* w = wte + static_cast<std::int64_t>(tokens[i]) * C;
    T* o = out + i * C;
    if (!wpe) {  // no learned positions (RoPE)
      for (std::int64_t c = 0; c < C; ++c) o[c] = w[c];
      continue;
    }
    const T* p = wpe + (i % T_) * C;
    for (std::int64_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
  }
}

// Parallel over column blocks: each thread owns some columns of dwte and dwpe and walks the
// positions in order, so repeated tokens add up without races and in a fixed order. dwpe may be
// null (no learned positions).
template <class T>
void embedding_backward(int threads, T* dwte, T* dwpe, const T* dout, const std::int32_t* tokens, std::int64_t B,
                        std::int64_t T_, std::int64_t C) {
  const std::int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(B * T_ * C))
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * kColumnBlock, c1 = std::min(C, c0 + kColumnBlock);
    for (std::int64_t i = 0; i < B * T_; ++i) {
      const T* d = dout + i * C;
      T* w = dwte + static_cast<std::int64_t>(tokens[i]) * C;
      for (std::int64_t c = c0; c < c1; ++c) w[c] += d[c];
      if (!dwpe) continue;
      T* p = dwpe + (i % T_) * C;
      for (std::int64_t c = c0; c < c1; ++c) p[c] += d[c];
    }
  }
}

}  // namespace gpt::cpu
