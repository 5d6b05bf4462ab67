// Beam search (core/generate/beam_search.h) on tiny deterministic "models" whose logits are a hash
// of the prefix: against every sequence enumerated when the beam is wide enough to prune nothing,
// against a plain re-implementation of the algorithm when it prunes, against greedy decoding at
// width 1, and on the length penalty's effect.
#include "core/generate/beam_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/rng.h"

namespace gpt {
namespace {

using Tokens = std::vector<std::int32_t>;

// Next-token logits as a pure function of (seed, prefix): uniform in [-3, 3), or one of `levels`
// values there so that equal log-probabilities (and ties) are common; the end token raised by
// `end_bias` so that hypotheses finish at every length.
struct HashModel {
  std::uint64_t seed;
  std::int64_t vocab;
  std::int32_t end_token;
  double end_bias = 0;
  int levels = 0;  // 0: continuous

  std::vector<float> logits(const Tokens& prefix) const {
    std::uint64_t key = seed;
    for (const std::int32_t token : prefix) key = rng::derive(key, static_cast<std::uint64_t>(token) + 1);
    std::vector<float> row(static_cast<std::size_t>(vocab));
    for (std::int64_t v = 0; v < vocab; ++v) {
      double logit = 6 * rng::uniform(key, static_cast<std::uint64_t>(v)) - 3;
      if (levels > 0) logit = std::floor((logit + 3) / 6 * levels) * 6 / levels - 3;
      if (v == end_token) logit += end_bias;
      row[static_cast<std::size_t>(v)] = static_cast<float>(logit);
    }
    return row;
  }

