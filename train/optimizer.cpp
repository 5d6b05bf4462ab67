#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace gpt {
double clip_scale(double norm, double max_norm) {
  if (max_norm <= 0 || norm <= max_norm) return 1.0;
  return max_norm / (norm + 1e-6);
}

AdamW::AdamW(GPT& model, const OptimConfig& config) : AdamW(model, config, {{0, model.flat_numel()}}) {}

AdamW::AdamW(GPT& model, const OptimConfig& config, std::vector<FlatRange> owned)
    : model_(&model), config_(config), owned_(std::move(owned)) {
  std::int64_t numel = 0;
  for (const FlatRange& r : owned_) {
    state_offset_.push_back(numel);
    numel += r.size();
  }
  const std::size_t bytes = static_cast<std::size_t>(numel) * dtype_size(model.backend().param_dtype());
  m_ = Buffer(model.backend(), bytes);
  v_ = Buffer(model.backend(), bytes);
  model.backend().zero(Tensor(m_.get(), model.backend().param_dtype(), {numel}));
  model.backend().zero(Tensor(v_.get(), model.backend().param_dtype(), {numel}));
}

double AdamW::grad_sum_squares() const {
  double total = 0;
  for (const FlatRange& r : owned_)
    total += model_->backend().sum_squares(flat_slice(model_->grads(), r.begin, r.size()));
  return total;
}

void AdamW::update(double lr, double grad_scale) {
  ++step_;
  AdamWStep s;
  s.lr = lr;
  s.beta1 = config_.beta1;
  s.beta2 = config_.beta2;
  s.eps = config_.eps;
  s.grad_scale = grad_scale;
  s.step = step_;
  Backend& be = model_->backend();
  // Each owned range, cut at tensor boundaries: weight decay depends on the tensor.
  for (std::size_t k = 0; k < owned_.size(); ++k) {
    const FlatRange& r = owned_[k];
    for (const ParamInfo& p : model_->table().entries()) {
      const std::int64_t begin = std::max(r.begin, p.offset), end = std::min(r.end, p.offset + p.numel);
      if (begin >= end) continue;
      s.weight_decay = p.decay ? config_.weight_decay : 0.0;
      const std::int64_t n = end - begin;
      be.adamw(flat_slice(model_->params(), begin, n), flat_slice(model_->grads(), begin, n),
               flat_slice(moment_m(k), begin - r.begin, n), flat_slice(moment_v(k), begin - r.begin, n), s);
    }
  }
}

void AdamW::export_moments(std::vector<float>& m, std::vector<float>& v) const {
  for (std::size_t k = 0; k < owned_.size(); ++k) {
    model_->backend().download(moment_m(k), m.data() + owned_[k].begin);
    model_->backend().download(moment_v(k), v.data() + owned_[k].begin);
  }
}

void AdamW::import_moments(std::int64_t begin, const float* m, const float* v, std::int64_t count) {
  for (std::size_t k = 0; k < owned_.size(); ++k) {
    const FlatRange& r = owned_[k];
    const std::int64_t lo = std::max(r.begin, begin), hi = std::min(r.end, begin + count);
    if (lo >= hi) continue;
    model_->backend().upload(flat_slice(moment_m(k), lo - r.begin, hi - lo), m + (lo - begin));
    model_->backend().upload(flat_slice(moment_v(k), lo - r.begin, hi - lo), v + (lo - begin));
  }
}

double AdamW::step(double lr, double max_norm) {
  const double norm = std::sqrt(grad_sum_squares());
  update(lr, clip_scale(norm, max_norm));
  model_->refresh_weights();
  return norm;
}

}  // namespace gpt
