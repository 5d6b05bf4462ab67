// Data parallelism on CPU ranks, run under `mpirun -np 2` (or more): N ranks with micro-batch B
// train exactly what one rank does with gradient accumulation over the same global batch, for
// plain all-reduce and for ZeRO-1; the ranks' shares are disjoint; parameters agree everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/ops/cpu/cpu_backend.h"
#include "dist/consistency.h"
#include "dist/mpi_communicator.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/test_data.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace gpt {
namespace {

constexpr std::int64_t kSteps = 10;
constexpr std::int64_t kMicroBatch = 2;

RunConfig small_run(int ranks_sharing_batch, std::int64_t micro_batch, const std::vector<std::string>& extra) {
  const std::string data = (gpt::test::data_dir() / "tinystories").string() + "/";
  // Global batch: 2 micro-batches of kMicroBatch on each of `ranks_sharing_batch` ranks.
  const std::int64_t batch_tokens = 2 * kMicroBatch * 16 * ranks_sharing_batch;
  std::vector<std::string> overrides = {
      "--model.block_size=16",
      "--model.n_layer=2",
      "--model.n_head=2",
      "--model.n_embd=32",
      "--model.dropout=0.1",
      "--train.seq_len=16",
      "--train.max_steps=10",
      "--optim.lr=3e-3",
      "--optim.warmup_steps=2",
      "--train.grad_clip=0.5",  // small enough to clip: the norm must be the global one
      "--eval.batches=3",
      "--dist.bucket_mb=0.05",  // several buckets, cutting tensors
      "--train.micro_batch=" + std::to_string(micro_batch),
      "--train.batch_tokens=" + std::to_string(batch_tokens)};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  const std::string toml = "[data]\ntrain = \"" + data + "TinyStories-train-sample.bin\"\nval = \"" + data +
                           "TinyStories-valid-sample.bin\"\n";
  return parse_run_config(toml, "test.toml", ".", overrides);
}

struct Trace {
  std::vector<double> losses, norms;
  std::vector<std::vector<float>> params;  // per tensor, after the last step
  std::vector<std::string> names;
  double val_loss = 0;
};

std::vector<std::vector<float>> params_by_tensor(Trainer& trainer, Backend& backend) {
  std::vector<std::vector<float>> out;
  for (const ParamInfo& p : trainer.model().table().entries()) {
    out.emplace_back(static_cast<std::size_t>(p.numel));
    backend.download(trainer.model().param(p), out.back().data());
  }
  return out;
}

// Runs kSteps; on several ranks also checks after every step that all ranks agree.
Trace train(const RunConfig& config, Communicator& comm) {
  CpuBackend<float> backend(test::cpu_threads());
  Trainer trainer(config, backend, comm);
  Trace trace;
  for (std::int64_t s = 0; s < kSteps; ++s) {
    const StepResult r = trainer.train_step(s);
    trace.losses.push_back(r.loss);
    trace.norms.push_back(r.grad_norm);
    const std::vector<std::uint64_t> sums = comm.all_gather_u64(parameter_checksum(trainer.model()));
    EXPECT_TRUE(std::all_of(sums.begin(), sums.end(), [&](std::uint64_t x) { return x == sums[0]; }))
        << "parameters differ across ranks after step " << s + 1;
  }
  trace.val_loss = trainer.evaluate();
  trace.params = params_by_tensor(trainer, backend);
  for (const ParamInfo& p : trainer.model().table().entries()) trace.names.push_back(p.name);
  return trace;
}

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    ref += static_cast<double>(b[i]) * b[i];
  }
  return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

void expect_same_training(const Trace& ranks, const Trace& one) {
  ASSERT_EQ(ranks.losses.size(), one.losses.size());
  for (std::size_t s = 0; s < one.losses.size(); ++s) {
    EXPECT_NEAR(ranks.losses[s], one.losses[s], 1e-6 * std::abs(one.losses[s])) << "loss, step " << s + 1;
    EXPECT_NEAR(ranks.norms[s], one.norms[s], 1e-6 * one.norms[s]) << "gradient norm, step " << s + 1;
  }
  EXPECT_NEAR(ranks.val_loss, one.val_loss, 1e-6 * one.val_loss);
  ASSERT_EQ(ranks.params.size(), one.params.size());
  for (std::size_t t = 0; t < one.params.size(); ++t) {
    std::vector<float> a = ranks.params[t], b = one.params[t];
    // The key bias (middle third of c_attn.bias) has an exactly zero gradient (softmax ignores a
    // shift shared by all keys), so its gradient is rounding noise that Adam's normalisation
    // scales up to lr-sized steps: it differs with any change of summation order.
    if (one.names[t].ends_with("attn.c_attn.bias")) {
      const std::size_t third = a.size() / 3;
      std::fill(a.begin() + third, a.begin() + 2 * third, 0.0f);
      std::fill(b.begin() + third, b.begin() + 2 * third, 0.0f);
    }
    EXPECT_LE(relative_difference(a, b), 1e-6) << one.names[t];
  }
  // The run must have moved: equal-but-untrained parameters would prove nothing.
  EXPECT_LT(one.losses.back(), one.losses.front());
}