  std::vector<double> log_probs(const Tokens& prefix) const {
    const std::vector<float> row = logits(prefix);
    const double top = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (const float l : row) sum += std::exp(l - top);
    std::vector<double> out;
    for (const float l : row) out.push_back(l - top - std::log(sum));
    return out;
  }
};

// Runs beam_search on the model, the callback keeping each row's prefix and checking the calls.
struct SearchRun {
  std::vector<Hypothesis> result;
  std::int64_t advance_calls = 0;
};

SearchRun run_search(const HashModel& model, const BeamOptions& options) {
  SearchRun run;
  std::vector<Tokens> rows(1);
  const AdvanceFn advance = [&](std::span<const std::int32_t> parents, std::span<const std::int32_t> tokens,
                                std::vector<float>& logits) {
    ++run.advance_calls;
    EXPECT_EQ(parents.size(), tokens.size());
    EXPECT_GE(parents.size(), 1u);
    EXPECT_LE(static_cast<std::int64_t>(parents.size()), options.width);
    std::vector<Tokens> next;
    logits.clear();
    for (std::size_t i = 0; i < parents.size(); ++i) {
      Tokens prefix = rows.at(static_cast<std::size_t>(parents[i]));
      prefix.push_back(tokens[i]);
      const std::vector<float> row = model.logits(prefix);
      logits.insert(logits.end(), row.begin(), row.end());
      next.push_back(std::move(prefix));
    }
    rows = std::move(next);
  };
  run.result = beam_search(model.logits({}), model.vocab, options, advance);
  return run;
}

double score_of(double log_prob, std::size_t length, double length_penalty) {
  return log_prob / std::pow(static_cast<double>(length), length_penalty);
}

bool better(const Hypothesis& a, const Hypothesis& b) {
  return a.score != b.score ? a.score > b.score : a.tokens < b.tokens;
}

void sort_and_cut(std::vector<Hypothesis>& hypotheses, std::size_t width) {
  std::sort(hypotheses.begin(), hypotheses.end(), better);
  if (hypotheses.size() > width) hypotheses.resize(width);
}

// Every sequence the model can generate: each stops at the end token or at max_new_tokens.
void enumerate(const HashModel& model, const BeamOptions& options, const Tokens& prefix, double log_prob,
               std::vector<Hypothesis>& out) {
  const std::vector<double> log_probs = model.log_probs(prefix);
  for (std::int32_t v = 0; v < model.vocab; ++v) {
    Tokens tokens = prefix;
    tokens.push_back(v);
    const double sum = log_prob + log_probs[static_cast<std::size_t>(v)];
    const bool finished = v == options.end_token;
    if (finished || static_cast<std::int64_t>(tokens.size()) == options.max_new_tokens) {
      out.push_back({tokens, sum, score_of(sum, tokens.size(), options.length_penalty), finished});
    } else {
      enumerate(model, options, tokens, sum, out);
    }
  }
}

// The header's algorithm written plainly: every candidate of every beam listed and sorted, the
// pool kept as everything added, sorted and cut to W after each step.
std::vector<Hypothesis> reference_beam_search(const HashModel& model, const BeamOptions& options) {
  struct Candidate {
    double log_prob;
    std::size_t beam;
    std::int32_t token;
  };
  const auto width = static_cast<std::size_t>(options.width);
  std::vector<std::pair<Tokens, double>> live = {{{}, 0.0}};
  std::vector<Hypothesis> pool;
  for (std::size_t length = 1;; ++length) {
    std::vector<Candidate> candidates;
    for (std::size_t b = 0; b < live.size(); ++b) {
      const std::vector<double> log_probs = model.log_probs(live[b].first);
      for (std::int32_t v = 0; v < model.vocab; ++v) {
        candidates.push_back({live[b].second + log_probs[static_cast<std::size_t>(v)], b, v});
      }
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      if (a.log_prob != b.log_prob) return a.log_prob > b.log_prob;
      return a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
    });
    if (candidates.size() > 2 * width) candidates.resize(2 * width);
    std::vector<std::pair<Tokens, double>> next;
    for (std::size_t rank = 0; rank < candidates.size(); ++rank) {
      if (next.size() == width) break;
      Tokens tokens = live[candidates[rank].beam].first;
      tokens.push_back(candidates[rank].token);
      const double sum = candidates[rank].log_prob;
      if (candidates[rank].token == options.end_token) {
        if (rank < width) pool.push_back({tokens, sum, score_of(sum, length, options.length_penalty), true});
      } else {
        next.push_back({tokens, sum});
      }
    }
    sort_and_cut(pool, width);
    if (static_cast<std::int64_t>(length) == options.max_new_tokens) {
      for (const auto& [tokens, sum] : next) {
        pool.push_back({tokens, sum, score_of(sum, length, options.length_penalty), false});
      }
      break;
    }
    if (next.empty()) break;
    if (pool.size() == width && score_of(next[0].second, length, options.length_penalty) <= pool.back().score) break;
    live = std::move(next);
  }
  sort_and_cut(pool, width);
  return pool;
}

Tokens greedy(const HashModel& model, std::int64_t max_new_tokens) {
  Tokens tokens;
  while (static_cast<std::int64_t>(tokens.size()) < max_new_tokens) {
    const std::vector<float> row = model.logits(tokens);
    tokens.push_back(static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
    if (tokens.back() == model.end_token) break;
  }
  return tokens;
}

void expect_same(const std::vector<Hypothesis>& got, const std::vector<Hypothesis>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("hypothesis " + std::to_string(i));
    EXPECT_EQ(got[i].tokens, want[i].tokens);
    EXPECT_EQ(got[i].finished, want[i].finished);
    EXPECT_NEAR(got[i].log_prob, want[i].log_prob, 1e-12);
    EXPECT_NEAR(got[i].score, want[i].score, 1e-12);
  }
}

TEST(BeamSearch, AWideEnoughBeamFindsEverySequenceRankedByScore) {
  // (vocab, end token, max_new_tokens): 31, 40 and 27 sequences.
  const std::vector<std::tuple<std::int64_t, std::int32_t, std::int64_t>> shapes = {{3, 2, 4}, {4, 0, 3}, {3, -1, 3}};
  for (const auto& [vocab, end_token, max_new_tokens] : shapes) {
    for (const double length_penalty : {-0.5, 0.0, 1.0, 2.0}) {
      for (std::uint64_t seed = 0; seed < 10; ++seed) {
        SCOPED_TRACE("vocab " + std::to_string(vocab) + ", penalty " + std::to_string(length_penalty) + ", seed " +
                     std::to_string(seed));
        const HashModel model{seed, vocab, end_token};
        BeamOptions options{
            .width = 1, .length_penalty = length_penalty, .max_new_tokens = max_new_tokens, .end_token = end_token};
        std::vector<Hypothesis> all;
        enumerate(model, options, {}, 0.0, all);
        options.width = static_cast<std::int64_t>(all.size());
        sort_and_cut(all, all.size());
        const SearchRun run = run_search(model, options);
        expect_same(run.result, all);
        EXPECT_EQ(run.advance_calls, max_new_tokens - 1) << "advance after the last step";
      }
    }
  }
}

TEST(BeamSearch, NarrowBeamsMatchAPlainReimplementation) {
  std::int64_t early_stops = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    const std::int64_t vocab = 3 + static_cast<std::int64_t>(seed % 4);
    const std::int32_t end_token = seed % 5 == 0 ? -1 : static_cast<std::int32_t>(rng::below(seed, 1, vocab));
    const HashModel model{seed, vocab, end_token, 1.5, seed % 3 == 0 ? 2 : 0};  // a third with ties
    const BeamOptions options{.width = 2 + static_cast<std::int64_t>(seed % 2),
                              .length_penalty = std::vector<double>{0.0, 0.5, 1.0, 2.0}[seed / 2 % 4],
                              .max_new_tokens = 3 + static_cast<std::int64_t>(seed / 3 % 4),
                              .end_token = end_token};
    SCOPED_TRACE("seed " + std::to_string(seed));
    const SearchRun run = run_search(model, options);
    expect_same(run.result, reference_beam_search(model, options));
    EXPECT_LE(run.advance_calls, options.max_new_tokens - 1);
    early_stops += run.advance_calls < options.max_new_tokens - 1;
  }
  EXPECT_GT(early_stops, 100) << "the cases should exercise stopping early";
}

