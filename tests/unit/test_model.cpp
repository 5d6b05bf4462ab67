// Model structure and behaviour: the parameter table, initialisation, padding, accumulation and
// determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/fnv.h"
#include "core/model/flops.h"
#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/model_test_util.h"

namespace gpt::test {
namespace {

double stddev(const std::vector<double>& v) {
  double s = 0, s2 = 0;
  for (double x : v) {
    s += x;
    s2 += x * x;
  }
  const double n = static_cast<double>(v.size());
  return std::sqrt(s2 / n - (s / n) * (s / n));
}

TEST(ParamTable, Gpt2SmallHasTheKnownParameterCount) {
  ModelConfig c;  // defaults are GPT-2 small with the padded vocabulary
  EXPECT_EQ(ParamTable(c).parameter_count(), 124475904);
  c.vocab_size = 50257;  // Hugging Face's gpt2 checkpoint
  EXPECT_EQ(ParamTable(c).parameter_count(), 124439808);
}

TEST(ParamTable, HuggingFaceNamesShapesAndAlignment) {
  const ModelConfig c = tiny_model(Activation::swiglu, true, false);
  const ParamTable t(c);
  EXPECT_EQ(t.at("wte.weight").shape, (std::vector<std::int64_t>{23, 8}));
  EXPECT_EQ(t.at("h.1.attn.c_attn.weight").shape, (std::vector<std::int64_t>{24, 8}));
  EXPECT_EQ(t.at("h.0.mlp.c_fc.weight").shape, (std::vector<std::int64_t>{24, 8}));  // 2·hidden rows
  EXPECT_EQ(t.at("h.0.mlp.c_proj.weight").shape, (std::vector<std::int64_t>{8, 12}));
  EXPECT_TRUE(t.at("h.0.mlp.c_proj.weight").decay);
  EXPECT_FALSE(t.at("h.0.mlp.c_proj.bias").decay);
  EXPECT_FALSE(t.at("ln_f.weight").decay);
  ASSERT_NE(t.find("lm_head.weight"), nullptr);
  EXPECT_EQ(ParamTable(tiny_model(Activation::gelu, false, true)).find("h.0.ln_1.bias"), nullptr);
  for (const ParamInfo& p : t.entries()) EXPECT_EQ(p.offset % ParamTable::kAlign, 0) << p.name;
}

// RoPE drops wpe; RMSNorm has no bias even where the linear layers keep theirs.
TEST(ParamTable, RopeHasNoPositionTableAndRmsNormNoBias) {
  ModelConfig c = tiny_model(Activation::relu2, true, true);
  c.positions = Positions::rope;
  c.norm = NormKind::rmsnorm;
  const ParamTable t(c);
  EXPECT_EQ(t.find("wpe.weight"), nullptr);
  EXPECT_EQ(t.find("h.0.ln_1.bias"), nullptr);
  EXPECT_EQ(t.find("ln_f.bias"), nullptr);
  ASSERT_NE(t.find("h.0.attn.c_attn.bias"), nullptr);
  EXPECT_EQ(t.at("h.0.mlp.c_fc.weight").shape, (std::vector<std::int64_t>{32, 8}));  // 4·n_embd, no gate
  const ParamTable gpt2(tiny_model(Activation::gelu, true, true));
  EXPECT_EQ(gpt2.parameter_count() - t.parameter_count(), 8 * 8 + 5 * 8);  // wpe, 5 norm biases
}

TEST(Init, ZeroInitProjectionsStartEveryBlockAtTheIdentity) {
  ModelConfig c = tiny_model(Activation::gelu, true, true);
  c.zero_init_projections = true;
  CpuBackend<double> be(cpu_threads());
  GPT model(c, be);
  model.init_weights(1);
  for (const char* name : {"h.0.attn.c_proj.weight", "h.1.mlp.c_proj.weight"})
    for (double x : host_values<double>(model.param(name))) ASSERT_EQ(x, 0.0) << name;
  EXPECT_NEAR(stddev(host_values<double>(model.param("h.1.mlp.c_fc.weight"))), 0.02, 0.005);
}

TEST(Init, Gpt2StatisticsAndZeroPadding) {
  ModelConfig c = tiny_model(Activation::gelu, true, false);
  c.n_embd = 64;
  c.n_head = 4;
  c.n_layer = 3;
  CpuBackend<double> be(cpu_threads());
  GPT model(c, be);
  model.init_weights(1);
  const std::vector<double> wte = host_values<double>(model.param("wte.weight"));
  const std::vector<double> live(wte.begin(), wte.begin() + c.real_vocab_size * 64);
  EXPECT_NEAR(stddev(live), 0.02, 0.002);
  for (std::size_t i = live.size(); i < wte.size(); ++i) ASSERT_EQ(wte[i], 0.0) << "padding row element " << i;
  EXPECT_NEAR(stddev(host_values<double>(model.param("h.0.attn.c_proj.weight"))), 0.02 / std::sqrt(6.0), 0.0015);
  for (double x : host_values<double>(model.param("h.2.ln_2.weight"))) ASSERT_EQ(x, 1.0);
  for (double x : host_values<double>(model.param("h.2.mlp.c_fc.bias"))) ASSERT_EQ(x, 0.0);
}

TEST(Init, ReproducibleFromTheSeedAlone) {
  const ModelConfig c = tiny_model(Activation::gelu, true, true);
  CpuBackend<float> be(cpu_threads());
  GPT a(c, be), b(c, be), other(c, be);
  a.init_weights(5);
  b.init_weights(5);
  other.init_weights(6);
  EXPECT_EQ(std::memcmp(a.params().ptr, b.params().ptr, a.params().bytes()), 0);
  EXPECT_NE(std::memcmp(a.params().ptr, other.params().ptr, a.params().bytes()), 0);
}

TEST(Forward, InitialLossIsNearUniform) {
  ModelConfig c = tiny_model(Activation::gelu, true, true);
  CpuBackend<double> be(cpu_threads());
  GPT model(c, be);
  model.init_weights(3);
  const HostBatch batch = random_batch(3, 8, c.real_vocab_size, 4);
  EXPECT_NEAR(model.forward(batch.view(), {}), std::log(static_cast<double>(c.real_vocab_size)), 0.05);
}

TEST(Forward, PaddedLogitsNeverGetProbability) {
  const ModelConfig c = tiny_model(Activation::gelu, true, false);
  CpuBackend<double> be(cpu_threads());
  GPT model(c, be);
  model.init_weights(3);
  const HostBatch batch = random_batch(2, 6, c.real_vocab_size, 4);
  const double before = model.forward(batch.view(), {});
  // Large padding rows in the untied head give large padded logits; the loss must not move.
  Tensor head = model.param("lm_head.weight");
  double* h = head.data<double>();
  for (std::int64_t i = c.real_vocab_size * c.n_embd; i < head.numel(); ++i) h[i] = 50.0;
  EXPECT_EQ(model.forward(batch.view(), {}), before);
  model.zero_grads();
  model.forward(batch.view(), {.loss_scale = 1.0 / 12});
  model.backward();
  const std::vector<double> g = host_values<double>(model.grad("lm_head.weight"));
  for (std::size_t i = static_cast<std::size_t>(c.real_vocab_size * c.n_embd); i < g.size(); ++i)
    ASSERT_EQ(g[i], 0.0) << "padding gradient element " << i;
}

TEST(Backward, MicroBatchesAccumulateToTheFullBatchGradient) {
  const ModelConfig c = tiny_model(Activation::swiglu, true, true);
  CpuBackend<double> be(cpu_threads());
  GPT model(c, be);
  model.init_weights(11);
  const HostBatch full = random_batch(4, 6, c.real_vocab_size, 12);
  model.zero_grads();
  model.forward(full.view(), {.loss_scale = 1.0 / 24});
  model.backward();
  const std::vector<double> reference = host_values<double>(model.grads());

  model.zero_grads();
  for (int half = 0; half < 2; ++half) {
    const Batch b{full.inputs.data() + half * 12, full.targets.data() + half * 12, 2, 6};
    model.forward(b, {.loss_scale = 1.0 / 24});
    model.backward();
  }
  const std::vector<double> accumulated = host_values<double>(model.grads());
  for (std::size_t i = 0; i < reference.size(); ++i) ASSERT_NEAR(accumulated[i], reference[i], 1e-12) << i;
}

TEST(Backward, Fp32StepIsBitwiseDeterministic) {
  ModelConfig c = tiny_model(Activation::gelu, true, true);
  c.dropout = 0.1;
  CpuBackend<float> be(cpu_threads());
  const HostBatch batch = random_batch(2, 8, c.real_vocab_size, 12);
  std::vector<std::vector<char>> grads;
  for (int run = 0; run < 2; ++run) {
    GPT model(c, be);
    model.init_weights(1);
    model.forward(batch.view(), {.training = true, .dropout_key = 77, .loss_scale = 1.0 / 16});
    model.backward();
    const char* p = static_cast<const char*>(model.grads().ptr);
    grads.emplace_back(p, p + model.grads().bytes());
  }
  EXPECT_EQ(grads[0], grads[1]);
}

// Pinned: parameter names key the initialisation streams (a changed hash changes every run's
// initial weights), and ranks compare parameter checksums.
TEST(Fnv1a, PinnedValues) {
  EXPECT_EQ(fnv1a::bytes("wte.weight"), 0x82f53633c3765487ull);
  EXPECT_EQ(fnv1a::bytes(""), fnv1a::kOffsetBasis);
  const std::uint64_t words[] = {1, 2, ~std::uint64_t{0}};
  EXPECT_EQ(fnv1a::words(words), 0x5f6c00b0ca5b70c9ull);
}

TEST(Flops, Gpt2SmallPerTokenCount) {
  const ModelConfig c;  // 6·(85M layer weights + 38.6M head) + attention, ≈ 0.75 GFLOP per token at T=1024
  const double f = training_flops_per_token(c, 1024);
  EXPECT_NEAR(f, 6.0 * (84934656.0 + 38633472.0) + 6.0 * 2 * 12 * 1024 * 768, 1.0);
}

}  // namespace
}  // namespace gpt::test

namespace gpt::test {
namespace {

TEST(Recompute, MlpRecomputationGivesBitwiseTheSameGradientsWithLessMemory) {
  for (Activation act : {Activation::gelu, Activation::swiglu}) {
    ModelConfig c = tiny_model(act, true, true);
    c.n_layer = 3;
    CpuBackend<float> be(cpu_threads());
    const HostBatch batch = random_batch(2, 8, c.real_vocab_size, 21);
    std::vector<std::vector<char>> grads;
    std::vector<std::size_t> bytes;
    for (bool recompute : {false, true}) {
      GPT model(c, be, {.recompute_mlp = recompute});
      model.init_weights(4);
      model.forward(batch.view(), {.loss_scale = 1.0 / 16});
      model.backward();
      const char* p = static_cast<const char*>(model.grads().ptr);
      grads.emplace_back(p, p + model.grads().bytes());
      bytes.push_back(model.activation_bytes(2, 8));
    }
    EXPECT_EQ(grads[0], grads[1]);
    EXPECT_LT(bytes[1], bytes[0]);
  }
}

}  // namespace
}  // namespace gpt::test
