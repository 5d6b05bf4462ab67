#pragma once
// The training loop: batches from the sampler, forward/backward per micro-batch, gradient
// averaging across ranks, one AdamW step, logging and validation.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include "core/model/gpt.h"
#include "data/sampler.h"
#include "data/token_file.h"
#include "dist/communicator.h"
#include "train/grad_sync.h"
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
  std::int64_t steps = 0;
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

  // Creates run.dir, writes the resolved config and metrics.jsonl, and trains to max_steps.
  // after_step, if given, runs on every rank after each step with the 1-based step number.
  TrainSummary run(std::ostream& console, const std::function<void(std::int64_t)>& after_step = {});

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
  const GradientSync& gradient_sync() const { return sync_; }

 private:
  RunConfig config_;
  Communicator* comm_;
  TokenFile train_file_;
  std::optional<TokenFile> val_file_;
  BatchSampler train_sampler_;
  std::optional<BatchSampler> val_sampler_;
  GPT model_;
  GradientSync sync_;
  AdamW optimizer_;
  std::vector<std::int32_t> inputs_, targets_;
  bool joined_ = false;

  void join_ranks();
};

}  // namespace gpt
