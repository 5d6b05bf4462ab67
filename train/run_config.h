#pragma once
// A whole run, as one TOML file describes it (sections and keys: README.md, "Config reference").
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/model_config.h"
#include "data/sampler.h"

namespace gpt {

enum class Schedule { cosine, linear, constant };

struct DataConfig {
  std::filesystem::path train;  // resolved against the config file's folder when relative
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
  std::int64_t seq_len = 0;       // 0: block_size
  std::int64_t micro_batch = 4;   // sequences per forward/backward
  std::int64_t batch_tokens = 0;  // global tokens per optimizer step; 0: micro_batch·seq_len
  std::int64_t max_steps = 100;
  double grad_clip = 1.0;  // global-norm clip; 0 disables
  std::uint64_t seed = 1337;
  std::string backend = "auto";    // auto | cpu | cuda
  std::string precision = "fp32";  // fp32 | bf16
  std::int64_t threads = 0;        // CPU threads per rank; 0: OMP_NUM_THREADS, else the CPUs available
  bool recompute_mlp = false;      // recompute the MLP activation in the backward instead of storing it
  double peak_tflops = 0;          // one rank's device peak for MFU; 0: a datasheet table (GPUs), measured (CPU)

  std::int64_t accumulation_steps(std::int64_t world_size = 1) const {
    return batch_tokens / (micro_batch * seq_len * world_size);
  }
};

struct OptimConfig {
  double lr = 6e-4;
  double min_lr = 6e-5;
  std::int64_t warmup_steps = 0;
  Schedule schedule = Schedule::cosine;
  std::int64_t decay_steps = 0;  // step at which lr reaches min_lr, warmup included (as optax); 0: max_steps
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
};

struct EvalConfig {
  std::int64_t interval = 0;  // steps between validation passes; 0: only at the end
  std::int64_t batches = 10;  // micro-batches per validation pass
};

struct CheckpointConfig {
  std::int64_t interval = 0;     // steps between checkpoints; 0: only at the end (and when stopped by a signal)
  std::int64_t keep_last = 3;    // newest checkpoints kept; 0 keeps all
  std::string resume = "never";  // "never", or "auto": continue from the newest valid checkpoint in run.dir
  // Who reads the checkpoint a run resumes from: "always" rank 0, which sends parameters and
  // optimizer state to the others (node-local disks); "never" every rank reads it (a shared
  // file system); "auto" every rank when all of them see the same file, else rank 0.
  std::string broadcast_resume = "auto";
};

struct DistConfig {
  std::int64_t zero_stage = 0;  // 0: plain data parallelism; 1: optimizer state sharded over ranks (ZeRO-1)
  double bucket_mb = 25;        // gradients travel in buckets of about this many MiB
  double timeout_s = 300;       // a collective pending longer than this ends the job (a lost rank or node)
};

struct RunDirConfig {
  std::filesystem::path dir = "runs/default";  // relative to the working directory
};

struct LogConfig {
  std::int64_t interval = 1;
  // Every sample_interval steps (0: never) rank 0 continues sample_prompt by sample_tokens tokens,
  // with the same seed (train.seed) each time so that samples show what training changed.
  std::int64_t sample_interval = 0;
  std::string sample_prompt = "Once upon a time";
  std::int64_t sample_tokens = 64;
  double sample_temperature = 0.8;  // 0: greedy
  std::int64_t sample_top_k = 200;  // 0: all tokens
  bool tensorboard = true;          // TensorBoard event files in <run.dir>/tb/
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

// Throws ConfigError unless train.batch_tokens splits into whole micro-batches on every one of
// world_size ranks (the accumulation steps per rank).
void check_world_size(const RunConfig& config, int world_size);

// The same from TOML text; relative data paths resolve against `base_dir`.
RunConfig parse_run_config(const std::string& toml_text, const std::string& source_name,
                           const std::filesystem::path& base_dir, const std::vector<std::string>& overrides);

}  // namespace gpt