TEST(BeamSearch, TiesGoToTheLowerBeamThenTheLowerToken) {
  // Equal logits: every candidate ties, so the order alone picks the beams.
  const std::vector<float> row(3, 0.0f);
  const AdvanceFn advance = [&](std::span<const std::int32_t> parents, auto, std::vector<float>& logits) {
    logits.clear();
    for (std::size_t i = 0; i < parents.size(); ++i) logits.insert(logits.end(), row.begin(), row.end());
  };
  const std::vector<Hypothesis> result = beam_search(row, 3, {.width = 2, .max_new_tokens = 3}, advance);
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[0].tokens, (Tokens{0, 0, 0}));
  EXPECT_EQ(result[1].tokens, (Tokens{0, 0, 1}));
  EXPECT_EQ(result[0].score, result[1].score);
}

TEST(BeamSearch, WidthOneIsGreedyDecoding) {
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    const std::int64_t vocab = 3 + static_cast<std::int64_t>(seed % 40);
    const HashModel model{seed, vocab, static_cast<std::int32_t>(seed % 3), 1.0};
    for (const double length_penalty : {0.0, 1.0, 3.0}) {
      const BeamOptions options{
          .width = 1, .length_penalty = length_penalty, .max_new_tokens = 12, .end_token = model.end_token};
      const std::vector<Hypothesis> result = run_search(model, options).result;
      ASSERT_EQ(result.size(), 1u);
      const Tokens want = greedy(model, options.max_new_tokens);
      EXPECT_EQ(result[0].tokens, want) << "seed " << seed;
      EXPECT_EQ(result[0].finished, want.back() == model.end_token) << "seed " << seed;
    }
  }
}

// Token 0 ends, token 1 continues; the probability of ending depends on the length so far:
// 0.45, then 0.3, then 0.7. [end] has the best log_prob (ln 0.45 = -0.80) and [1, 1, end] the
// best per token (ln 0.55 + 2 ln 0.7 = -1.31, -0.44 per token).
std::vector<Hypothesis> search_by_length(double length_penalty) {
  const auto row = [](std::size_t length) {
    const double end = std::vector<double>{0.45, 0.3, 0.7}.at(length);
    return std::vector<float>{static_cast<float>(std::log(end)), static_cast<float>(std::log(1 - end))};
  };
  std::size_t length = 0;
  const AdvanceFn advance = [&](std::span<const std::int32_t> parents, std::span<const std::int32_t>,
                                std::vector<float>& logits) {
    ++length;  // every live row has the same length
    logits.clear();
    for (std::size_t i = 0; i < parents.size(); ++i) {
      const std::vector<float> r = row(length);
      logits.insert(logits.end(), r.begin(), r.end());
    }
  };
  return beam_search(row(0), 2, {.width = 2, .length_penalty = length_penalty, .max_new_tokens = 3, .end_token = 0},
                     advance);
}

