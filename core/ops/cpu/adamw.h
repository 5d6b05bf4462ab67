#pragma once
// AdamW with decoupled weight decay and bias correction, the same arithmetic as torch.optim.AdamW:
// p -= lr·wd·p; m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; p -= lr · m̂ / (√v̂ + ε).
#include <cmath>
#include <cstdint>

#include "core/ops/backend.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {

template <class T>
void adamw(int threads, T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamWStep& s) {
  const double t = static_cast<double>(s.step);
  const T b1 = static_cast<T>(s.beta1), b2 = static_cast<T>(s.beta2);
  const T step_size = static_cast<T>(s.lr / (1.0 - std::pow(s.beta1, t)));
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(s.beta2, t)));
  const T decay = static_cast<T>(1.0 - s.lr * s.weight_decay);
  const T eps = static_cast<T>(s.eps), gscale = static_cast<T>(s.grad_scale);
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grad[i] * gscale;
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    param[i] = param[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace gpt::cpu
