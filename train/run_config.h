#pragma once
// A whole run, as one TOML file describes it. What each key means, its default and its range:
// configs/README.md, generated from the key table in run_config.cpp (config_reference() below).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/model_config.h"
#include "data/sampler.h"

namespace gpt {

enum class Schedule { cosine, linear, constant, wsd };

struct DataConfig {
  std::filesystem::path train;  // after loading: resolved against the config file's folder
  std::filesystem::path val;    // empty: no validation
  Sampling sampling = Sampling::random;
};

// Upper bound of train.threads. Fixed rather than derived from this machine's CPUs, so that a
// config checked on a login node is valid on the compute nodes (and on resume) too. It is above
// the CPUs of any current node (2 sockets x 192 cores x 2 SMT = 768), and far below the thousands
// of threads at which the OpenMP runtime hangs or crashes; threads beyond the CPUs only slow the
// barrier-heavy CPU ops down.
inline constexpr std::int64_t kMaxThreadsPerRank = 1024;

struct TrainConfig {
  std::int64_t seq_len = 0;  // after loading never 0 (0 in the file: model.block_size)
  std::int64_t micro_batch = 4;
  std::int64_t batch_tokens = 0;  // global, all ranks; after loading never 0 (0: micro_batch·seq_len)
  std::int64_t max_steps = 100;
  double grad_clip = 1.0;  // 0 disables
  std::uint64_t seed = 1337;
  std::string backend = "auto";    // "auto", "cpu" or "cuda", for make_backend()
  std::string precision = "fp32";  // "fp32" or "bf16"
  std::int64_t threads = 0;        // 0 stays 0: the CPU backend's count is chosen at startup (cpu::choose_threads)
  bool recompute_mlp = false;
  double peak_tflops = 0;  // 0: the MFU's peak comes from a datasheet table (GPUs) or a measurement (CPU)

  std::int64_t accumulation_steps(std::int64_t world_size = 1) const {
    return batch_tokens / (micro_batch * seq_len * world_size);
  }
};

struct OptimConfig {
  double lr = 6e-4;
  double min_lr = 6e-5;
  std::int64_t warmup_steps = 0;
  Schedule schedule = Schedule::cosine;
  std::int64_t decay_steps = 0;  // stays 0 after loading; the schedule reads 0 as train.max_steps
  double decay_fraction = 0.2;   // wsd: the last fraction of [warmup_steps, decay_steps) decays linearly
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
};

struct EvalConfig {
  std::int64_t interval = 0;  // 0: no periodic passes
  std::int64_t batches = 10;
};

struct CheckpointConfig {
  std::int64_t interval = 0;              // 0: no periodic checkpoints
  std::int64_t keep_last = 3;             // 0 keeps all
  std::string resume = "never";           // "never" or "auto"
  std::string broadcast_resume = "auto";  // "auto", "always" or "never"
};

struct DistConfig {
  std::int64_t zero_stage = 0;  // 0 or 1 (ZeRO-1)
  double bucket_mb = 25;        // MiB
  double timeout_s = 300;
};

struct RunDirConfig {
  std::filesystem::path dir = "runs/default";  // kept as written: relative paths are to the working directory
};

struct LogConfig {
  std::int64_t interval = 1;
  std::int64_t sample_interval = 0;  // 0: no samples
  std::string sample_prompt = "Once upon a time";
  std::int64_t sample_tokens = 64;
  double sample_temperature = 0.8;  // 0: greedy
  std::int64_t sample_top_k = 200;  // 0: all tokens
  bool tensorboard = true;
};

struct RunConfig {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  OptimConfig optim;
  EvalConfig eval;
  CheckpointConfig checkpoint;
  DistConfig dist;
  RunDirConfig run;
  LogConfig log;

  std::string resolved_toml;  // every key with its final value, as written to <run.dir>/config.toml
};

// Reads `path` and applies `overrides` ("--section.key=value" or "section.key=value"). Throws
// ConfigError naming the key and its line (or "command line") for unknown keys, wrong types and
// out-of-range values, and when the file cannot be read or parsed.
RunConfig load_run_config(const std::filesystem::path& path, const std::vector<std::string>& overrides);

// Keys (as "section.key") whose values differ between two configs.
std::vector<std::string> changed_keys(const RunConfig& a, const RunConfig& b);

// Whether a resumed run may change `key` ("section.key") from its checkpoint's config: the keys
// that do not alter what the remaining steps compute or that a user changes on purpose
// (train.max_steps, hardware, intervals, dist.*, run.dir). False for every other key and for
// names that are no key.
bool may_change_on_resume(std::string_view key);

// One key as the config reference documents it; every field comes from the key table.
struct ConfigKeyDoc {
  std::string name;           // "section.key"
  std::string type;           // "integer", "float", "boolean", "string" or "path"
  std::string default_value;  // as TOML, or (default_is_derived) how it follows from other keys
  bool default_is_derived = false;
  std::string allowed;  // range or allowed values, as the loader checks them
  bool may_change_on_resume = false;
  std::string description;
};

// Every key the loader accepts, in the order of the resolved TOML (grouped by section).
std::vector<ConfigKeyDoc> config_key_docs();

// The config reference as Markdown: per section a table of key, type, default, allowed values,
// whether a resume may change it, and description (configs/README.md holds a copy, checked by a
// test). The same text on every call and every machine.
std::string config_reference();

// Throws ConfigError unless train.batch_tokens splits into whole micro-batches on every one of
// world_size ranks (the accumulation steps per rank).
void check_world_size(const RunConfig& config, int world_size);

// The same from TOML text; relative data paths resolve against `base_dir`.
RunConfig parse_run_config(const std::string& toml_text, const std::string& source_name,
                           const std::filesystem::path& base_dir, const std::vector<std::string>& overrides);

}  // namespace gpt