class DataParallel : public ::testing::TestWithParam<int> {};  // the ZeRO stage

TEST_P(DataParallel, RanksMatchOneRankAccumulating) {
  MpiCommunicator comm;
  ASSERT_GE(comm.world_size(), 2) << "run under mpirun -np 2 or more";
  const std::string zero = "--dist.zero_stage=" + std::to_string(GetParam());
  const Trace ranks = train(small_run(comm.world_size(), kMicroBatch, {zero}), comm);
  SingleRank alone;  // the same global batch as world_size·2 micro-batches on one rank
  const Trace one = train(small_run(comm.world_size(), kMicroBatch, {}), alone);
  expect_same_training(ranks, one);
}

INSTANTIATE_TEST_SUITE_P(ZeroStage, DataParallel, ::testing::Values(0, 1),
                         [](const auto& info) { return info.param == 0 ? std::string("AllReduce") : "Zero1"; });

TEST(DataParallel, ZeroShardsTheMomentsAndMatchesAllReduce) {
  MpiCommunicator comm;
  CpuBackend<float> backend(test::cpu_threads());
  Trainer plain(small_run(comm.world_size(), kMicroBatch, {}), backend, comm);
  Trainer zero(small_run(comm.world_size(), kMicroBatch, {"--dist.zero_stage=1"}), backend, comm);
  EXPECT_EQ(zero.optimizer().state_bytes() * static_cast<std::size_t>(comm.world_size()),
            plain.optimizer().state_bytes());
  EXPECT_GT(zero.sharding().plan().buckets().size(), 2u);
  for (std::int64_t s = 0; s < 3; ++s) EXPECT_NEAR(zero.train_step(s).loss, plain.train_step(s).loss, 1e-6);
}

TEST(DataParallel, RanksTrainOnDisjointSharesCoveringTheBatch) {
  MpiCommunicator comm;
  CpuBackend<float> backend(test::cpu_threads());
  const RunConfig config = small_run(comm.world_size(), kMicroBatch, {});
  Trainer trainer(config, backend, comm);
  const std::int64_t accum = config.train.accumulation_steps(comm.world_size());
  const std::int64_t per_step = config.train.batch_tokens / config.train.seq_len;
  for (std::int64_t step = 0; step < 3; ++step) {
    std::vector<int> owner(static_cast<std::size_t>(per_step), -1);
    for (std::int64_t micro = 0; micro < accum; ++micro) {
      // Every rank's first sequence of this micro-batch, gathered.
      const std::vector<std::uint64_t> firsts =
          comm.all_gather_u64(static_cast<std::uint64_t>(trainer.first_sequence(step, micro)));
      for (int r = 0; r < comm.world_size(); ++r)
        for (std::int64_t i = 0; i < config.train.micro_batch; ++i) {
          const std::int64_t g = static_cast<std::int64_t>(firsts[static_cast<std::size_t>(r)]) + i - step * per_step;
          ASSERT_TRUE(g >= 0 && g < per_step) << "rank " << r << " reads outside step " << step;
          EXPECT_EQ(owner[static_cast<std::size_t>(g)], -1) << "sequence " << g << " read twice";
          owner[static_cast<std::size_t>(g)] = r;
        }
    }
    EXPECT_TRUE(std::none_of(owner.begin(), owner.end(), [](int o) { return o < 0; })) << "step " << step;
  }
}

TEST(DataParallel, DivergedParametersAreCaught) {
  MpiCommunicator comm;
  CpuBackend<float> backend(test::cpu_threads());
  Trainer trainer(small_run(comm.world_size(), kMicroBatch, {}), backend, comm);
  trainer.train_step(0);
  EXPECT_NO_THROW(check_same_parameters(comm, trainer.model(), "after step 1"));
  if (comm.rank() == 1) trainer.model().params().data<float>()[5] += 1e-3f;
  EXPECT_THROW(check_same_parameters(comm, trainer.model(), "after step 1"), std::runtime_error);
}

TEST(DataParallel, BatchThatDoesNotSplitOverRanksIsAConfigError) {
  MpiCommunicator comm;
  CpuBackend<float> backend(test::cpu_threads());
  RunConfig config = small_run(1, kMicroBatch, {});  // 2 micro-batches: splits over 1 or 2 ranks only
  if (comm.world_size() == 2) config.train.batch_tokens = kMicroBatch * 16 * 3;
  EXPECT_THROW(Trainer(config, backend, comm), ConfigError);
}

}  // namespace
}  // namespace gpt
