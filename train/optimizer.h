#pragma once
// AdamW over ranges of a model's flat buffers with global-norm gradient clipping. It updates, and
// holds moments for, the ranges it is given: the whole buffer, or the slices a rank owns under
// ZeRO-1 (dist/zero.h decides which).
#include <cstdint>
#include <vector>

#include "core/model/gpt.h"
#include "train/run_config.h"

namespace gpt {

class AdamW {
 public:
  AdamW(GPT& model, const OptimConfig& config);  // owns the whole flat buffer
  AdamW(GPT& model, const OptimConfig& config, std::vector<FlatRange> owned);

  const std::vector<FlatRange>& owned() const { return owned_; }
  std::size_t state_bytes() const { return m_.bytes() + v_.bytes(); }

  // Σ g² over the owned ranges.
  double grad_sum_squares() const;
  // One update of the owned ranges at learning rate lr, gradients multiplied by grad_scale
  // (the clip factor). Does not refresh the model's compute weights.
  void update(double lr, double grad_scale);

  // The moments of owned range k, as stored (param_dtype, the range's length).
  Tensor moment_m(std::size_t k) const { return state_view(m_, k); }
  Tensor moment_v(std::size_t k) const { return state_view(v_, k); }

  // Updates applied so far (Adam's bias correction depends on it).
  std::int64_t steps_taken() const { return step_; }
  // Checkpoints: the moments of the owned ranges copied into host arrays laid out like the flat
  // buffer (elements outside the owned ranges are left alone).
  void export_moments(std::vector<float>& m, std::vector<float>& v) const;
  // The moments of flat elements [begin, begin + count) (one tensor of a checkpoint); elements
  // outside the owned ranges are skipped.
  void import_moments(std::int64_t begin, const float* m, const float* v, std::int64_t count);
  void set_steps_taken(std::int64_t steps) { step_ = steps; }

  // The one-process step: clip to max_norm (0: no clipping) by the norm over everything owned,
  // update, refresh the compute weights. Returns the pre-clip gradient norm.
  double step(double lr, double max_norm);

 private:
  GPT* model_;
  OptimConfig config_;
  std::vector<FlatRange> owned_;
  std::vector<std::int64_t> state_offset_;  // where each owned range starts in m_ and v_
  Buffer m_, v_;
  std::int64_t step_ = 0;

  Tensor state_view(const Buffer& b, std::size_t k) const {
    const DType dtype = model_->backend().param_dtype();
    const std::int64_t total = static_cast<std::int64_t>(b.bytes() / dtype_size(dtype));
    return flat_slice(Tensor(b.get(), dtype, {total}), state_offset_[k], owned_[k].size());
  }
};

// Multiplier that brings a gradient of norm `norm` down to `max_norm` (1 when within it or when
// max_norm is 0); the 1e-6 guards a zero norm, as in PyTorch's clip_grad_norm_.
double clip_scale(double norm, double max_norm);

}  // namespace gpt