TEST(BeamSearch, TheLengthPenaltyDecidesBetweenShortAndLong) {
  const std::vector<Hypothesis> per_token = search_by_length(1.0);
  ASSERT_FALSE(per_token.empty());
  EXPECT_EQ(per_token[0].tokens, (Tokens{1, 1, 0}));
  EXPECT_TRUE(per_token[0].finished);
  EXPECT_NEAR(per_token[0].score, (std::log(0.55) + 2 * std::log(0.7)) / 3, 1e-6);
  const std::vector<Hypothesis> total = search_by_length(0.0);
  ASSERT_FALSE(total.empty());
  EXPECT_EQ(total[0].tokens, (Tokens{0}));
  EXPECT_NEAR(total[0].score, std::log(0.45), 1e-6);
  EXPECT_EQ(total[1].tokens, (Tokens{1, 1, 0}));
}

TEST(BeamSearch, OptionsAreValidatedWithTheirNames) {
  const auto message = [](const BeamOptions& options) {
    try {
      options.validate();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({.width = 4, .max_new_tokens = 1}), "no error");
  EXPECT_NE(message({.width = 0, .max_new_tokens = 1}).find("--beam-width must be at least 1, got 0"),
            std::string::npos);
  EXPECT_NE(message({.width = 1, .max_new_tokens = 0}).find("--max-new-tokens"), std::string::npos);
  EXPECT_NE(message({.width = 1, .length_penalty = std::nan(""), .max_new_tokens = 1}).find("--length-penalty"),
            std::string::npos);
  EXPECT_NE(message({.width = 1, .max_new_tokens = 1, .end_token = -2}).find("-2"), std::string::npos);
  const AdvanceFn never = [](auto, auto, std::vector<float>&) { FAIL() << "advance called"; };
  EXPECT_THROW(beam_search(std::vector<float>(3), 3, {.width = 0, .max_new_tokens = 2}, never), ConfigError);
  EXPECT_THROW(beam_search(std::vector<float>(3), 4, {.width = 1, .max_new_tokens = 2}, never), std::invalid_argument);
  EXPECT_THROW(beam_search(std::vector<float>(3), 3, {.width = 1, .max_new_tokens = 2, .end_token = 3}, never),
               std::invalid_argument);
}

TEST(BeamSearch, BrokenLogitsThrow) {
  const AdvanceFn never = [](auto, auto, std::vector<float>&) { FAIL() << "advance called"; };
  const BeamOptions options{.width = 2, .max_new_tokens = 3};
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THROW(beam_search(std::vector<float>{0, std::nanf(""), 1}, 3, options, never), std::runtime_error);
  EXPECT_THROW(beam_search(std::vector<float>{0, inf, 1}, 3, options, never), std::runtime_error);
  EXPECT_THROW(beam_search(std::vector<float>{-inf, -inf, -inf}, 3, options, never), std::runtime_error);
  const AdvanceFn short_rows = [](auto, auto, std::vector<float>& logits) { logits.assign(2, 0.0f); };
  EXPECT_THROW(beam_search(std::vector<float>{0, 1, 2}, 3, options, short_rows), std::runtime_error);
}

TEST(BeamSearch, TokensOfProbabilityZeroAreNeverCandidates) {
  // Only token 2 is possible: a wide beam still finds the one sequence.
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const std::vector<float> row = {minus_inf, minus_inf, 0.0f};
  const AdvanceFn advance = [&](std::span<const std::int32_t> parents, auto, std::vector<float>& logits) {
    EXPECT_EQ(parents.size(), 1u);
    logits = row;
  };
  const std::vector<Hypothesis> result = beam_search(row, 3, {.width = 3, .max_new_tokens = 3}, advance);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0].tokens, (Tokens{2, 2, 2}));
  EXPECT_EQ(result[0].log_prob, 0.0);
  EXPECT_FALSE(result[0].finished);
}

}  // namespace
}  // namespace gpt
