// Tests for the run configuration: defaults, every key, error messages (type, key and line),
// command-line overrides, path resolution and the resolved_toml round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tests/support/temp_dir_test.h"
#include "train/run_config.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;

const fs::path kBase = "/configs/exp";

RunConfig parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_run_config(text, "config.toml", kBase, overrides);
}

// The message of the ConfigError that parsing throws; any other exception escapes and fails the test.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse(text, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)
#define EXPECT_STARTS_WITH(text, prefix) \
  EXPECT_TRUE(std::string(text).starts_with(prefix)) << "message: " << (text) << "\nexpected prefix: " << (prefix)

const std::string kMinimal = "[data]\ntrain = \"train.bin\"\n";

// Every key set to a value other than its default.
const std::string kFull = R"([model]
vocab_size = 512
real_vocab_size = 500
block_size = 128
n_layer = 3
n_head = 4
n_embd = 64
mlp_hidden = 192
dropout = 0.1
bias = false
activation = "swiglu"
tie_embeddings = false

[data]
train = "tok/train.bin"
val = "/abs/val.bin"
sampling = "epoch"

[train]
seq_len = 64
micro_batch = 2
batch_tokens = 512
max_steps = 200
grad_clip = 0.5
seed = 42
backend = "cuda"
precision = "bf16"
threads = 8

[optim]
lr = 3e-4
min_lr = 1e-5
warmup_steps = 20
schedule = "linear"
decay_steps = 150
weight_decay = 0.01
beta1 = 0.85
beta2 = 0.99
eps = 1e-6

[eval]
interval = 50
batches = 5

[checkpoint]
interval = 100
keep_last = 2

[run]
dir = "runs/full"

[log]
interval = 10
sample_interval = 25
sample_prompt = "Lily \"and\" Tom\n"
sample_tokens = 32
sample_temperature = 0.5
sample_top_k = 7
)";

void expect_full(const RunConfig& c) {
  EXPECT_EQ(c.model.vocab_size, 512);
  EXPECT_EQ(c.model.real_vocab_size, 500);
  EXPECT_EQ(c.model.block_size, 128);
  EXPECT_EQ(c.model.n_layer, 3);
  EXPECT_EQ(c.model.n_head, 4);
  EXPECT_EQ(c.model.n_embd, 64);
  EXPECT_EQ(c.model.mlp_hidden, 192);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.1);
  EXPECT_FALSE(c.model.bias);
  EXPECT_EQ(c.model.activation, Activation::swiglu);
  EXPECT_FALSE(c.model.tie_embeddings);
  EXPECT_EQ(c.data.train, fs::path("/configs/exp/tok/train.bin"));
  EXPECT_EQ(c.data.val, fs::path("/abs/val.bin"));
  EXPECT_EQ(c.data.sampling, Sampling::epoch);
  EXPECT_EQ(c.train.seq_len, 64);
  EXPECT_EQ(c.train.micro_batch, 2);
  EXPECT_EQ(c.train.batch_tokens, 512);
  EXPECT_EQ(c.train.accumulation_steps(), 4);
  EXPECT_EQ(c.train.max_steps, 200);
  EXPECT_DOUBLE_EQ(c.train.grad_clip, 0.5);
  EXPECT_EQ(c.train.seed, 42u);
  EXPECT_EQ(c.train.backend, "cuda");
  EXPECT_EQ(c.train.precision, "bf16");
  EXPECT_EQ(c.train.threads, 8);
  EXPECT_EQ(c.optim.lr, 3e-4);
  EXPECT_EQ(c.optim.min_lr, 1e-5);
  EXPECT_EQ(c.optim.warmup_steps, 20);
  EXPECT_EQ(c.optim.schedule, Schedule::linear);
  EXPECT_EQ(c.optim.decay_steps, 150);
  EXPECT_EQ(c.optim.weight_decay, 0.01);
  EXPECT_EQ(c.optim.beta1, 0.85);
  EXPECT_EQ(c.optim.beta2, 0.99);
  EXPECT_EQ(c.optim.eps, 1e-6);
  EXPECT_EQ(c.eval.interval, 50);
  EXPECT_EQ(c.eval.batches, 5);
  EXPECT_EQ(c.checkpoint.interval, 100);
  EXPECT_EQ(c.checkpoint.keep_last, 2);
  EXPECT_EQ(c.run.dir, fs::path("runs/full"));
  EXPECT_EQ(c.log.interval, 10);
  EXPECT_EQ(c.log.sample_interval, 25);
  EXPECT_EQ(c.log.sample_prompt, "Lily \"and\" Tom\n");
  EXPECT_EQ(c.log.sample_tokens, 32);
  EXPECT_EQ(c.log.sample_temperature, 0.5);
  EXPECT_EQ(c.log.sample_top_k, 7);
}

