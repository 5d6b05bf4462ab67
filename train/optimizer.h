#pragma once
// AdamW over a model's parameter table with global-norm gradient clipping. The two moments are
// flat buffers with the parameters' layout.
#include <cstdint>

#include "core/model/gpt.h"
#include "train/run_config.h"

namespace gpt {

class AdamW {
 public:
  AdamW(GPT& model, const OptimConfig& config);

  // √(Σ g²) over every gradient.
  double grad_norm() const;
  // Clips to max_norm (0: no clipping) and applies one update at learning rate lr.
  // Returns the pre-clip gradient norm.
  double step(double lr, double max_norm);

 private:
  GPT* model_;
  OptimConfig config_;
  Buffer m_, v_;
  std::int64_t step_ = 0;
};

// Multiplier that brings a gradient of norm `norm` down to `max_norm` (1 when within it or when
// max_norm is 0); the 1e-6 guards a zero norm, as in PyTorch's clip_grad_norm_.
double clip_scale(double norm, double max_norm);

}  // namespace gpt
