// The training loop on the real sample: gradient accumulation covers the same global batch as one
// big micro-batch, runs are reproducible, and validation scores fixed windows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/ops/cpu/cpu_backend.h"
#include "dist/communicator.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/test_data.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace gpt {
namespace {

RunConfig small_run(const std::vector<std::string>& extra) {
  const std::string data = (gpt::test::data_dir() / "tinystories").string() + "/";
  std::vector<std::string> overrides = {"--model.vocab_size=50304", "--model.block_size=16", "--model.n_layer=2",
                                        "--model.n_head=2",         "--model.n_embd=32",     "--train.seq_len=16",
                                        "--train.max_steps=3",      "--optim.lr=1e-3",       "--eval.batches=2"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  const std::string toml = "[data]\ntrain = \"" + data + "TinyStories-train-sample.bin\"\nval = \"" + data +
                           "TinyStories-valid-sample.bin\"\n";
  return parse_run_config(toml, "test.toml", ".", overrides);
}

std::vector<double> losses_of(const RunConfig& config, std::vector<float>* final_params = nullptr) {
  CpuBackend<float> backend(test::cpu_threads());
  SingleRank comm;
  Trainer trainer(config, backend, comm);
  std::vector<double> losses;
  for (std::int64_t s = 0; s < config.train.max_steps; ++s) losses.push_back(trainer.train_step(s).loss);
  if (final_params) {
    final_params->resize(static_cast<std::size_t>(trainer.model().params().numel()));
    backend.download(trainer.model().params(), final_params->data());
  }
  return losses;
}

TEST(Trainer, AccumulationMatchesOneLargeMicroBatch) {
  const std::vector<double> accumulated =
      losses_of(small_run({"--train.micro_batch=2", "--train.batch_tokens=128"}));  // 4 micro-batches
  const std::vector<double> single = losses_of(small_run({"--train.micro_batch=8", "--train.batch_tokens=128"}));
  ASSERT_EQ(accumulated.size(), single.size());
  for (std::size_t i = 0; i < single.size(); ++i)
    EXPECT_NEAR(accumulated[i], single[i], 1e-5 * single[i]) << "step " << i;
}

TEST(Trainer, SameConfigSameRunBitForBit) {
  const RunConfig config = small_run({"--train.micro_batch=2", "--train.batch_tokens=64", "--model.dropout=0.1"});
  std::vector<float> a, b;
  EXPECT_EQ(losses_of(config, &a), losses_of(config, &b));
  EXPECT_EQ(a, b);
  const std::vector<double> other_seed = losses_of(
      small_run({"--train.micro_batch=2", "--train.batch_tokens=64", "--model.dropout=0.1", "--train.seed=2"}));
  EXPECT_NE(losses_of(config), other_seed);
}

TEST(Trainer, ValidationIsRepeatableAndCloseToUniformAtInit) {
  CpuBackend<float> backend(test::cpu_threads());
  SingleRank comm;
  const RunConfig config = small_run({"--train.micro_batch=2"});
  Trainer trainer(config, backend, comm);
  const double first = trainer.evaluate();
  EXPECT_EQ(trainer.evaluate(), first);
  EXPECT_NEAR(first, std::log(50257.0), 0.05);
}

}  // namespace
}  // namespace gpt