// Field-by-field equality, exact for doubles: the round trip must not lose a bit.
void expect_same(const RunConfig& a, const RunConfig& b) {
  EXPECT_EQ(a.model.vocab_size, b.model.vocab_size);
  EXPECT_EQ(a.model.real_vocab_size, b.model.real_vocab_size);
  EXPECT_EQ(a.model.block_size, b.model.block_size);
  EXPECT_EQ(a.model.n_layer, b.model.n_layer);
  EXPECT_EQ(a.model.n_head, b.model.n_head);
  EXPECT_EQ(a.model.n_embd, b.model.n_embd);
  EXPECT_EQ(a.model.mlp_hidden, b.model.mlp_hidden);
  EXPECT_EQ(a.model.dropout, b.model.dropout);
  EXPECT_EQ(a.model.bias, b.model.bias);
  EXPECT_EQ(a.model.activation, b.model.activation);
  EXPECT_EQ(a.model.tie_embeddings, b.model.tie_embeddings);
  EXPECT_EQ(a.data.train, b.data.train);
  EXPECT_EQ(a.data.val, b.data.val);
  EXPECT_EQ(a.data.sampling, b.data.sampling);
  EXPECT_EQ(a.train.seq_len, b.train.seq_len);
  EXPECT_EQ(a.train.micro_batch, b.train.micro_batch);
  EXPECT_EQ(a.train.batch_tokens, b.train.batch_tokens);
  EXPECT_EQ(a.train.max_steps, b.train.max_steps);
  EXPECT_EQ(a.train.grad_clip, b.train.grad_clip);
  EXPECT_EQ(a.train.seed, b.train.seed);
  EXPECT_EQ(a.train.backend, b.train.backend);
  EXPECT_EQ(a.train.precision, b.train.precision);
  EXPECT_EQ(a.train.threads, b.train.threads);
  EXPECT_EQ(a.optim.lr, b.optim.lr);
  EXPECT_EQ(a.optim.min_lr, b.optim.min_lr);
  EXPECT_EQ(a.optim.warmup_steps, b.optim.warmup_steps);
  EXPECT_EQ(a.optim.schedule, b.optim.schedule);
  EXPECT_EQ(a.optim.decay_steps, b.optim.decay_steps);
  EXPECT_EQ(a.optim.weight_decay, b.optim.weight_decay);
  EXPECT_EQ(a.optim.beta1, b.optim.beta1);
  EXPECT_EQ(a.optim.beta2, b.optim.beta2);
  EXPECT_EQ(a.optim.eps, b.optim.eps);
  EXPECT_EQ(a.eval.interval, b.eval.interval);
  EXPECT_EQ(a.eval.batches, b.eval.batches);
  EXPECT_EQ(a.checkpoint.interval, b.checkpoint.interval);
  EXPECT_EQ(a.checkpoint.keep_last, b.checkpoint.keep_last);
  EXPECT_EQ(a.run.dir, b.run.dir);
  EXPECT_EQ(a.log.interval, b.log.interval);
  EXPECT_EQ(a.log.sample_interval, b.log.sample_interval);
  EXPECT_EQ(a.log.sample_prompt, b.log.sample_prompt);
  EXPECT_EQ(a.log.sample_tokens, b.log.sample_tokens);
  EXPECT_EQ(a.log.sample_temperature, b.log.sample_temperature);
  EXPECT_EQ(a.log.sample_top_k, b.log.sample_top_k);
  EXPECT_EQ(a.resolved_toml, b.resolved_toml);
}

