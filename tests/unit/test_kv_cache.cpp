// The KV-cached inference path against the training forward: at every position, the logits of a
// prefill followed by one token per step equal those of a full forward over the same tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/model/kv_cache.h"
#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/model_test_util.h"

namespace gpt::test {
namespace {

// Logits of a full (training-path) forward over rows of tokens, as doubles (B, T, V).
template <class F>
std::vector<double> full_logits(GPT& model, const std::vector<std::int32_t>& tokens, std::int64_t B, std::int64_t T) {
  model.forward({tokens.data(), nullptr, B, T}, {});
  return host_values<F>(model.logits());
}

// Largest |a - b| over the rows' logits, relative to the largest |b|.
double relative_max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

struct Variant {
  const char* name;
  ModelConfig config;
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

class KVCacheEquality : public ::testing::TestWithParam<Variant> {};

// Row b of (B, T, V) logits at position t, and of (B, V) logits.
std::vector<double> row_at(const std::vector<double>& logits, std::int64_t T, std::int64_t V, std::int64_t b,
                           std::int64_t t) {
  const auto start = logits.begin() + (b * T + t) * V;
  return {start, start + V};
}

template <class F>
void expect_cached_equals_full(const Variant& v, double tolerance) {
  ModelConfig config = v.config;
  config.block_size = 12;
  CpuBackend<F> be(cpu_threads());
  GPT model(config, be);
  model.init_weights(7);
  const std::int64_t B = 2, T = config.block_size, V = config.vocab_size, prompt = 5;
  const HostBatch batch = random_batch(B, T, config.real_vocab_size, 11);
  const std::vector<double> want = full_logits<F>(model, batch.inputs, B, T);

  KVCache cache(model, B, T);
  // The prefill: the first `prompt` tokens of both rows at once, every position's logits.
  std::vector<std::int32_t> head;
  for (std::int64_t b = 0; b < B; ++b)
    head.insert(head.end(), batch.inputs.begin() + b * T, batch.inputs.begin() + b * T + prompt);
  const std::vector<double> prefill = host_values<F>(model.forward_cached(head.data(), prompt, cache, true));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < prompt; ++t)
      EXPECT_LT(relative_max_diff(row_at(prefill, prompt, V, b, t), row_at(want, T, V, b, t)), tolerance)
          << "prefill row " << b << " position " << t;
  // Then one token per step: the logits of each row's newest token.
  for (std::int64_t t = prompt; t < T; ++t) {
    const std::int32_t step[] = {batch.inputs[static_cast<std::size_t>(t)],
                                 batch.inputs[static_cast<std::size_t>(T + t)]};
    const std::vector<double> got = host_values<F>(model.forward_cached(step, 1, cache));
    for (std::int64_t b = 0; b < B; ++b)
      EXPECT_LT(relative_max_diff(row_at(got, 1, V, b, 0), row_at(want, T, V, b, t)), tolerance)
          << "row " << b << " position " << t;
  }
  EXPECT_EQ(cache.length(), T);
}

TEST_P(KVCacheEquality, Fp64PrefillAndStepsEqualFullForward) {
  expect_cached_equals_full<double>(GetParam(), 1e-12);
}
TEST_P(KVCacheEquality, Fp32PrefillAndStepsEqualFullForward) {
  expect_cached_equals_full<float>(GetParam(), 2e-6);
}

INSTANTIATE_TEST_SUITE_P(Variants, KVCacheEquality,
                         ::testing::Values(Variant{"gelu_bias_tied", tiny_model(Activation::gelu, true, true)},
                                           Variant{"swiglu_nobias_untied",
                                                   tiny_model(Activation::swiglu, false, false)},
                                           // RoPE at the cache's positions, QK-norm before the cache.
                                           Variant{"modern_nobias_untied", tiny_modern_model(false, false)},
                                           Variant{"modern_bias_tied", tiny_modern_model(true, true)}),
                         [](const auto& info) { return std::string(info.param.name); });

// The last-position logits of a multi-token call are those of its last row (the LM head runs on
// gathered rows), and assign_rows makes one row's cache every row's.
TEST(KVCache, LastPositionLogitsAndAssignedRowsFollowTheirSource) {
  const ModelConfig config = tiny_model(Activation::gelu, true, true);
  CpuBackend<double> be(cpu_threads());
  GPT model(config, be);
  model.init_weights(3);
  const std::int64_t V = config.vocab_size, T = 6;
  const HostBatch batch = random_batch(1, T, config.real_vocab_size, 5);

  KVCache all(model, 1, config.block_size), last(model, 1, config.block_size);
  const std::vector<double> every = host_values<double>(model.forward_cached(batch.inputs.data(), T, all, true));
  const std::vector<double> final_row = host_values<double>(model.forward_cached(batch.inputs.data(), T, last));
  EXPECT_EQ(final_row, row_at(every, T, V, 0, T - 1));

  // Three rows copied from the one-row cache continue exactly as it does.
  KVCache three(model, 3, config.block_size);
  const std::int32_t from_row0[] = {0, 0, 0};
  three.assign_rows(last, from_row0);
  EXPECT_EQ(three.length(), T);
  const std::int32_t next[] = {4, 4, 4};
  const std::vector<double> three_rows = host_values<double>(model.forward_cached(next, 1, three));
  const std::vector<double> one_row = host_values<double>(model.forward_cached(next, 1, last));
  for (std::int64_t r = 0; r < 3; ++r) EXPECT_EQ(row_at(three_rows, 1, V, r, 0), one_row) << "row " << r;
}

TEST(KVCache, RefusesWhatDoesNotFit) {
  const ModelConfig config = tiny_model(Activation::gelu, true, true);
  CpuBackend<float> be(cpu_threads());
  GPT model(config, be);
  model.init_weights(3);
  EXPECT_THROW(KVCache(model, 1, config.block_size + 1), std::invalid_argument);
  EXPECT_THROW(KVCache(model, 0, 4), std::invalid_argument);
  KVCache cache(model, 1, 4);
  const std::vector<std::int32_t> five(5, 1);
  EXPECT_THROW(model.forward_cached(five.data(), 5, cache), std::invalid_argument);  // longer than the cache
  const std::int32_t outside[] = {static_cast<std::int32_t>(config.vocab_size)};
  EXPECT_THROW(model.forward_cached(outside, 1, cache), std::invalid_argument);  // not a token id
  EXPECT_EQ(cache.length(), 0);
  const std::int32_t negative[] = {-1, 2};
  EXPECT_THROW(model.forward({negative, nullptr, 1, 2}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace gpt::test
