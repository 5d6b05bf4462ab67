// The memory estimate made from a config alone agrees with what the model really allocates, and
// a run that cannot fit is refused before anything is allocated, naming the keys to change.
#include "tests/support/cpu_threads.h"
#include "train/memory_check.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model/gpt.h"
#include "core/model/kv_cache.h"
#include "core/ops/cpu/cpu_backend.h"
#include "train/run_config.h"

namespace gpt::test {
namespace {

RunConfig run_config(const std::vector<std::string>& overrides) {
  // Sizes that are multiples of 128 elements: the table pads every tensor to that, the estimate
  // does not, so here the two must agree exactly.
  std::vector<std::string> all = {"--model.vocab_size=512", "--model.block_size=64", "--model.n_layer=2",
                                  "--model.n_head=4",       "--model.n_embd=128",    "--train.seq_len=64",
                                  "--train.micro_batch=4"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return parse_run_config("[data]\ntrain = \"unused.bin\"\n", "test", ".", all);
}

class MemoryEstimateMatchesTheModel : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(MemoryEstimateMatchesTheModel, ParametersAndActivations) {
  const RunConfig config = run_config(GetParam());
  CpuBackend<float> cpu(cpu_threads());
  const MemoryEstimate e = estimate_training_memory(config, cpu, 1);
  GPT model(config.model, cpu, {.recompute_mlp = config.train.recompute_mlp});
  EXPECT_EQ(e.parameters, static_cast<long double>(model.flat_numel()));
  EXPECT_EQ(e.parameter_bytes, static_cast<long double>(model.parameter_buffer_bytes()));
  EXPECT_EQ(e.optimizer_bytes, static_cast<long double>(2 * model.flat_numel() * 4));
  EXPECT_EQ(e.activation_bytes,
            static_cast<long double>(model.activation_bytes(config.train.micro_batch, config.train.seq_len)));
}

INSTANTIATE_TEST_SUITE_P(Models, MemoryEstimateMatchesTheModel,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--model.activation=swiglu", "--model.bias=false",
                                                                    "--model.tie_embeddings=false"},
                                           std::vector<std::string>{"--train.recompute_mlp=true"},
                                           // No wpe, no norm biases, QK-norm's saved statistics.
                                           std::vector<std::string>{"--model.positions=rope", "--model.norm=rmsnorm",
                                                                    "--model.qk_norm=true", "--model.activation=relu2",
                                                                    "--model.logit_softcap=30"}));

TEST(MemoryCheck, RefusesWhatDoesNotFitNamingTheKeys) {
  const RunConfig config = run_config({});
  CpuBackend<float> cpu(cpu_threads());
  const auto needed = static_cast<std::size_t>(estimate_training_memory(config, cpu, 1).total());
  EXPECT_NO_THROW(check_training_memory(config, cpu, 1, needed + 1));
  try {
    check_training_memory(config, cpu, 1, needed - 1);
    FAIL() << "a run one byte too large was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    for (const char* key : {"model.n_layer", "model.n_embd", "train.micro_batch", "train.seq_len", "is available"})
      EXPECT_NE(what.find(key), std::string::npos) << key << " missing from: " << what;
  }
}

// Eight CPU ranks on one host each need their estimate from the same memory.
TEST(MemoryCheck, RanksOnOneHostShareItsMemory) {
  const RunConfig config = run_config({});
  CpuBackend<float> cpu(cpu_threads());
  const auto needed = static_cast<std::size_t>(estimate_training_memory(config, cpu, 8).total());
  EXPECT_NO_THROW(check_training_memory(config, cpu, 8, 8 * needed + 8, 8));
  EXPECT_NO_THROW(check_training_memory(config, cpu, 8, needed + 1, 1));
  try {
    check_training_memory(config, cpu, 8, 8 * needed - 8, 8);
    FAIL() << "eight ranks were given the whole host each";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("for 8 ranks"), std::string::npos) << e.what();
  }
}

// A hundred million layers would take the parameter table alone to the OOM killer: refused at
// once, before any of it exists, whatever memory the machine reports (even none).
TEST(MemoryCheck, AbsurdSizesAreRefusedAtOnce) {
  CpuBackend<float> cpu(cpu_threads());
  for (const char* key :
       {"--model.n_layer=100000000", "--model.n_embd=4000000000", "--model.vocab_size=100000000000000"}) {
    const RunConfig config = run_config({std::string(key)});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(check_training_memory(config, cpu, 1, cpu.available_memory()), ConfigError) << key;
    EXPECT_THROW(check_training_memory(config, cpu, 1, 0), ConfigError) << key;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << key;
  }
}

