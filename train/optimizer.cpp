#include "train/optimizer.h"

#include <cmath>

namespace gpt {

double clip_scale(double norm, double max_norm) {
  if (max_norm <= 0 || norm <= max_norm) return 1.0;
  return max_norm / (norm + 1e-6);
}

AdamW::AdamW(GPT& model, const OptimConfig& config) : model_(&model), config_(config) {
  const std::size_t bytes = model.params().bytes();
  m_ = Buffer(model.backend(), bytes);
  v_ = Buffer(model.backend(), bytes);
}

double AdamW::grad_norm() const {
  return std::sqrt(model_->backend().sum_squares(model_->grads()));
}

double AdamW::step(double lr, double max_norm) {
  const double norm = grad_norm();
  ++step_;
  AdamWStep s;
  s.lr = lr;
  s.beta1 = config_.beta1;
  s.beta2 = config_.beta2;
  s.eps = config_.eps;
  s.grad_scale = clip_scale(norm, max_norm);
  s.step = step_;
  const DType dtype = model_->backend().param_dtype();
  for (const ParamInfo& p : model_->table().entries()) {
    s.weight_decay = p.decay ? config_.weight_decay : 0.0;
    model_->backend().adamw(model_->param(p), model_->grad(p), tensor_in(m_.get(), dtype, p),
                            tensor_in(v_.get(), dtype, p), s);
  }
  model_->refresh_weights();
  return norm;
}

}  // namespace gpt
