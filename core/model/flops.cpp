#include "core/model/flops.h"

namespace gpt {

double training_flops_per_token(const ModelConfig& c, std::int64_t T) {
  const double C = static_cast<double>(c.n_embd), H = static_cast<double>(c.hidden());
  const double fc_out = c.activation == Activation::swiglu ? 2 * H : H;
  const double per_layer = 3 * C * C + C * C + fc_out * C + H * C;
  const double matmul_weights = static_cast<double>(c.n_layer) * per_layer + static_cast<double>(c.vocab_size) * C;
  const double attention = 2.0 * static_cast<double>(c.n_layer) * static_cast<double>(T) * C;
  return 6.0 * (matmul_weights + attention);
}

}  // namespace gpt