TEST(RunConfig, Defaults) {
  const RunConfig c = parse(kMinimal);
  const ModelConfig m;
  EXPECT_EQ(c.model.vocab_size, 50304);
  EXPECT_EQ(c.model.real_vocab_size, 50257);
  EXPECT_EQ(c.model.block_size, m.block_size);
  EXPECT_EQ(c.model.n_layer, 12);
  EXPECT_EQ(c.model.n_head, 12);
  EXPECT_EQ(c.model.n_embd, 768);
  EXPECT_EQ(c.model.activation, Activation::gelu);
  EXPECT_TRUE(c.model.bias);
  EXPECT_TRUE(c.model.tie_embeddings);
  EXPECT_EQ(c.data.train, fs::path("/configs/exp/train.bin"));
  EXPECT_TRUE(c.data.val.empty());
  EXPECT_EQ(c.data.sampling, Sampling::random);
  EXPECT_EQ(c.train.seq_len, 1024);           // 0 means block_size
  EXPECT_EQ(c.train.batch_tokens, 4 * 1024);  // 0 means micro_batch * seq_len
  EXPECT_EQ(c.train.accumulation_steps(), 1);
  EXPECT_EQ(c.train.max_steps, 100);
  EXPECT_EQ(c.train.seed, 1337u);
  EXPECT_EQ(c.train.backend, "auto");
  EXPECT_EQ(c.train.precision, "fp32");
  EXPECT_EQ(c.optim.lr, 6e-4);
  EXPECT_EQ(c.optim.min_lr, 6e-5);
  EXPECT_EQ(c.optim.schedule, Schedule::cosine);
  EXPECT_EQ(c.optim.beta2, 0.95);
  EXPECT_EQ(c.eval.batches, 10);
  EXPECT_EQ(c.checkpoint.keep_last, 3);
  EXPECT_EQ(c.run.dir, fs::path("runs/default"));
  EXPECT_EQ(c.log.interval, 1);
}

TEST(RunConfig, RealVocabDefaultsToSmallerOfGpt2AndVocab) {
  EXPECT_EQ(parse(kMinimal + "[model]\nvocab_size = 1000\n").model.real_vocab_size, 1000);
  EXPECT_EQ(parse(kMinimal + "[model]\nvocab_size = 60000\n").model.real_vocab_size, 50257);
  EXPECT_EQ(parse(kMinimal + "[model]\nvocab_size = 1000\nreal_vocab_size = 999\n").model.real_vocab_size, 999);
}

TEST(RunConfig, FullFileAndRoundTrip) {
  const RunConfig c = parse(kFull);
  expect_full(c);

  // resolved_toml parses back to the same config, from any base directory (data paths are absolute).
  const RunConfig again = parse_run_config(c.resolved_toml, "resolved.toml", "/elsewhere", {});
  expect_full(again);
  expect_same(c, again);

  // Defaults (and the derived seq_len, batch_tokens, real_vocab_size) survive the round trip too.
  const RunConfig d = parse(kMinimal);
  EXPECT_CONTAINS(d.resolved_toml, "seq_len = 1024");
  EXPECT_CONTAINS(d.resolved_toml, "[checkpoint]");
  expect_same(d, parse_run_config(d.resolved_toml, "resolved.toml", "/elsewhere", {}));
}

TEST(RunConfig, RoundTripKeepsOddDoublesExact) {
  const RunConfig c = parse(kMinimal + "[optim]\nlr = 0.1\nmin_lr = 0.030000000000000002\neps = 1\n");
  const RunConfig again = parse_run_config(c.resolved_toml, "r.toml", kBase, {});
  EXPECT_EQ(again.optim.min_lr, 0.030000000000000002);
  EXPECT_EQ(again.optim.eps, 1.0);
  EXPECT_CONTAINS(c.resolved_toml, "eps = 1.0\n");  // written as a float, as its type is
  expect_same(c, again);
}

TEST(RunConfig, RoundTripEscapesStrings) {
  const RunConfig c = parse(kMinimal + "[run]\ndir = \"runs/we\\\"ird\\\\name\\tx\"\n");
  EXPECT_EQ(c.run.dir, fs::path("runs/we\"ird\\name\tx"));
  expect_same(c, parse_run_config(c.resolved_toml, "r.toml", kBase, {}));
}

