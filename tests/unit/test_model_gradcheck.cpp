// The whole model's gradients against central finite differences, in double precision, for
// gelu and swiglu, with and without biases, tied and untied embeddings, with and without dropout.
#include <gtest/gtest.h>

#include <ostream>
#include <span>
#include <string>

#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/model_test_util.h"
#include "tests/support/op_harness.h"

namespace gpt::test {
namespace {

struct Variant {
  Activation act;
  bool bias, tied;
  double dropout;
};

std::string variant_name(const Variant& v) {
  return std::string(v.act == Activation::gelu ? "gelu" : "swiglu") + (v.bias ? "_bias" : "_nobias") +
         (v.tied ? "_tied" : "_untied") + (v.dropout > 0 ? "_dropout" : "");
}

void PrintTo(const Variant& v, std::ostream* os) {
  *os << variant_name(v);
}

class ModelGradCheck : public ::testing::TestWithParam<Variant> {};

TEST_P(ModelGradCheck, EveryParameterMatchesFiniteDifferences) {
  const Variant v = GetParam();
  ModelConfig config = tiny_model(v.act, v.bias, v.tied);
  config.dropout = v.dropout;
  CpuBackend<double> be(cpu_threads());
  GPT model(config, be);
  model.init_weights(7);
  // Larger weights than GPT-2's init make every nonlinearity matter to the gradient.
  for (double& x : std::span(model.params().data<double>(), static_cast<std::size_t>(model.params().numel()))) x *= 10;
  const HostBatch batch = random_batch(2, 5, config.real_vocab_size, 99);
  ForwardOptions train{.training = true, .dropout_key = 1234, .loss_scale = 1.0 / 10};
  ForwardOptions probe{.training = true, .dropout_key = 1234, .loss_scale = 0};
  model.zero_grads();
  model.forward(batch.view(), train);
  model.backward();

  double* params = model.params().data<double>();
  const double step = 1e-6;
  for (const ParamInfo& p : model.table().entries()) {
    std::vector<double> numeric(static_cast<std::size_t>(p.numel));
    for (std::int64_t i = 0; i < p.numel; ++i) {
      double& x = params[p.offset + i];
      const double saved = x;
      x = saved + step;
      const double plus = model.forward(batch.view(), probe);
      x = saved - step;
      const double minus = model.forward(batch.view(), probe);
      x = saved;
      numeric[static_cast<std::size_t>(i)] = (plus - minus) / (2 * step);
    }
    const std::vector<double> analytic = host_values<double>(model.grad(p));
    EXPECT_LT(relative_error(analytic, numeric), 1e-6) << p.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ModelGradCheck,
    ::testing::Values(Variant{Activation::gelu, true, true, 0.0}, Variant{Activation::gelu, false, true, 0.0},
                      Variant{Activation::gelu, true, false, 0.0}, Variant{Activation::gelu, false, false, 0.0},
                      Variant{Activation::swiglu, true, true, 0.0}, Variant{Activation::swiglu, false, true, 0.0},
                      Variant{Activation::swiglu, true, false, 0.0}, Variant{Activation::swiglu, false, false, 0.0},
                      Variant{Activation::gelu, true, true, 0.25}, Variant{Activation::swiglu, false, false, 0.25}),
    [](const auto& info) { return variant_name(info.param); });

}  // namespace
}  // namespace gpt::test
