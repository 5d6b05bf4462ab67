#pragma once
// Inverted dropout: element i is kept when uniform(key, i) >= p, a pure function of its index,
// so the backward regenerates the same mask without storing it.
#include <cstdint>

#include "core/ops/cpu/parallel.h"
#include "core/rng.h"

namespace gpt::cpu {

template <class T>
void dropout_apply(int threads, T* out, const T* x, std::int64_t n, double p, std::uint64_t key) {
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = rng::uniform(key, static_cast<std::uint64_t>(i)) >= p ? x[i] * keep_scale : T(0);
}

}  // namespace gpt::cpu
