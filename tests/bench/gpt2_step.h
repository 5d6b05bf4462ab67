#pragma once
// One training step of a GPT (GPT-2 124M unless told) on any backend, shared by the benchmarks: a
// fixed random batch, forward, backward and an AdamW update with gradient clipping, each
// callable on its own for per-phase timings.
#include <cstdint>
#include <vector>

#include "core/model/gpt.h"
#include "core/rng.h"
#include "train/optimizer.h"

namespace gpt::bench {

class Gpt2Step {
 public:
  Gpt2Step(Backend& backend, std::int64_t B, std::int64_t T, const ModelConfig& config = {})
      : B_(B), T_(T), model_(config, backend), adamw_(model_, OptimConfig{}) {
    model_.init_weights(1);
    for (std::int64_t i = 0; i < B * T; ++i) {
      inputs_.push_back(static_cast<std::int32_t>(rng::below(1, static_cast<std::uint64_t>(i), 50257)));
      targets_.push_back(static_cast<std::int32_t>(rng::below(2, static_cast<std::uint64_t>(i), 50257)));
    }
  }

  void forward() {
    model_.zero_grads();
    model_.forward({inputs_.data(), targets_.data(), B_, T_},
                   {.training = true, .loss_scale = 1.0 / static_cast<double>(B_ * T_)});
  }
  void backward() { model_.backward(); }
  void update() { adamw_.step(6e-4, 1.0); }
  void run() {
    forward();
    backward();
    update();
  }

 private:
  std::int64_t B_, T_;
  GPT model_;
  AdamW adamw_;
  std::vector<std::int32_t> inputs_, targets_;
};

}  // namespace gpt::bench
