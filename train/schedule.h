#pragma once
// Learning-rate schedules: linear warmup from lr/warmup to lr over warmup_steps, then cosine,
// linear, warmup-stable-decay (lr, then linear over the last decay_fraction) or no decay to
// min_lr at decay_steps (warmup included, like optax's warmup_cosine_decay_schedule), then min_lr.
#include <cstdint>

#include "train/run_config.h"

namespace gpt {

// Learning rate for optimizer step `step` (0-based).
double learning_rate(const OptimConfig& optim, std::int64_t max_steps, std::int64_t step);

}  // namespace gpt
