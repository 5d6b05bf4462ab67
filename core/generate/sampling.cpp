#include "core/generate/sampling.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "core/number_text.h"
#include "core/rng.h"

namespace gpt {
namespace {

// Uniform in [0, 1) with 53 random bits: rng::uniform's 24 would quantise the tail of a
// 50257-token distribution.
double uniform53(std::uint64_t key, std::uint64_t counter) {
  return static_cast<double>(rng::bits(key, counter) >> 11) * (1.0 / 9007199254740992.0);
}

// The unnormalised probability: 1 for the largest logit, 0 for -inf. A division, not a multiply
// by 1 / T, so that a subnormal temperature cannot make 0 * inf.
double weight(float logit, float max_logit, double temperature) {
  return std::exp((static_cast<double>(logit) - max_logit) / temperature);
}

struct RowMaximum {
  float logit;
  std::int32_t token;  // the lowest id holding it
};

// The largest logit, after checking that the row can be a distribution at all.
RowMaximum checked_maximum(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("choose_token: no logits");
  if (logits.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::invalid_argument("choose_token: " + std::to_string(logits.size()) + " logits do not fit token ids");
  }
  // One branch-free pass for the maximum and for any NaN or +inf (both fail `logit < inf`); the
  // failing token and the maximum's lowest id are looked up only when needed.
  constexpr float kInfinity = std::numeric_limits<float>::infinity();
  float high = -kInfinity;
  bool broken = false;
  for (const float logit : logits) {
    broken |= !(logit < kInfinity);
    high = logit > high ? logit : high;
  }
  if (broken) {
    const auto bad = std::find_if(logits.begin(), logits.end(), [&](float logit) { return !(logit < kInfinity); });
    throw std::runtime_error("choose_token: the logit of token " + std::to_string(bad - logits.begin()) + " is " +
                             shortest_text(*bad) + ": the model's output is broken");
  }
  if (high == -kInfinity) throw std::runtime_error("choose_token: every logit is -inf: the model's output is broken");
  return {high, static_cast<std::int32_t>(std::find(logits.begin(), logits.end(), high) - logits.begin())};
}

// Walks tokens in the given order until the cumulative weight passes `target` (a uniform draw
// scaled by the total). A token of weight 0 can never be the one that passes it; rounding that
// leaves the target unreached falls back to the last token of positive weight.
template <class TokenAt>
std::int32_t walk_to(double target, std::size_t count, const TokenAt& token_at, const std::vector<double>& weights) {
  double cumulative = 0;
  std::int32_t last_positive = -1;
  for (std::size_t i = 0; i < count; ++i) {
    const std::int32_t token = token_at(i);
    const double weight = weights[static_cast<std::size_t>(token)];
    if (weight <= 0) continue;
    cumulative += weight;
    last_positive = token;
    if (target < cumulative) return token;
  }
  return last_positive;
}

// The probability order: higher logit first, the lower id among equals.
struct ProbabilityOrder {
  std::span<const float> logits;
  bool operator()(std::int32_t a, std::int32_t b) const {
    const float la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  }
};

struct Prefix {
  std::size_t size;
  double measure;
};

// Rearranges `tokens` (finite logits) so that their first `size` are the shortest prefix of the
// probability order whose summed measure reaches `target` (at least 1; all of them when rounding
// leaves the target a hair short), and returns that size and the prefix's measure. The measure is
// 1 per token for top-k, the weight for top-p. Rather than sorting, it sums the measure over bins
// of the logit range, keeps the bins before the one where the target is reached, drops those
// after, and narrows into that bin the same way until few enough tokens are left to sort: a few
// O(n) passes. Bins follow the order (a higher logit never lands in a later bin; equal logits
// share one), so the result is exact.
template <class Measure>
Prefix shortest_prefix_reaching(std::span<std::int32_t> tokens, std::span<const float> logits, const Measure& measure,
                                double target, std::vector<double>& bin_measure,
                                std::vector<std::int32_t>& boundary_bin) {
  constexpr std::size_t kBins = 2048, kSortBelow = 64;
  std::size_t begin = 0, end = tokens.size();  // the prefix ends in (begin, end]
  double reached = 0;                          // the measure of tokens[0, begin)
  while (end - begin > kSortBelow) {
    float high = logits[static_cast<std::size_t>(tokens[begin])], low = high;
    for (std::size_t i = begin; i < end; ++i) {
      const float logit = logits[static_cast<std::size_t>(tokens[i])];
      high = std::max(high, logit);
      low = std::min(low, logit);
    }
    if (high == low) break;  // all equal: the order is by id
    // The highest logit lands in bin 0 and the lowest in the last, so each round narrows.
    const double scale = static_cast<double>(kBins) / (static_cast<double>(high) - low);
    const auto bin_of = [&](std::int32_t token) {
      const double depth = (static_cast<double>(high) - logits[static_cast<std::size_t>(token)]) * scale;
      // Through a signed integer: one instruction, where unsigned takes several.
      return static_cast<std::size_t>(std::min<std::int64_t>(kBins - 1, static_cast<std::int64_t>(depth)));
    };
    bin_measure.assign(kBins, 0.0);
    for (std::size_t i = begin; i < end; ++i) bin_measure[bin_of(tokens[i])] += measure(tokens[i]);
    std::size_t boundary = 0;
    double before_boundary = reached;
    while (boundary < kBins && before_boundary + bin_measure[boundary] < target) {
      before_boundary += bin_measure[boundary++];
    }
    if (boundary == kBins) return {end, before_boundary};  // rounding: the whole window is needed

    // Bins before the boundary stay in front; the boundary bin follows them; later bins go.
    std::size_t kept = begin;
    boundary_bin.clear();
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t bin = bin_of(tokens[i]);
      if (bin < boundary) {
        tokens[kept++] = tokens[i];
      } else if (bin == boundary) {
        boundary_bin.push_back(tokens[i]);
      }
    }
    std::copy(boundary_bin.begin(), boundary_bin.end(), tokens.begin() + kept);
    begin = kept;
    end = kept + boundary_bin.size();
    reached = before_boundary;
  }
  std::sort(tokens.begin() + begin, tokens.begin() + end, ProbabilityOrder{logits});
  for (std::size_t i = begin; i < end; ++i) {
    reached += measure(tokens[i]);
    if (reached >= target) return {i + 1, reached};
  }
  return {end, reached};
}

}  // namespace

