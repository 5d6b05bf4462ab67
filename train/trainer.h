#pragma once
// The training loop: batches from the sampler, forward/backward per micro-batch, gradient
// averaging across ranks, one AdamW step, logging and validation.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "data/sampler.h"
#include "data/token_file.h"
#include "dist/communicator.h"
#include "dist/zero.h"
#include "train/checkpoint/checkpoint_file.h"
#include "train/checkpoint/checkpoint_folder.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace gpt {

struct StepResult {
  double loss = 0;       // mean training loss over the global batch
  double lr = 0;         // learning rate the update used
  double grad_norm = 0;  // global gradient norm before clipping
  double comm_ms = 0;    // time this rank spent blocked on gradient and parameter exchange
};

struct TrainSummary {
  std::int64_t steps = 0;  // the step the run ended at (counting steps before a resume)
  bool stopped = false;    // ended early by stop_requested (a checkpoint was written)
  double last_loss = 0;
  std::optional<double> first_val_loss, last_val_loss;
};

class Trainer {
 public:
  // Opens the token files (DataError on bad data) and builds and initialises the model
  // (ConfigError when the global batch does not split over the ranks). Nothing is written to
  // disk and nothing is sent: a rank that fails here cannot leave the others waiting. The first
  // step or evaluation broadcasts rank 0's parameters and checks every rank holds them.
  Trainer(const RunConfig& config, Backend& backend, Communicator& comm);

  struct Hooks {
    // Runs on every rank after each step with the 1-based step number.
    std::function<void(std::int64_t)> after_step;
    // Polled after each step (a SIGTERM arrived?); when any rank says yes, every rank finishes
    // the step, a checkpoint is written and run() returns with stopped set.
    std::function<bool()> stop_requested;
    // Rank 0 only, every log.sample_interval steps and after the last step, with the model as the
    // step left it: text the model wrote (log.sample_*), which the trainer prints and appends to
    // <run.dir>/samples.txt. The mains provide it, as they hold the tokenizer.
    std::function<std::string(GPT& model, std::int64_t step)> sample;
    // The console is a terminal: between log lines, a status line (step, ms, tok/s, ETA) is
    // redrawn in place. Elsewhere (a file, a pipe, mpirun's forwarding) only plain lines.
    bool console_is_terminal = false;
  };
  // Creates run.dir, writes the resolved config and metrics.jsonl, and trains from the current
  // step (0, or where a resume left off) to max_steps, writing checkpoints every
  // checkpoint.interval steps and at the end. Before the first step it checks that checkpoints
  // can be written (ConfigError naming the folder when not). A resumed run already at max_steps
  // says so in one line and returns. A checkpoint that cannot be written ends the run with
  // std::runtime_error naming the last good one.
  TrainSummary run(std::ostream& console, const Hooks& hooks);
  // (A default argument cannot be used here: Hooks has member initializers, and GCC does not
  // accept them in a default argument inside the class that declares them.)
  TrainSummary run(std::ostream& console) { return run(console, Hooks{}); }

  // Continues from a checkpoint: the newest valid one in run.dir (rank 0 picks it, reporting any
  // it skips on `warnings`). Every rank reads it, or rank 0 alone reads it and sends the optimizer
  // state and step to the others (checkpoint.broadcast_resume; "auto": when some rank does not
  // see the same file, e.g. on node-local disks). Returns false when there is none. Collective.
  // Throws CheckpointError for a bad file and ConfigError when the checkpoint does not fit this
  // config (a tensor's shape, or a setting that would silently change the run: the message names
  // the keys).
  bool resume(std::ostream& warnings);
  // Starts this run from a checkpoint's parameters only (fine-tuning): step 0, fresh optimizer.
  // `source` is one of our checkpoint files, or "hf:DIR", a Hugging Face GPT-2 folder
  // (train/checkpoint/hf/gpt2_folder.h). Returns lines for the log: what was initialised from where, what was
  // adapted, and the source's parameters this model has no use for (an untied lm_head.weight in a
  // tied model).
  std::string init_from(const std::string& source);
  // Writes <run.dir>/checkpoints/step_<step>.h5 (rank 0) and prunes old ones. Collective.
  // Returns, on rank 0, a line saying what was written and how fast.
  std::string save_checkpoint(std::int64_t step);
  std::int64_t start_step() const { return start_step_; }

