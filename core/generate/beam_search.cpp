#include "core/generate/beam_search.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/errors.h"
#include "core/number_text.h"

namespace gpt {
namespace {

struct Beam {
  std::vector<std::int32_t> tokens;
  double log_prob = 0;
};

struct Candidate {
  double log_prob;  // cumulative: the beam's and the token's
  std::size_t beam;
  std::int32_t token;
};

bool ranks_before(const Candidate& a, const Candidate& b) {
  if (a.log_prob != b.log_prob) return a.log_prob > b.log_prob;
  if (a.beam != b.beam) return a.beam < b.beam;
  return a.token < b.token;
}

bool better(const Hypothesis& a, const Hypothesis& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.tokens < b.tokens;
}

double normalised(double log_prob, std::size_t length, double length_penalty) {
  return log_prob / std::pow(static_cast<double>(length), length_penalty);
}

// The W best hypotheses seen, best first.
class Pool {
 public:
  explicit Pool(std::size_t width) : width_(width) {}

  void add(Hypothesis hypothesis) {
    if (full() && !better(hypothesis, kept_.back())) return;
    kept_.insert(std::upper_bound(kept_.begin(), kept_.end(), hypothesis, better), std::move(hypothesis));
    if (kept_.size() > width_) kept_.pop_back();
  }
  bool full() const { return kept_.size() >= width_; }
  const Hypothesis& worst() const { return kept_.back(); }
  std::vector<Hypothesis> take() { return std::move(kept_); }

 private:
  std::size_t width_;
  std::vector<Hypothesis> kept_;
};

// log-softmax of one row, in double; -inf stays -inf.
void log_softmax(std::span<const float> row, std::size_t row_index, std::vector<double>& out) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (std::isnan(row[i]) || row[i] == std::numeric_limits<float>::infinity()) {
      throw std::runtime_error("beam_search: the logit of token " + std::to_string(i) + " in row " +
                               std::to_string(row_index) + " is " + shortest_text(row[i]) +
                               ": the model's output is broken");
    }
    max_logit = std::max(max_logit, row[i]);
  }
  if (max_logit == -std::numeric_limits<float>::infinity()) {
    throw std::runtime_error("beam_search: every logit in row " + std::to_string(row_index) +
                             " is -inf: the model's output is broken");
  }
  double sum = 0;
  for (const float logit : row) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double log_sum = std::log(sum);
  out.resize(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) out[i] = static_cast<double>(row[i]) - max_logit - log_sum;
}

// The top `count` candidates over all live beams, in rank order. Each row contributes at most
// `count` of them, so each row's own top `count` (same key: cumulative log_prob, then token) is
// all the global ranking needs to see; a row's are kept in a heap whose top is the worst, which
// almost every token of a large vocabulary fails to beat.
class CandidateRanker {
 public:
  std::vector<Candidate> top(const std::vector<Beam>& live, std::span<const float> logits, std::size_t vocab,
                             std::size_t count) {
    std::vector<Candidate> ranked;
    for (std::size_t b = 0; b < live.size(); ++b) {
      log_softmax(logits.subspan(b * vocab, vocab), b, log_probs_);
      row_best_.clear();
      for (std::size_t token = 0; token < vocab; ++token) {
        if (log_probs_[token] == -std::numeric_limits<double>::infinity()) continue;  // probability 0
        const Candidate candidate{live[b].log_prob + log_probs_[token], b, static_cast<std::int32_t>(token)};
        if (row_best_.size() < count) {
          row_best_.push_back(candidate);
          std::push_heap(row_best_.begin(), row_best_.end(), ranks_before);
        } else if (ranks_before(candidate, row_best_.front())) {
          std::pop_heap(row_best_.begin(), row_best_.end(), ranks_before);
          row_best_.back() = candidate;
          std::push_heap(row_best_.begin(), row_best_.end(), ranks_before);
        }
      }
      ranked.insert(ranked.end(), row_best_.begin(), row_best_.end());
    }
    const std::size_t keep = std::min(count, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(), ranks_before);
    ranked.resize(keep);
    return ranked;
  }