void SamplingOptions::validate() const {
  if (!std::isfinite(temperature) || temperature < 0) {
    throw ConfigError("--temperature must be a finite number >= 0 (0: greedy), got " + shortest_text(temperature));
  }
  if (top_k < 0) throw ConfigError("--top-k must be >= 0 (0: off), got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) throw ConfigError("--top-p must be in (0, 1] (1: off), got " + shortest_text(top_p));
}

TokenSampler::TokenSampler(const SamplingOptions& options) : options_(options) {
  options_.validate();
}

std::int32_t TokenSampler::choose(std::span<const float> logits, std::uint64_t key, std::uint64_t counter) {
  const RowMaximum maximum = checked_maximum(logits);
  if (options_.temperature == 0) return maximum.token;
  const bool top_k_cuts = options_.top_k > 0 && static_cast<std::uint64_t>(options_.top_k) < logits.size();
  if (!top_k_cuts && options_.top_p >= 1) return sample_whole_row(logits, maximum.logit, key, counter);
  return sample_filtered(logits, maximum.logit, key, counter);
}

std::int32_t TokenSampler::sample_whole_row(std::span<const float> logits, float max_logit, std::uint64_t key,
                                            std::uint64_t counter) {
  weights_.resize(logits.size());
  double total = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    weights_[i] = weight(logits[i], max_logit, options_.temperature);
    total += weights_[i];
  }
  const auto by_id = [](std::size_t i) { return static_cast<std::int32_t>(i); };
  return walk_to(uniform53(key, counter) * total, logits.size(), by_id, weights_);
}

std::int32_t TokenSampler::sample_filtered(std::span<const float> logits, float max_logit, std::uint64_t key,
                                           std::uint64_t counter) {
  candidates_.clear();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] != -std::numeric_limits<float>::infinity()) candidates_.push_back(static_cast<std::int32_t>(i));
  }
  // Top-k on the logits: dividing by a positive temperature keeps their order.
  if (options_.top_k > 0 && static_cast<std::uint64_t>(options_.top_k) < candidates_.size()) {
    const auto one_each = [](std::int32_t) { return 1.0; };
    const double k = static_cast<double>(options_.top_k);
    candidates_.resize(shortest_prefix_reaching(candidates_, logits, one_each, k, bin_measure_, boundary_bin_).size);
  }
  weights_.resize(logits.size());
  double total = 0;
  for (const std::int32_t token : candidates_) {
    const auto i = static_cast<std::size_t>(token);
    weights_[i] = weight(logits[i], max_logit, options_.temperature);
    total += weights_[i];
  }
  if (options_.top_p < 1) {
    const double target = (options_.top_p - kTopPTolerance) * total;
    const auto weight_of = [&](std::int32_t token) { return weights_[static_cast<std::size_t>(token)]; };
    const Prefix nucleus =
        shortest_prefix_reaching(candidates_, logits, weight_of, target, bin_measure_, boundary_bin_);
    candidates_.resize(nucleus.size);
    total = nucleus.measure;
  }
  const auto in_order = [&](std::size_t i) { return candidates_[i]; };
  return walk_to(uniform53(key, counter) * total, candidates_.size(), in_order, weights_);
}

std::int32_t choose_token(std::span<const float> logits, const SamplingOptions& options, std::uint64_t key,
                          std::uint64_t counter) {
  TokenSampler sampler(options);
  return sampler.choose(logits, key, counter);
}

}  // namespace gpt