  // One optimizer step (0-based index).
  StepResult train_step(std::int64_t step);
  // Index of the first of the micro_batch consecutive global sequences this rank trains on in
  // micro-batch `micro` of `step`: ranks interleave within each micro-batch, so the shares are
  // disjoint and together cover the step's batch_tokens / seq_len sequences.
  std::int64_t first_sequence(std::int64_t step, std::int64_t micro) const;
  // Mean validation loss over eval.batches micro-batches of fixed windows.
  double evaluate();

  GPT& model() { return model_; }
  const AdamW& optimizer() const { return optimizer_; }
  const ZeroSharding& sharding() const { return sharding_; }

 private:
  RunConfig config_;
  Communicator* comm_;
  TokenFile train_file_;
  std::optional<TokenFile> val_file_;
  BatchSampler train_sampler_;
  std::optional<BatchSampler> val_sampler_;
  GPT model_;
  ZeroSharding sharding_;
  AdamW optimizer_;
  CheckpointFolder checkpoints_;  // run.dir's: what this run wrote and verified there
  std::vector<std::int32_t> inputs_, targets_;
  bool joined_ = false;
  std::int64_t start_step_ = 0;
  std::string resumed_from_;     // what resume() read, for the log
  std::string last_checkpoint_;  // the newest checkpoint known good: resumed from or written

  void join_ranks();
  // run()'s phases, in order. What one stretch of training carries from step to step.
  struct Stretch;
  // A resumed run already at train.max_steps: says so (rank 0) and returns true.
  bool nothing_to_train(std::ostream& console) const;
  // Rank 0: run.dir, config.toml, metrics.jsonl (and tb/), and the startup lines on the console.
  void open_log(std::ostream& console, Stretch& stretch);
  // A run starting at step 0 with data.val: the loss before any step, logged as step 0.
  void evaluate_before_training(Stretch& stretch);
  // The steps from start_step_ to max_steps, or up to a stop request.
  void train_steps(Stretch& stretch);
  // The step's log line (or status line) and, when due, its evaluation.
  void log_step(std::int64_t done, const StepResult& result, double ms, Stretch& stretch);
  // Rank 0, every log.sample_interval steps and after the last: a sample printed and kept.
  void write_sample_when_due(std::int64_t done, Stretch& stretch);
  // A checkpoint when one is due or a stop was asked for; true when the run stops here.
  bool checkpoint_or_stop(std::int64_t done, Stretch& stretch);
  // Several ranks: they hold the same parameters at the end (a checkpoint just checked that).
  void check_ranks_agree_at_end(const Stretch& stretch);
  // resume()'s parts. Rank 0's choice of checkpoint, "" when there is none (collective); rank 0
  // gets the file in `opened`, read and verified once.
  std::string choose_checkpoint(std::ostream& warnings, std::optional<CheckpointFile>& opened);
  // The ranks that are to be sent the checkpoint rather than read it (collective); empty: all read.
  std::vector<int> ranks_not_seeing(const std::string& chosen);
  // Checks `file` against this run and loads parameters, moments and counters from it.
  void restore_from(const CheckpointFile& file);
  // Rank 0 restores from `chosen` (`file` when it already holds it) and sends moments and
  // counters to every other rank (collective).
  void restore_through_rank0(const std::string& chosen, std::optional<CheckpointFile>& file);
  // Rank 0's part of save_checkpoint: flat fp32 host arrays of parameters and moments to disk.
  std::string write_checkpoint(std::int64_t step, const float* params, const float* m, const float* v,
                               std::chrono::steady_clock::time_point start);
};

}  // namespace gpt