 private:
  std::vector<double> log_probs_;
  std::vector<Candidate> row_best_;  // a heap, the worst on top
};

std::vector<std::int32_t> extended(const std::vector<std::int32_t>& tokens, std::int32_t token) {
  std::vector<std::int32_t> longer;
  longer.reserve(tokens.size() + 1);
  longer.assign(tokens.begin(), tokens.end());
  longer.push_back(token);
  return longer;
}

}  // namespace

void BeamOptions::validate() const {
  if (width < 1) throw ConfigError("--beam-width must be at least 1, got " + std::to_string(width));
  if (!std::isfinite(length_penalty)) {
    throw ConfigError("--length-penalty must be a finite number, got " + shortest_text(length_penalty));
  }
  if (max_new_tokens < 1)
    throw ConfigError("--max-new-tokens must be at least 1, got " + std::to_string(max_new_tokens));
  if (end_token < -1) throw ConfigError("end token must be a token id or -1 (none), got " + std::to_string(end_token));
}

std::vector<Hypothesis> beam_search(std::span<const float> first_logits, std::int64_t vocab, const BeamOptions& options,
                                    const AdvanceFn& advance) {
  options.validate();
  if (vocab < 1 || vocab > std::numeric_limits<std::int32_t>::max()) {
    throw std::invalid_argument("beam_search: vocabulary of " + std::to_string(vocab) + " tokens");
  }
  const auto vocab_size = static_cast<std::size_t>(vocab);
  if (first_logits.size() != vocab_size) {
    throw std::invalid_argument("beam_search: " + std::to_string(first_logits.size()) + " first logits for a " +
                                std::to_string(vocab) + "-token vocabulary");
  }
  if (options.end_token >= vocab) {
    throw std::invalid_argument("beam_search: end token " + std::to_string(options.end_token) +
                                " is outside the vocabulary of " + std::to_string(vocab));
  }
  const auto width = static_cast<std::size_t>(options.width);

  Pool pool(width);
  CandidateRanker ranker;
  std::vector<Beam> live(1);  // the prompt, nothing generated yet
  std::span<const float> rows = first_logits;
  std::vector<float> advanced;
  std::vector<std::int32_t> parents, tokens;
  for (std::size_t length = 1;; ++length) {
    const std::vector<Candidate> candidates = ranker.top(live, rows, vocab_size, 2 * width);
    std::vector<Beam> next;
    parents.clear();
    tokens.clear();
    for (std::size_t rank = 0; rank < candidates.size() && next.size() < width; ++rank) {
      const Candidate& candidate = candidates[rank];
      const std::vector<std::int32_t>& prefix = live[candidate.beam].tokens;
      if (candidate.token == options.end_token) {
        if (rank < width) {
          pool.add({extended(prefix, candidate.token), candidate.log_prob,
                    normalised(candidate.log_prob, length, options.length_penalty), true});
        }
        continue;
      }
      next.push_back({extended(prefix, candidate.token), candidate.log_prob});
      parents.push_back(static_cast<std::int32_t>(candidate.beam));
      tokens.push_back(candidate.token);
    }

    if (length == static_cast<std::size_t>(options.max_new_tokens)) {
      for (Beam& beam : next) {
        const double score = normalised(beam.log_prob, length, options.length_penalty);
        pool.add({std::move(beam.tokens), beam.log_prob, score, false});
      }
      break;
    }
    if (next.empty()) break;
    if (pool.full() && normalised(next.front().log_prob, length, options.length_penalty) <= pool.worst().score) break;

    live = std::move(next);
    advance(parents, tokens, advanced);
    if (advanced.size() != live.size() * vocab_size) {
      throw std::runtime_error("beam_search: advance gave " + std::to_string(advanced.size()) + " logits for " +
                               std::to_string(live.size()) + " rows of " + std::to_string(vocab));
    }
    rows = advanced;
  }
  return pool.take();
}

}  // namespace gpt
