#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace gpt {

double learning_rate(const OptimConfig& o, std::int64_t max_steps, std::int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (o.schedule == Schedule::constant) return o.lr;
  const std::int64_t end = o.decay_steps > 0 ? o.decay_steps : max_steps;
  const std::int64_t span = end - o.warmup_steps;
  if (span <= 0) return o.min_lr;
  const double progress = std::clamp(static_cast<double>(step - o.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  if (o.schedule == Schedule::linear) return o.lr - (o.lr - o.min_lr) * progress;
  if (o.schedule == Schedule::wsd) {
    const double stable = 1.0 - o.decay_fraction;
    if (progress <= stable) return o.lr;
    return o.lr - (o.lr - o.min_lr) * (progress - stable) / o.decay_fraction;
  }
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace gpt
