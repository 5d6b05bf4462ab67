#include "core/generate/generator.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "core/model/kv_cache.h"
#include "core/rng.h"

namespace gpt {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

void GenerationOptions::validate(const ModelConfig& model) const {
  if (max_new_tokens < 1)
    throw ConfigError("--max-new-tokens must be at least 1, not " + std::to_string(max_new_tokens));
  if (slide < 0 || slide >= model.block_size)
    throw ConfigError("--slide must be in [0, " + std::to_string(model.block_size) +
                      ") (the model's block_size), not " + std::to_string(slide));
}

// The sequences being generated: the tokens of each so far and the model's KV cache of them. The
// batch always runs `rows` sequences; a beam search with fewer live beams repeats its first one.
class Generator::Batch {
 public:
  Batch(GPT& model, std::int64_t rows, std::int64_t capacity, std::int64_t keep, GenerationStats& stats)
      : model_(model), rows_(rows), keep_(keep), stats_(stats), prompt_cache_(model, 1, capacity) {}

  // Runs the prompt (its last `capacity` tokens) for one sequence: the next-token logits of the
  // real vocabulary.
  std::vector<float> start(std::span<const std::int32_t> prompt) {
    const auto begin = Clock::now();
    const std::int64_t fed = std::min<std::int64_t>(static_cast<std::int64_t>(prompt.size()), prompt_cache_.capacity());
    history_.assign(1, std::vector<std::int32_t>(prompt.begin(), prompt.end()));
    const Tensor logits = model_.forward_cached(prompt.data() + prompt.size() - fed, fed, prompt_cache_);
    live_ = &prompt_cache_;
    std::vector<float> row;
    read_rows(logits, 1, row);
    stats_.prompt_tokens = fed;
    stats_.prefill_seconds = seconds_since(begin);
    return row;
  }

  // New sequence i continues old sequence parents[i] with tokens[i] (i < parents.size() ≤ rows);
  // `logits` gets their next-token logits, parents.size() rows of the real vocabulary.
  void advance(std::span<const std::int32_t> parents, std::span<const std::int32_t> tokens,
               std::vector<float>& logits) {
    const std::size_t live = parents.size();
    if (live < 1 || live > static_cast<std::size_t>(rows_) || tokens.size() != live)
      throw std::logic_error("Generator: advance with " + std::to_string(live) + " sequences for a batch of " +
                             std::to_string(rows_));
    std::vector<std::int32_t> from(static_cast<std::size_t>(rows_)), next(static_cast<std::size_t>(rows_));
    for (std::size_t i = 0; i < from.size(); ++i) {
      from[i] = parents[i < live ? i : 0];
      next[i] = tokens[i < live ? i : 0];
      if (from[i] < 0 || static_cast<std::size_t>(from[i]) >= history_.size())
        throw std::logic_error("Generator: parent " + std::to_string(from[i]) + " is not a sequence");
    }
    std::vector<std::vector<std::int32_t>> history(from.size());
    for (std::size_t i = 0; i < from.size(); ++i) {
      history[i] = history_[static_cast<std::size_t>(from[i])];
      history[i].push_back(next[i]);
    }
    history_ = std::move(history);

    Tensor out;
    if (live_->length() < live_->capacity()) {
      KVCache& target = follow(from);
      out = model_.forward_cached(next.data(), 1, target);
    } else {
      // The window is full: the newest keep_ tokens of each sequence (the new one among them) run
      // through the model afresh.
      KVCache& target = rows_cache(current_);
      std::vector<std::int32_t> window;
      for (const auto& h : history_) window.insert(window.end(), h.end() - keep_, h.end());
      target.clear();
      out = model_.forward_cached(window.data(), keep_, target);
      live_ = &target;
      ++stats_.window_slides;
    }
    read_rows(out, live, logits);
    ++stats_.steps;
  }

 private:
  KVCache& rows_cache(std::optional<KVCache>& slot) {
    if (!slot) slot.emplace(model_, rows_, prompt_cache_.capacity());
    return *slot;
  }

  // The cache whose row i holds what the live cache's row from[i] held: the live one itself when
  // nothing moves (sampling), else a copy (beams that branch, or the prompt's one row spread).
  KVCache& follow(const std::vector<std::int32_t>& from) {
    bool identity = live_->batch() == rows_;
    for (std::size_t i = 0; identity && i < from.size(); ++i) identity = from[i] == static_cast<std::int32_t>(i);
    if (identity) return *live_;
    KVCache& target = current_ && live_ == &*current_ ? rows_cache(spare_) : rows_cache(current_);
    target.assign_rows(*live_, from);
    live_ = &target;
    return target;
  }

  // The first `rows` rows of logits (B, vocab_size) as host floats, real vocabulary only: padding
  // ids never reach the token choice.
  void read_rows(const Tensor& logits, std::size_t rows, std::vector<float>& out) {
    const std::int64_t V = model_.config().vocab_size, real = model_.config().real_vocab_size;
    host_.resize(static_cast<std::size_t>(logits.numel()));
    model_.backend().download(logits, host_.data());
    out.resize(rows * static_cast<std::size_t>(real));
    for (std::size_t r = 0; r < rows; ++r)
      std::copy_n(host_.begin() + static_cast<std::ptrdiff_t>(r) * V, real,
                  out.begin() + static_cast<std::ptrdiff_t>(r) * real);
  }

