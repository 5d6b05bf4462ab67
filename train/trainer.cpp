#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "core/rng.h"
#include "train/metrics.h"
#include "train/schedule.h"

namespace gpt {
namespace {

constexpr std::uint64_t kDropoutStream = 0x64726f70;  // "drop"
constexpr std::uint64_t kValidationSeed = 0x76616c;   // fixed: every run scores the same windows

std::optional<TokenFile> open_optional(const std::filesystem::path& path, std::int64_t vocab) {
  if (path.empty()) return std::nullopt;
  return std::optional<TokenFile>(std::in_place, path, vocab);
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

Trainer::Trainer(const RunConfig& config, Backend& backend, Communicator& comm)
    : config_(config),
      comm_(&comm),
      train_file_(config.data.train, config.model.real_vocab_size),
      val_file_(open_optional(config.data.val, config.model.real_vocab_size)),
      train_sampler_(train_file_, config.data.sampling, config.train.seq_len, config.train.seed),
      model_(config.model, backend, {.recompute_mlp = config.train.recompute_mlp}),
      optimizer_(model_, config.optim) {
  if (val_file_) val_sampler_.emplace(*val_file_, Sampling::epoch, config.train.seq_len, kValidationSeed);
  const std::size_t n = static_cast<std::size_t>(config.train.micro_batch * config.train.seq_len);
  inputs_.resize(n);
  targets_.resize(n);
  model_.init_weights(config.train.seed);
}

StepResult Trainer::train_step(std::int64_t step) {
  const TrainConfig& t = config_.train;
  const std::int64_t world = comm_->world_size(), rank = comm_->rank();
  const std::int64_t accum = t.accumulation_steps(world);
  const std::int64_t sequences_per_step = t.batch_tokens / t.seq_len;
  const std::uint64_t dropout_root = rng::derive(t.seed, kDropoutStream);

  model_.zero_grads();
  double loss_sum = 0;
  for (std::int64_t micro = 0; micro < accum; ++micro) {
    // Rank r's share of micro-batch m: global sequences interleave ranks within each micro-batch.
    const std::int64_t first = step * sequences_per_step + (micro * world + rank) * t.micro_batch;
    train_sampler_.fill(first, t.micro_batch, inputs_.data(), targets_.data());
    ForwardOptions options;
    options.training = true;
    options.dropout_key = rng::derive(dropout_root, static_cast<std::uint64_t>(first));
    options.loss_scale = 1.0 / static_cast<double>(t.micro_batch * t.seq_len * accum * world);
    loss_sum += model_.forward({inputs_.data(), targets_.data(), t.micro_batch, t.seq_len}, options);
    model_.backward();
  }
  comm_->all_reduce_mean(model_.grads());
  const double loss = comm_->all_reduce_sum(loss_sum / static_cast<double>(accum)) / static_cast<double>(world);
  if (!std::isfinite(loss))
    throw std::runtime_error("training loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                             "; lower optim.lr or check the data");
  StepResult result{.loss = loss, .lr = learning_rate(config_.optim, t.max_steps, step)};
  result.grad_norm = optimizer_.step(result.lr, t.grad_clip);
  return result;
}

double Trainer::evaluate() {
  if (!val_sampler_) throw std::logic_error("evaluate() without data.val");
  const TrainConfig& t = config_.train;
  double total = 0;
  for (std::int64_t b = 0; b < config_.eval.batches; ++b) {
    val_sampler_->fill(b * t.micro_batch, t.micro_batch, inputs_.data(), targets_.data());
    total += model_.forward({inputs_.data(), targets_.data(), t.micro_batch, t.seq_len}, ForwardOptions{});
  }
  return total / static_cast<double>(config_.eval.batches);
}

TrainSummary Trainer::run(std::ostream& console) {
  const bool leader = comm_->rank() == 0;
  const TrainConfig& t = config_.train;
  std::optional<MetricsLog> log;
  if (leader) {
    std::filesystem::create_directories(config_.run.dir);
    write_text_file(config_.run.dir / "config.toml", config_.resolved_toml);
    log.emplace(console, config_.run.dir / "metrics.jsonl", t.max_steps);
    console << "model: " << model_.table().parameter_count() << " parameters, backend " << model_.backend().name()
            << ", " << t.accumulation_steps(comm_->world_size()) << " micro-batch(es) of " << t.micro_batch << "x"
            << t.seq_len << " per step\n";
    const double mib = 1.0 / (1 << 20);
    console << std::fixed << std::setprecision(1)
            << "memory: " << static_cast<double>(model_.parameter_buffer_bytes()) * mib
            << " MiB parameters and gradients, " << 2.0 * static_cast<double>(model_.params().bytes()) * mib
            << " MiB AdamW moments, " << static_cast<double>(model_.activation_bytes(t.micro_batch, t.seq_len)) * mib
            << " MiB activations\n"
            << std::defaultfloat;
  }

  TrainSummary summary;
  const bool validating = val_sampler_.has_value();
  if (validating) {
    summary.first_val_loss = summary.last_val_loss = evaluate();
    if (log) log->write({.step = 0, .val_loss = summary.last_val_loss});
  }
  for (std::int64_t step = 0; step < t.max_steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const StepResult result = train_step(step);
    summary.last_loss = result.loss;
    model_.backend().synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    summary.steps = step + 1;

    const std::int64_t done = step + 1;
    const bool last = done == t.max_steps;
    const bool eval_now = validating && (last || (config_.eval.interval > 0 && done % config_.eval.interval == 0));
    const bool log_now = last || done % config_.log.interval == 0;
    StepRecord record{.step = done};
    if (log_now) {
      record.loss = result.loss;
      record.lr = result.lr;
      record.grad_norm = result.grad_norm;
      record.ms = ms;
      record.tokens_per_s = static_cast<double>(t.batch_tokens) / (ms / 1000.0);
    }
    if (eval_now) record.val_loss = summary.last_val_loss = evaluate();
    if (log && (log_now || eval_now)) log->write(record);
  }
  return summary;
}

}  // namespace gpt