TEST(RunConfig, IntegersAcceptedForFloatKeys) {
  const RunConfig c = parse(kMinimal + "[train]\ngrad_clip = 2\n[optim]\nlr = 1\nmin_lr = 0\n");
  EXPECT_EQ(c.train.grad_clip, 2.0);
  EXPECT_EQ(c.optim.lr, 1.0);
  EXPECT_EQ(c.optim.min_lr, 0.0);
}

TEST(RunConfigErrors, UnknownKeyWithLineAndSuggestion) {
  const std::string msg = error_of(kMinimal + "[model]\nn_layer = 4\nn_layers = 4\n");
  EXPECT_STARTS_WITH(msg, "config.toml:5: ");
  EXPECT_CONTAINS(msg, "unknown key 'model.n_layers'");
  EXPECT_CONTAINS(msg, "did you mean 'model.n_layer'?");
}

TEST(RunConfigErrors, UnknownKeyWithoutCloseMatchHasNoSuggestion) {
  const std::string msg = error_of(kMinimal + "[model]\nflux_capacitor = 1\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "unknown key 'model.flux_capacitor'");
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
}

TEST(RunConfigErrors, KeyInWrongSectionSuggestsTheRightOne) {
  const std::string msg = error_of(kMinimal + "[model]\nlr = 1e-3\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "unknown key 'model.lr'");
  EXPECT_CONTAINS(msg, "did you mean 'optim.lr'?");
}

TEST(RunConfigErrors, UnknownSection) {
  const std::string msg = error_of(kMinimal + "\n[modle]\nn_layer = 2\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "unknown section '[modle]'");
  EXPECT_CONTAINS(msg, "did you mean 'model'?");
}

TEST(RunConfigErrors, TopLevelKey) {
  const std::string msg = error_of("seed = 3\n" + kMinimal);
  EXPECT_STARTS_WITH(msg, "config.toml:1: ");
  EXPECT_CONTAINS(msg, "unknown key 'seed'");
  EXPECT_CONTAINS(msg, "did you mean 'train.seed'?");
}

TEST(RunConfigErrors, WrongType) {
  std::string msg = error_of("[model]\nn_layer = 2\n\nn_embd = \"768\"\n" + kMinimal);
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "model.n_embd must be an integer, got string");

  msg = error_of(kMinimal + "[train]\nmax_steps = 10.0\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "train.max_steps must be an integer, got float");

  msg = error_of(kMinimal + "[optim]\nlr = \"fast\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "optim.lr must be a number, got string");

  msg = error_of(kMinimal + "[model]\nbias = 1\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "model.bias must be a boolean");

  msg = error_of("[data]\ntrain = 5\n");
  EXPECT_STARTS_WITH(msg, "config.toml:2: ");
  EXPECT_CONTAINS(msg, "data.train must be a string, got integer");

  msg = error_of("model = 3\n" + kMinimal);
  EXPECT_STARTS_WITH(msg, "config.toml:1: ");
  EXPECT_CONTAINS(msg, "'model' must be a table");
}

TEST(RunConfigErrors, OutOfRange) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"[model]\nn_layer = 0\n", "model.n_layer must be >= 1, got 0"},
      {"[model]\nn_head = -2\n", "model.n_head must be >= 1, got -2"},
      {"[model]\ndropout = 1.0\n", "model.dropout must be in [0, 1), got 1"},
      {"[model]\nmlp_hidden = -1\n", "model.mlp_hidden must be >= 0, got -1"},
      {"[train]\nmicro_batch = 0\n", "train.micro_batch must be >= 1, got 0"},
      {"[train]\nmax_steps = 0\n", "train.max_steps must be >= 1, got 0"},
      {"[train]\ngrad_clip = -1\n", "train.grad_clip must be >= 0, got -1"},
      {"[train]\nthreads = -1\n", "train.threads must be in [0, 1024], got -1"},
      {"[optim]\nlr = 0\n", "optim.lr must be > 0, got 0"},
      {"[optim]\nlr = nan\n", "optim.lr must be > 0, got nan"},
      {"[optim]\nbeta2 = 1\n", "optim.beta2 must be in [0, 1), got 1"},
      {"[optim]\neps = -1e-8\n", "optim.eps must be > 0, got -1e-08"},
      {"[optim]\nweight_decay = -0.1\n", "optim.weight_decay must be >= 0, got -0.1"},
      {"[optim]\nwarmup_steps = -5\n", "optim.warmup_steps must be >= 0, got -5"},
      {"[eval]\nbatches = 0\n", "eval.batches must be >= 1, got 0"},
      {"[log]\ninterval = 0\n", "log.interval must be >= 1, got 0"},
      {"[checkpoint]\nkeep_last = -1\n", "checkpoint.keep_last must be >= 0, got -1"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of(kMinimal + c.text);
    EXPECT_STARTS_WITH(msg, "config.toml:4: ");
    EXPECT_CONTAINS(msg, c.expected);
  }
}

// Without an upper bound 5000 threads hung and 100000 crashed inside the OpenMP runtime.
TEST(RunConfigErrors, ThreadsAboveTheCapNameKeyAndValue) {
  std::string msg = error_of(kMinimal + "[train]\nthreads = 100000\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "train.threads");
  EXPECT_CONTAINS(msg, "100000");

  msg = error_of(kMinimal, {"--train.threads=" + std::to_string(kMaxThreadsPerRank + 1)});
  EXPECT_STARTS_WITH(msg, "command line: --train.threads=");
  EXPECT_CONTAINS(msg, "train.threads must be in [0, " + std::to_string(kMaxThreadsPerRank) + "]");

  EXPECT_EQ(parse(kMinimal, {"--train.threads=" + std::to_string(kMaxThreadsPerRank)}).train.threads,
            kMaxThreadsPerRank);
}

// An empty run.dir used to surface later as a filesystem error that did not name the key.
TEST(RunConfigErrors, EmptyRunDirNamesTheKey) {
  std::string msg = error_of(kMinimal + "[run]\ndir = \"\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "run.dir");

  msg = error_of(kMinimal, {"--run.dir="});
  EXPECT_STARTS_WITH(msg, "command line: --run.dir=: ");
  EXPECT_CONTAINS(msg, "run.dir");
}

TEST(RunConfigErrors, BadEnumValue) {
  std::string msg = error_of(kMinimal + "[model]\nactivation = \"relu\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "model.activation must be one of \"gelu\", \"swiglu\", \"relu2\"; got \"relu\"");

  msg = error_of(kMinimal + "[train]\nbackend = \"tpu\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "train.backend must be one of \"auto\", \"cpu\", \"cuda\"; got \"tpu\"");

  msg = error_of(kMinimal + "[optim]\nschedule = \"step\"\n");
  EXPECT_CONTAINS(msg, "optim.schedule must be one of \"cosine\", \"linear\", \"constant\"");

  msg = error_of("[data]\ntrain = \"x.bin\"\nsampling = \"shuffle\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:3: ");
  EXPECT_CONTAINS(msg, "data.sampling must be one of \"random\", \"epoch\"");
}

TEST(RunConfigErrors, EmbdNotDivisibleByHeads) {
  const std::string msg = error_of(kMinimal + "[model]\nn_head = 3\nn_embd = 100\n");
  EXPECT_STARTS_WITH(msg, "config.toml:5: ");  // the line that set n_embd
  EXPECT_CONTAINS(msg, "model.n_embd (100) must be divisible by model.n_head (3)");
}

TEST(RunConfigErrors, RealVocabAboveVocab) {
  const std::string msg = error_of(kMinimal + "[model]\nvocab_size = 100\nreal_vocab_size = 101\n");
  EXPECT_STARTS_WITH(msg, "config.toml:5: ");
  EXPECT_CONTAINS(msg, "model.real_vocab_size (101) must be <= model.vocab_size (100)");
}

TEST(RunConfigErrors, BatchTokensNotWholeMultiple) {
  const std::string msg = error_of(kMinimal + "[train]\nseq_len = 64\nmicro_batch = 4\nbatch_tokens = 1000\n");
  EXPECT_STARTS_WITH(msg, "config.toml:6: ");
  EXPECT_CONTAINS(msg, "train.batch_tokens (1000)");
  EXPECT_CONTAINS(msg, "4 * 64 = 256");
  EXPECT_CONTAINS(msg, "whole number");
}

TEST(RunConfigErrors, SeqLenAboveBlockSize) {
  const std::string msg = error_of(kMinimal + "[model]\nblock_size = 128\n[train]\nseq_len = 256\n");
  EXPECT_STARTS_WITH(msg, "config.toml:6: ");
  EXPECT_CONTAINS(msg, "train.seq_len (256) must be <= model.block_size (128)");
}

TEST(RunConfig, WarmupMayExceedMaxStepsForShortTrials) {
  EXPECT_EQ(parse_run_config(kMinimal + "[train]\nmax_steps = 10\n[optim]\nwarmup_steps = 11\n", "config.toml", ".", {})
                .optim.warmup_steps,
            11);
}

TEST(RunConfigErrors, MinLrAboveLr) {
  const std::string msg = error_of(kMinimal + "[optim]\nlr = 1e-4\nmin_lr = 1e-3\n");
  EXPECT_STARTS_WITH(msg, "config.toml:5: ");
  EXPECT_CONTAINS(msg, "optim.min_lr (0.001) must be <= optim.lr (1e-04)");
}

// bf16 is a config for every backend; whether this CPU can run it is make_backend's question.
TEST(RunConfig, Bf16OnEveryBackend) {
  for (const char* backend : {"cpu", "cuda", "auto"})
    EXPECT_EQ(parse(kMinimal + "[train]\nbackend = \"" + backend + "\"\nprecision = \"bf16\"\n").train.precision,
              "bf16")
        << backend;
}

TEST(RunConfigErrors, MissingDataTrain) {
  std::string msg = error_of("[model]\nn_layer = 2\n");
  EXPECT_STARTS_WITH(msg, "config.toml: ");
  EXPECT_CONTAINS(msg, "data.train is required");

  msg = error_of("[data]\nval = \"v.bin\"\n\ntrain = \"\"\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
  EXPECT_CONTAINS(msg, "data.train is required");
}

TEST(RunConfigErrors, TomlSyntaxErrorWithLine) {
  const std::string msg = error_of(kMinimal + "[model]\nn_layer = = 3\n");
  EXPECT_STARTS_WITH(msg, "config.toml:4: ");
}

TEST(RunConfigErrors, DuplicateKeyIsSyntaxError) {
  const std::string msg = error_of(kMinimal + "[model]\nn_layer = 3\nn_layer = 4\n");
  EXPECT_STARTS_WITH(msg, "config.toml:5: ");
}

TEST(RunConfigOverrides, NumbersBoolsAndStrings) {
  const RunConfig c = parse(
      kMinimal, {"--optim.lr=3e-4", "--train.max_steps=50", "--model.bias=false", "--data.train=foo.bin",
                 "--train.backend=cpu", "run.dir=runs/x", "--optim.schedule=\"constant\"", "--train.grad_clip=2"});
  EXPECT_EQ(c.optim.lr, 3e-4);
  EXPECT_EQ(c.train.max_steps, 50);
  EXPECT_FALSE(c.model.bias);
  EXPECT_EQ(c.data.train, fs::path("/configs/exp/foo.bin"));
  EXPECT_EQ(c.train.backend, "cpu");
  EXPECT_EQ(c.run.dir, fs::path("runs/x"));
  EXPECT_EQ(c.optim.schedule, Schedule::constant);
  EXPECT_EQ(c.train.grad_clip, 2.0);
  // The override is part of the resolved config.
  EXPECT_CONTAINS(c.resolved_toml, "max_steps = 50");
}

TEST(RunConfigOverrides, StringKeysTakeRawTextThatLooksLikeANumber) {
  const RunConfig c = parse(kMinimal, {"--run.dir=2024", "--data.val=inf"});
  EXPECT_EQ(c.run.dir, fs::path("2024"));
  EXPECT_EQ(c.data.val, fs::path("/configs/exp/inf"));
}

TEST(RunConfigOverrides, ReplaceFileValuesBeforeValidation) {
  // The file's n_layer = 0 is out of range, but the override replaces it before it is checked.
  const RunConfig c = parse(kMinimal + "[model]\nn_layer = 0\n", {"--model.n_layer=2"});
  EXPECT_EQ(c.model.n_layer, 2);
  // The last override of a key wins.
  EXPECT_EQ(parse(kMinimal, {"--train.seed=1", "--train.seed=7"}).train.seed, 7u);
}

TEST(RunConfigOverrides, UnknownKey) {
  const std::string msg = error_of(kMinimal, {"--optim.lrr=1"});
  EXPECT_STARTS_WITH(msg, "command line: --optim.lrr=1: ");
  EXPECT_CONTAINS(msg, "unknown key 'optim.lrr'");
  EXPECT_CONTAINS(msg, "did you mean 'optim.lr'?");
}

TEST(RunConfigOverrides, BadValues) {
  std::string msg = error_of(kMinimal, {"--optim.lr=abc"});
  EXPECT_STARTS_WITH(msg, "command line: --optim.lr=abc: ");
  EXPECT_CONTAINS(msg, "optim.lr must be a number, got string");

  msg = error_of(kMinimal, {"--train.max_steps=0"});
  EXPECT_STARTS_WITH(msg, "command line: --train.max_steps=0: ");
  EXPECT_CONTAINS(msg, "train.max_steps must be >= 1, got 0");

  msg = error_of(kMinimal, {"--train.max_steps"});
  EXPECT_STARTS_WITH(msg, "command line: --train.max_steps: ");
  EXPECT_CONTAINS(msg, "--section.key=value");

  // A cross-key error caused by an override points at it.
  msg = error_of(kMinimal, {"--model.n_head=5"});
  EXPECT_STARTS_WITH(msg, "command line: --model.n_head=5: ");
  EXPECT_CONTAINS(msg, "model.n_embd (768) must be divisible by model.n_head (5)");
}

TEST(RunConfigPaths, RelativeDataPathsResolveAgainstBaseDir) {
  const RunConfig c = parse("[data]\ntrain = \"../data/./train.bin\"\nval = \"val.bin\"\n[run]\ndir = \"runs/a\"\n");
  EXPECT_EQ(c.data.train, fs::path("/configs/data/train.bin"));
  EXPECT_EQ(c.data.val, fs::path("/configs/exp/val.bin"));
  EXPECT_EQ(c.run.dir, fs::path("runs/a"));  // relative to the working directory, not the config
  EXPECT_CONTAINS(c.resolved_toml, "train = \"/configs/data/train.bin\"");

  const RunConfig abs = parse("[data]\ntrain = \"/tokens/train.bin\"\n");
  EXPECT_EQ(abs.data.train, fs::path("/tokens/train.bin"));
}

class RunConfigFile : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_ / "cfg");
  }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / "cfg" / name;
    std::ofstream(p) << text;
    return p;
  }
};

TEST_F(RunConfigFile, LoadsAndResolvesAgainstTheFilesFolder) {
  const fs::path p = write("run.toml", "[data]\ntrain = \"../tok/train.bin\"\n[train]\nmax_steps = 7\n");
  const RunConfig c = load_run_config(p, {"--train.seed=9"});
  EXPECT_EQ(c.data.train, (dir_ / "tok" / "train.bin").lexically_normal());
  EXPECT_TRUE(c.data.train.is_absolute());
  EXPECT_EQ(c.train.max_steps, 7);
  EXPECT_EQ(c.train.seed, 9u);
}

TEST_F(RunConfigFile, MissingFileNamesThePath) {
  const fs::path p = dir_ / "cfg" / "nope.toml";
  try {
    load_run_config(p, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_CONTAINS(e.what(), p.string());
  }
}

TEST_F(RunConfigFile, ErrorsNameTheFileAsGiven) {
  const fs::path p = write("bad.toml", "[data]\ntrain = \"t.bin\"\n[model]\nn_layer = [1, \n");
  try {
    load_run_config(p, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STARTS_WITH(e.what(), p.string() + ":");
  }
  const fs::path q = write("typo.toml", "[data]\ntrain = \"t.bin\"\n[optim]\nbeta = 0.9\n");
  try {
    load_run_config(q, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STARTS_WITH(e.what(), q.string() + ":4: ");
    EXPECT_CONTAINS(e.what(), "unknown key 'optim.beta'");
  }
}

// The config table marks the keys a resumed run may change; every other key is refused naming it.
TEST(RunConfig, KeysThatMayChangeOnResume) {
  std::set<std::string> expected = {"train.max_steps",
                                    "optim.decay_steps",
                                    "optim.decay_fraction",
                                    "train.micro_batch",
                                    "train.threads",
                                    "train.backend",
                                    "train.precision",
                                    "train.recompute_mlp",
                                    "data.train",
                                    "data.val",
                                    "eval.interval",
                                    "eval.batches",
                                    "checkpoint.interval",
                                    "checkpoint.keep_last",
                                    "checkpoint.resume",
                                    "dist.zero_stage",
                                    "dist.bucket_mb",
                                    "dist.timeout_s",
                                    "run.dir",
                                    "log.interval",
                                    "log.sample_interval",
                                    "log.sample_prompt",
                                    "log.sample_tokens",
                                    "log.sample_temperature",
                                    "log.sample_top_k",
                                    "log.tensorboard",
                                    "train.peak_tflops",
                                    "checkpoint.broadcast_resume"};
  // Every key, as the resolved TOML lists them.
  std::istringstream lines(parse(kMinimal).resolved_toml);
  std::string line, section;
  int keys = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with('[')) {
      section = line.substr(1, line.size() - 2);
    } else if (!line.empty() && !line.starts_with('#')) {
      const std::string name = section + "." + line.substr(0, line.find(" = "));
      ++keys;
      EXPECT_EQ(may_change_on_resume(name), expected.erase(name) == 1) << name;
    }
  }
  EXPECT_GT(keys, 40);
  EXPECT_TRUE(expected.empty()) << "not keys: " << *expected.begin();
  EXPECT_FALSE(may_change_on_resume("no.such_key"));
}

TEST(ModelConfigValidate, ChecksShapes) {
  ModelConfig m;
  EXPECT_NO_THROW(m.validate());
  m.n_head = 5;
  EXPECT_THROW(m.validate(), ConfigError);
  m = ModelConfig{};
  m.real_vocab_size = m.vocab_size + 1;
  EXPECT_THROW(m.validate(), ConfigError);
  m = ModelConfig{};
  m.n_layer = 0;
  EXPECT_THROW(m.validate(), ConfigError);
  m = ModelConfig{};
  m.dropout = 1.0;
  EXPECT_THROW(m.validate(), ConfigError);
}

// The keys come with the error, so the parser need not read them out of the message; the first
// is the one it blames when set.
TEST(ModelConfigValidate, ErrorsListTheirKeys) {
  auto keys_of = [](const ModelConfig& m) {
    try {
      m.validate();
    } catch (const ConfigKeyError& e) {
      return e.keys();
    }
    ADD_FAILURE() << "expected a ConfigKeyError";
    return std::vector<std::string>{};
  };
  ModelConfig m;
  m.n_head = 5;
  EXPECT_EQ(keys_of(m), (std::vector<std::string>{"model.n_embd", "model.n_head"}));
  m = ModelConfig{};
  m.real_vocab_size = m.vocab_size + 1;
  EXPECT_EQ(keys_of(m), (std::vector<std::string>{"model.real_vocab_size", "model.vocab_size"}));
  m = ModelConfig{};
  m.n_layer = 0;
  EXPECT_EQ(keys_of(m), std::vector<std::string>{"model.n_layer"});
  m = ModelConfig{};
  m.mlp_hidden = -1;
  EXPECT_EQ(keys_of(m), std::vector<std::string>{"model.mlp_hidden"});
  m = ModelConfig{};
  m.dropout = 1.0;
  EXPECT_EQ(keys_of(m), std::vector<std::string>{"model.dropout"});
}

}  // namespace
}  // namespace gpt