  GPT& model_;
  std::int64_t rows_, keep_;
  GenerationStats& stats_;
  KVCache prompt_cache_;                    // the prompt's one row
  std::optional<KVCache> current_, spare_;  // `rows` rows; spare_ only for beams that branch
  KVCache* live_ = nullptr;                 // the cache of the sequences in history_
  std::vector<std::vector<std::int32_t>> history_;
  std::vector<float> host_;
};

Generator::Generator(GPT& model, const GenerationOptions& options) : model_(model), options_(options) {
  options_.validate(model.config());
  if (options_.slide == 0) options_.slide = std::max<std::int64_t>(1, model.config().block_size / 4);
}

namespace {

void check_prompt(std::span<const std::int32_t> prompt) {
  if (prompt.empty()) throw ConfigError("the prompt is empty: generation needs at least one token to start from");
}

}  // namespace

std::vector<std::vector<std::int32_t>> Generator::sample(std::span<const std::int32_t> prompt,
                                                         const SamplingOptions& sampling, std::uint64_t seed,
                                                         std::int64_t num_samples, const TokenFn& on_token) {
  check_prompt(prompt);
  if (num_samples < 1) throw ConfigError("--num-samples must be at least 1, not " + std::to_string(num_samples));
  TokenSampler sampler(sampling);
  stats_ = {};
  const std::int64_t block = model_.config().block_size, real = model_.config().real_vocab_size;
  const std::int64_t capacity =
      std::min<std::int64_t>(block, static_cast<std::int64_t>(prompt.size()) + options_.max_new_tokens);
  Batch batch(model_, num_samples, capacity, capacity - std::min(options_.slide, capacity) + 1, stats_);
  const std::vector<float> first = batch.start(prompt);

  const auto rows = static_cast<std::size_t>(num_samples);
  std::vector<float> logits;
  for (std::size_t i = 0; i < rows; ++i) logits.insert(logits.end(), first.begin(), first.end());
  std::vector<std::vector<std::int32_t>> out(rows);
  std::vector<bool> ended(rows, false);
  // Every sequence continues the prompt's one row first, then itself.
  std::vector<std::int32_t> parents(rows, 0), chosen(rows);
  const auto begin = Clock::now();
  for (std::int64_t step = 0; step < options_.max_new_tokens; ++step) {
    std::size_t running = 0;
    for (std::size_t i = 0; i < rows; ++i) {
      if (ended[i]) {
        chosen[i] = options_.end_token;  // fed, never read
        continue;
      }
      const std::span<const float> row(logits.data() + i * static_cast<std::size_t>(real),
                                       static_cast<std::size_t>(real));
      chosen[i] = sampler.choose(row, rng::derive(seed, i), static_cast<std::uint64_t>(step));
      if (chosen[i] == options_.end_token) {
        ended[i] = true;
        continue;
      }
      out[i].push_back(chosen[i]);
      if (on_token) on_token(static_cast<std::int64_t>(i), chosen[i]);
      ++running;
    }
    if (running == 0 || step + 1 == options_.max_new_tokens) break;
    batch.advance(parents, chosen, logits);
    for (std::size_t i = 0; i < rows; ++i) parents[i] = static_cast<std::int32_t>(i);
  }
  stats_.decode_seconds = seconds_since(begin);  // the token choice included
  for (const auto& o : out)
    stats_.generated_tokens = std::max(stats_.generated_tokens, static_cast<std::int64_t>(o.size()));
  return out;
}

std::vector<Hypothesis> Generator::beam_search(std::span<const std::int32_t> prompt, const BeamOptions& beam) {
  check_prompt(prompt);
  BeamOptions options = beam;
  options.max_new_tokens = options_.max_new_tokens;
  options.end_token = options_.end_token;
  options.validate();
  stats_ = {};
  const std::int64_t block = model_.config().block_size;
  const std::int64_t capacity =
      std::min<std::int64_t>(block, static_cast<std::int64_t>(prompt.size()) + options_.max_new_tokens);
  Batch batch(model_, options.width, capacity, capacity - std::min(options_.slide, capacity) + 1, stats_);
  const std::vector<float> first = batch.start(prompt);
  const auto begin = Clock::now();
  std::vector<Hypothesis> best =
      gpt::beam_search(first, model_.config().real_vocab_size, options,
                       [&](std::span<const std::int32_t> parents, std::span<const std::int32_t> tokens,
                           std::vector<float>& logits) { batch.advance(parents, tokens, logits); });
  stats_.decode_seconds = seconds_since(begin);
  for (const Hypothesis& h : best)
    stats_.generated_tokens = std::max(stats_.generated_tokens, static_cast<std::int64_t>(h.tokens.size()));
  return best;
}

}  // namespace gpt
