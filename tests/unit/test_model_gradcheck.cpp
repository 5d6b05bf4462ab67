// The whole model's gradients against central finite differences, in double precision, for
// gelu and swiglu, with and without biases, tied and untied embeddings, with and without dropout,
// and each option of the modern recipe (RoPE, RMSNorm, QK-norm, ReLU², logit soft-cap) alone and together.
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
  std::string name;
  ModelConfig config;
};

Variant classic(Activation act, bool bias, bool tied, double dropout) {
  ModelConfig c = tiny_model(act, bias, tied);
  c.dropout = dropout;
  return {std::string(act == Activation::gelu ? "gelu" : "swiglu") + (bias ? "_bias" : "_nobias") +
              (tied ? "_tied" : "_untied") + (dropout > 0 ? "_dropout" : ""),
          c};
}

// One option of the modern recipe at a time on GPT-2's tiny model, then all of them together.
Variant modern(std::string name, void (*change)(ModelConfig&)) {
  ModelConfig c = tiny_model(Activation::gelu, true, true);
  change(c);
  return {std::move(name), c};
}

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

class ModelGradCheck : public ::testing::TestWithParam<Variant> {};

TEST_P(ModelGradCheck, EveryParameterMatchesFiniteDifferences) {
  const ModelConfig config = GetParam().config;
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
    ::testing::Values(classic(Activation::gelu, true, true, 0.0), classic(Activation::gelu, false, true, 0.0),
                      classic(Activation::gelu, true, false, 0.0), classic(Activation::gelu, false, false, 0.0),
                      classic(Activation::swiglu, true, true, 0.0), classic(Activation::swiglu, false, true, 0.0),
                      classic(Activation::swiglu, true, false, 0.0), classic(Activation::swiglu, false, false, 0.0),
                      classic(Activation::gelu, true, true, 0.25), classic(Activation::swiglu, false, false, 0.25),
                      modern("rope",
                             [](ModelConfig& c) {
                               c.positions = Positions::rope;
                               c.rope_base = 50;
                             }),
                      modern("rmsnorm", [](ModelConfig& c) { c.norm = NormKind::rmsnorm; }),
                      modern("qk_norm", [](ModelConfig& c) { c.qk_norm = true; }),
                      modern("relu2",
                             [](ModelConfig& c) {
                               c.activation = Activation::relu2;
                               c.dropout = 0.25;
                             }),
                      modern("logit_softcap", [](ModelConfig& c) { c.logit_softcap = 5; }),
                      Variant{"modern_nobias_untied", tiny_modern_model(false, false)},
                      Variant{"modern_bias_tied_dropout",
                              [] {
                                ModelConfig c = tiny_modern_model(true, true);
                                c.dropout = 0.25;
                                return c;
                              }()}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gpt::test