// Activations at sizes that fit no alignment: the estimate counts the arena's 256-byte rounding
// too, because it lays the tensors out with the model's own function.
TEST(MemoryEstimate, ActivationsAtOddSizesAreTheModelsArena) {
  for (bool recompute : {false, true}) {
    const RunConfig config =
        run_config({"--model.vocab_size=301", "--model.n_embd=72", "--model.n_head=3", "--model.n_layer=3",
                    "--train.seq_len=37", "--train.micro_batch=3", "--model.activation=swiglu",
                    std::string("--train.recompute_mlp=") + (recompute ? "true" : "false")});
    CpuBackend<float> cpu(cpu_threads());
    GPT model(config.model, cpu, {.recompute_mlp = recompute});
    EXPECT_EQ(estimate_training_memory(config, cpu, 1).activation_bytes,
              static_cast<long double>(model.activation_bytes(config.train.micro_batch, config.train.seq_len)))
        << "recompute_mlp " << recompute;
  }
}

// generate's estimate is what its KV caches really take (keys, values and the forward's scratch)
// at the window's fullest.
TEST(GenerationMemory, EstimateIsWhatTheKvCachesTakeAtTheirFullest) {
  const RunConfig config = run_config({});
  CpuBackend<float> cpu(cpu_threads());
  GPT model(config.model, cpu);
  const std::int64_t rows = 3, capacity = config.model.block_size;
  auto real_cache_bytes = [&](std::int64_t batch) {
    KVCache cache(model, batch, capacity);
    const std::vector<std::int32_t> tokens(static_cast<std::size_t>(batch * capacity), 7);
    model.forward_cached(tokens.data(), capacity, cache);
    return static_cast<long double>(cache.bytes());
  };
  const GenerationEstimate e =
      estimate_generation_memory(config.model, cpu, {.rows = rows, .prompt_tokens = 10, .max_new_tokens = 200});
  const long double real = real_cache_bytes(1) + real_cache_bytes(rows);
  EXPECT_EQ(e.parameter_bytes, static_cast<long double>(model.parameter_buffer_bytes()));
  // The estimate counts the scratch with the model's own layout (core/model/activation_layout.h).
  EXPECT_EQ(e.cache_bytes, real);
  // Beams keep a second set of rows for the beams that branch.
  const GenerationEstimate beams = estimate_generation_memory(
      config.model, cpu, {.rows = rows, .prompt_tokens = 10, .max_new_tokens = 200, .beams = true});
  EXPECT_GE(beams.cache_bytes, real + real_cache_bytes(rows));
}

// Too many sequences name the flag that sets them; a model too large for one sequence names
// where its shape comes from; with nothing known about memory only sizes beyond any machine fail.
TEST(GenerationMemory, RefusalsNameWhatToReduce) {
  const RunConfig config = run_config({});
  CpuBackend<float> cpu(cpu_threads());
  const GenerationShape shape{.rows = 1000, .prompt_tokens = 4, .max_new_tokens = 64};
  const GenerationEstimate e = estimate_generation_memory(config.model, cpu, shape);
  const auto needed = static_cast<std::size_t>(e.parameter_bytes + e.cache_bytes + e.host_bytes);
  const GenerationNames names{.rows_flag = "--num-samples", .model_source = "n_layer 2 in x/config.json"};
  EXPECT_NO_THROW(check_generation_memory(config.model, cpu, shape, needed + 1, needed + 1, names));
  EXPECT_NO_THROW(check_generation_memory(config.model, cpu, shape, 0, 0, names));
  try {
    check_generation_memory(config.model, cpu, shape, needed - 1, needed - 1, names);
    FAIL() << "a batch one byte too large was accepted";
  } catch (const ConfigError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("reduce --num-samples or --max-new-tokens"), std::string::npos) << what;
    EXPECT_EQ(what.find("x/config.json"), std::string::npos) << what;
  }
  const RunConfig huge = run_config({"--model.n_layer=1000000000"});
  for (std::size_t available : {cpu.available_memory(), std::size_t{0}}) {
    try {
      check_generation_memory(huge.model, cpu, {}, available, available, names);
      FAIL() << "a billion layers were accepted with " << available << " bytes";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find("the model itself is too large (n_layer 2 in x/config.json)"),
                std::string::npos)
          << error.what();
    }
  }
}

TEST(MemoryCheck, HostMemoryIsKnownHere) {
  CpuBackend<float> cpu(cpu_threads());
  EXPECT_GT(cpu.available_memory(), std::size_t{1} << 26);  // this machine has more than 64 MiB free
}

}  // namespace
}  // namespace gpt::test
