#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "core/files/atomic_file.h"
#include "core/model/flops.h"
#include "core/rng.h"
#include "dist/consistency.h"
#include "train/memory_check.h"
#include "train/observe/metrics.h"
#include "train/observe/peak_flops.h"
#include "train/observe/run_summary.h"
#include "train/schedule.h"

namespace gpt {
namespace {

constexpr std::uint64_t kDropoutStream = 0x64726f70;  // "drop"
constexpr std::uint64_t kValidationSeed = 0x76616c;   // fixed: every run scores the same windows

std::optional<TokenFile> open_optional(const std::filesystem::path& path, std::int64_t vocab) {
  if (path.empty()) return std::nullopt;
  return std::optional<TokenFile>(std::in_place, path, vocab);
}

std::int64_t bucket_elements(const RunConfig& c, const Backend& backend) {
  return static_cast<std::int64_t>(c.dist.bucket_mb * (1 << 20) /
                                   static_cast<double>(dtype_size(backend.param_dtype())));
}

// The comparison all ranks must pass before they can exchange anything, and the refusal of a
// run that cannot fit, before anything (the parameter table included) is allocated.
const RunConfig& checked(const RunConfig& config, const Communicator& comm, const Backend& backend) {
  check_world_size(config, comm.world_size());
  // CPU ranks on one host share its memory; each GPU rank has a device of its own.
  check_training_memory(config, backend, comm.world_size(), backend.available_memory(),
                        backend.host_memory() ? comm.local_size() : 1);
  return config;
}

// Appended as the run goes (samples.txt): a torn last entry is all a crash can cost.
void append_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Every rank measures (a CPU rank's matmul rate depends on what its neighbours run), and MFU
// uses the mean.
PeakFlops measured_peak_flops(Backend& backend, Communicator& comm, double peak_tflops) {
  PeakFlops peak = peak_flops(backend, peak_tflops);
  if (backend.host_memory() && peak_tflops == 0 && comm.world_size() > 1)
    peak.per_rank = comm.all_reduce_sum(peak.per_rank) / comm.world_size();
  return peak;
}

}  // namespace

Trainer::Trainer(const RunConfig& config, Backend& backend, Communicator& comm)
    : config_(checked(config, comm, backend)),
      comm_(&comm),
      train_file_(config.data.train, config.model.real_vocab_size),
      val_file_(open_optional(config.data.val, config.model.real_vocab_size)),
      train_sampler_(train_file_, config.data.sampling, config.train.seq_len, config.train.seed),
      model_(config.model, backend,
             {.recompute_mlp = config.train.recompute_mlp, .flat_multiple = BucketPlan::unit(comm.world_size())}),
      sharding_(comm, model_, bucket_elements(config, backend), config.dist.zero_stage),
      optimizer_(model_, config.optim, sharding_.owned_ranges()),
      checkpoints_(config.run.dir) {
  if (val_file_) val_sampler_.emplace(*val_file_, Sampling::epoch, config.train.seq_len, kValidationSeed);
  const std::size_t n = static_cast<std::size_t>(config.train.micro_batch * config.train.seq_len);
  inputs_.resize(n);
  targets_.resize(n);
  model_.init_weights(config.train.seed);
  if (config.checkpoint.interval > 0 && !checkpoints_supported())
    throw ConfigError("checkpoint.interval = " + std::to_string(config.checkpoint.interval) +
                      ": this build has no HDF5, so it cannot write checkpoints (install libhdf5-dev and rebuild)");
}

void Trainer::join_ranks() {
  if (joined_) return;
  joined_ = true;
  if (comm_->world_size() == 1) return;
  // Every rank computes the same init; broadcasting rank 0's makes that a fact, not a hope.
  comm_->broadcast(model_.params(), 0);
  comm_->wait();
  model_.refresh_weights();
  check_same_parameters(*comm_, model_, "at start");
}

std::int64_t Trainer::first_sequence(std::int64_t step, std::int64_t micro) const {
  const TrainConfig& t = config_.train;
  const std::int64_t sequences_per_step = t.batch_tokens / t.seq_len;
  return step * sequences_per_step + (micro * comm_->world_size() + comm_->rank()) * t.micro_batch;
}

StepResult Trainer::train_step(std::int64_t step) {
  join_ranks();
  const TrainConfig& t = config_.train;
  const std::int64_t world = comm_->world_size();
  const std::int64_t accum = t.accumulation_steps(world);
  const std::uint64_t dropout_root = rng::derive(t.seed, kDropoutStream);

  model_.zero_grads();
  double loss_sum = 0;
  for (std::int64_t micro = 0; micro < accum; ++micro) {
    const std::int64_t first = first_sequence(step, micro);
    train_sampler_.fill(first, t.micro_batch, inputs_.data(), targets_.data());
    ForwardOptions options;
    options.training = true;
    options.dropout_key = rng::derive(dropout_root, static_cast<std::uint64_t>(first));
    options.loss_scale = 1.0 / static_cast<double>(t.micro_batch * t.seq_len * accum * world);
    loss_sum += model_.forward({inputs_.data(), targets_.data(), t.micro_batch, t.seq_len}, options);
    // Gradients travel once per step: during the last micro-batch's backward.
    const bool last = micro + 1 == accum;
    model_.backward(last ? sharding_.gradient_listener() : GradReadyFn());
  }
  double comm_ms = sharding_.finish_gradients();
  const double loss = comm_->all_reduce_sum(loss_sum / static_cast<double>(accum)) / static_cast<double>(world);
  if (!std::isfinite(loss))
    throw std::runtime_error("training loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                             "; lower optim.lr or check the data");
  StepResult result{.loss = loss, .lr = learning_rate(config_.optim, t.max_steps, step)};
  // The optimizer sees only the ranges this rank owns; the sharding makes the norm global and
  // spreads the update to every rank.
  result.grad_norm = std::sqrt(sharding_.global_sum_squares(optimizer_.grad_sum_squares()));
  optimizer_.update(result.lr, clip_scale(result.grad_norm, t.grad_clip));
  comm_ms += sharding_.gather_parameters(model_);
  model_.refresh_weights();
  result.comm_ms = comm_ms;
  return result;
}

double Trainer::evaluate() {
  if (!val_sampler_) throw std::logic_error("evaluate() without data.val");
  join_ranks();
  const TrainConfig& t = config_.train;
  double total = 0;
  // The same windows whatever the world size; ranks take turns.
  for (std::int64_t b = comm_->rank(); b < config_.eval.batches; b += comm_->world_size()) {
    val_sampler_->fill(b * t.micro_batch, t.micro_batch, inputs_.data(), targets_.data());
    total += model_.forward({inputs_.data(), targets_.data(), t.micro_batch, t.seq_len}, ForwardOptions{});
  }
  return comm_->all_reduce_sum(total) / static_cast<double>(config_.eval.batches);
}

// What run() carries from step to step: the figures for MFU and the ETA, rank 0's log, and the
// summary it returns.
struct Trainer::Stretch {
  const Hooks& hooks;
  PeakFlops peak;
  double flops_per_token = 0;
  std::optional<MetricsLog> log;  // rank 0's
  TrainSummary summary;
  std::int64_t checkpointed_step = -1;
  // The ETA: the steps left at the pace since this stretch's first step (which warms up),
  // checkpoints, evaluations and samples included.
  std::chrono::steady_clock::time_point pace_start;

  void say(const std::string& text) {
    if (log) log->say(text);
  }
};

TrainSummary Trainer::run(std::ostream& console, const Hooks& hooks) {
  if (nothing_to_train(console)) return {.steps = start_step_};
  Stretch stretch{.hooks = hooks, .peak = measured_peak_flops(model_.backend(), *comm_, config_.train.peak_tflops)};
  stretch.flops_per_token = training_flops_per_token(config_.model, config_.train.seq_len);
  stretch.summary.steps = start_step_;
  if (comm_->rank() == 0) open_log(console, stretch);
  if (val_sampler_ && start_step_ == 0) evaluate_before_training(stretch);
  train_steps(stretch);
  check_ranks_agree_at_end(stretch);
  return stretch.summary;
}

bool Trainer::nothing_to_train(std::ostream& console) const {
  const TrainConfig& t = config_.train;
  if (start_step_ == 0 || start_step_ < t.max_steps) return false;
  if (comm_->rank() == 0)
    console << "nothing to train: " << last_checkpoint_ << " is at step " << start_step_
            << " and train.max_steps = " << t.max_steps << " (raise train.max_steps to train further)\n";
  return true;
}

void Trainer::open_log(std::ostream& console, Stretch& stretch) {
  const bool resumed = start_step_ > 0;
  // Before any step: a folder that cannot hold checkpoints is found now, not at the first save.
  if (checkpoints_supported()) check_checkpoint_folder(config_.run.dir);
  std::filesystem::create_directories(config_.run.dir);
  write_file_atomically(config_.run.dir / "config.toml", config_.resolved_toml);
  const MetricsOutputs outputs{
      .tensorboard_dir = config_.log.tensorboard ? config_.run.dir / "tb" : std::filesystem::path(),
      .terminal = stretch.hooks.console_is_terminal};
  stretch.log.emplace(console, config_.run.dir / "metrics.jsonl", config_.train.max_steps,
                      resumed ? std::optional<std::int64_t>(start_step_) : std::nullopt, outputs);
  console << run_summary(config_, model_, optimizer_.state_bytes(), sharding_.sharded(), *comm_, stretch.peak);
  if (resumed) console << "resumed at step " << start_step_ << " (" << resumed_from_ << ")\n";
  // The config this stretch of the run trains with, at the first step it trains (indented: a
  // Markdown code block).
  std::string markdown;
  for (std::size_t i = 0; i < config_.resolved_toml.size();) {
    const std::size_t eol = config_.resolved_toml.find('\n', i);
    markdown += "    " + config_.resolved_toml.substr(i, eol - i) + "\n";
    i = eol == std::string::npos ? config_.resolved_toml.size() : eol + 1;
  }
  stretch.log->text(start_step_ + 1, "config", markdown);
}

void Trainer::evaluate_before_training(Stretch& stretch) {
  stretch.summary.first_val_loss = stretch.summary.last_val_loss = evaluate();
  if (stretch.log) stretch.log->write({.step = 0, .val_loss = stretch.summary.last_val_loss});
}

void Trainer::train_steps(Stretch& stretch) {
  for (std::int64_t step = start_step_; step < config_.train.max_steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const StepResult result = train_step(step);
    stretch.summary.last_loss = result.loss;
    model_.backend().synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::int64_t done = step + 1;
    stretch.summary.steps = done;
    log_step(done, result, ms, stretch);
    write_sample_when_due(done, stretch);
    if (stretch.hooks.after_step) stretch.hooks.after_step(done);
    if (checkpoint_or_stop(done, stretch)) break;
  }
}

void Trainer::log_step(std::int64_t done, const StepResult& result, double ms, Stretch& stretch) {
  const TrainConfig& t = config_.train;
  const auto now = std::chrono::steady_clock::now();
  if (done == start_step_ + 1) stretch.pace_start = now;
  const double eta_s = static_cast<double>(t.max_steps - done) *
                       (done > start_step_ + 1 ? std::chrono::duration<double>(now - stretch.pace_start).count() /
                                                     static_cast<double>(done - start_step_ - 1)
                                               : ms / 1000.0);
  const double tokens_per_s = static_cast<double>(t.batch_tokens) / (ms / 1000.0);

  const bool last = done == t.max_steps;
  const bool eval_now =
      val_sampler_.has_value() && (last || (config_.eval.interval > 0 && done % config_.eval.interval == 0));
  const bool log_now = last || done % config_.log.interval == 0;
  StepRecord record{.step = done, .tokens = done * t.batch_tokens, .eta_s = eta_s};
  if (log_now) {
    record.loss = result.loss;
    record.lr = result.lr;
    record.grad_norm = result.grad_norm;
    record.ms = ms;
    record.tokens_per_s = tokens_per_s;
    record.mfu =
        model_flops_utilisation(stretch.flops_per_token, tokens_per_s, stretch.peak.per_rank * comm_->world_size());
    if (comm_->world_size() > 1) record.comm_ms = result.comm_ms;
  }
  TrainSummary& summary = stretch.summary;
  if (eval_now) {
    record.val_loss = summary.last_val_loss = evaluate();
    if (!summary.first_val_loss) summary.first_val_loss = summary.last_val_loss;
  }
  if (stretch.log && (log_now || eval_now)) {
    stretch.log->write(record);
  } else if (stretch.log) {
    stretch.log->progress(done, ms, tokens_per_s, eta_s);
  }
}

void Trainer::write_sample_when_due(std::int64_t done, Stretch& stretch) {
  const bool last = done == config_.train.max_steps;
  const bool sample_now = config_.log.sample_interval > 0 && (last || done % config_.log.sample_interval == 0);
  if (comm_->rank() != 0 || !stretch.hooks.sample || !sample_now) return;
  const std::string text = stretch.hooks.sample(model_, done);
  stretch.say("sample at step " + std::to_string(done) + ":\n" + text);
  append_text_file(config_.run.dir / "samples.txt", "--- step " + std::to_string(done) + " ---\n" + text + "\n");
}

bool Trainer::checkpoint_or_stop(std::int64_t done, Stretch& stretch) {
  const Hooks& hooks = stretch.hooks;
  const bool last = done == config_.train.max_steps;
  // A stop request on any rank stops every rank after the same step.
  bool stop = hooks.stop_requested && hooks.stop_requested();
  if (comm_->world_size() > 1 && hooks.stop_requested) stop = comm_->all_reduce_sum(stop ? 1.0 : 0.0) > 0;
  const bool periodic = config_.checkpoint.interval > 0 && done % config_.checkpoint.interval == 0;
  if (checkpoints_supported() && (periodic || last || stop)) {
    const std::string report = save_checkpoint(done);  // compares the ranks' parameters
    stretch.checkpointed_step = done;
    stretch.say(report);
  }
  if (!stop || last) return false;
  stretch.summary.stopped = true;
  stretch.say("stopped after step " + std::to_string(done) + " on request" +
              (checkpoints_supported() ? "; checkpoint written" : "; no checkpoint: this build has no HDF5"));
  return true;
}

void Trainer::check_ranks_agree_at_end(const Stretch& stretch) {
  if (comm_->world_size() > 1 && stretch.checkpointed_step != stretch.summary.steps)
    check_same_parameters(*comm_, model_, "after step " + std::to_string(stretch.summary.steps));
}

}  // namespace gpt
