// Token choice (core/generate/sampling.h): greedy, temperature, top-k, top-p, their order, the
// draw's reproducibility, option checks and broken logits. Frequencies are checked against exact
// probabilities with a per-token normal bound of 4.5 standard deviations, each count expected
// 200 times or more (two-sided 6.8e-6 per check, about 2e-4 for the largest test): the draws are
// seeded, so each test is deterministic, and a correct sampler would fail it for few seeds.
#include "core/generate/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/rng.h"

namespace gpt {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr std::uint64_t kKey = 0x5EED;

// How often each token comes out of `draws` draws at counters 0, 1, ...
std::vector<std::int64_t> counts(TokenSampler& sampler, const std::vector<float>& logits, std::int64_t draws,
                                 std::uint64_t key = kKey) {
  std::vector<std::int64_t> seen(logits.size(), 0);
  for (std::int64_t c = 0; c < draws; ++c) ++seen.at(static_cast<std::size_t>(sampler.choose(logits, key, c)));
  return seen;
}

// Each count within 4.5 standard deviations of draws * p (a token of probability 0: never).
void expect_frequencies(const std::vector<std::int64_t>& seen, const std::vector<double>& probabilities,
                        std::int64_t draws) {
  ASSERT_EQ(seen.size(), probabilities.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const double p = probabilities[i];
    if (p == 0) {
      EXPECT_EQ(seen[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double expected = static_cast<double>(draws) * p;
    const double bound = 4.5 * std::sqrt(expected * (1 - p));
    EXPECT_NEAR(static_cast<double>(seen[i]), expected, bound) << "token " << i << ", probability " << p;
  }
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max_logit = -kInf;
  for (const float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
  std::vector<double> p(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) p[i] = std::exp((logits[i] - max_logit) / temperature);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= total;
  return p;
}

// The probabilities restricted to `kept` and renormalised.
std::vector<double> renormalised(std::vector<double> p, const std::set<std::int32_t>& kept) {
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!kept.contains(static_cast<std::int32_t>(i))) p[i] = 0;
    total += p[i];
  }
  for (double& x : p) x /= total;
  return p;
}

std::vector<float> log_of(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (const double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<float> random_logits(std::size_t vocab, std::uint64_t key, double scale) {
  std::vector<float> logits(vocab);
  for (std::size_t i = 0; i < vocab; ++i) logits[i] = static_cast<float>(scale * rng::normal(key, i));
  return logits;
}

std::set<std::int32_t> drawn(TokenSampler& sampler, const std::vector<float>& logits, std::int64_t draws) {
  std::set<std::int32_t> tokens;
  for (std::int64_t c = 0; c < draws; ++c) tokens.insert(sampler.choose(logits, kKey, c));
  return tokens;
}

// Token ids in probability order, ties by the lower id: the order the header defines.
std::vector<std::int32_t> probability_order(const std::vector<float>& logits) {
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  return order;
}

TEST(TokenSampling, GreedyIsTheArgmaxWithTheLowestIdOnTies) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 3.0f, 1.0f, 3.0f, kMinusInf};
  for (const SamplingOptions options :
       {SamplingOptions{.temperature = 0}, SamplingOptions{.temperature = 0, .top_k = 3, .top_p = 0.2}}) {
    TokenSampler sampler(options);
    for (std::uint64_t c = 0; c < 100; ++c) EXPECT_EQ(sampler.choose(logits, c * 7919, c), 3);
  }
  const std::vector<float> random = random_logits(1000, 11, 2.0);
  const auto argmax = static_cast<std::int32_t>(std::max_element(random.begin(), random.end()) - random.begin());
  EXPECT_EQ(choose_token(random, {.temperature = 0}, kKey, 0), argmax);
}

TEST(TokenSampling, SeededDrawsAreReproducibleAndVaryWithTheCounter) {
  const std::vector<float> logits(200, 0.0f);  // uniform: every token equally likely
  for (const SamplingOptions options : {SamplingOptions{}, SamplingOptions{.top_k = 50}, SamplingOptions{.top_p = 0.5},
                                        SamplingOptions{.temperature = 0.7, .top_k = 100, .top_p = 0.9}}) {
    TokenSampler first(options), second(options);
    std::set<std::int32_t> tokens;
    std::int64_t same_as_other_key = 0;
    for (std::uint64_t c = 0; c < 1000; ++c) {
      const std::int32_t token = first.choose(logits, kKey, c);
      EXPECT_EQ(second.choose(logits, kKey, c), token) << "counter " << c;
      EXPECT_EQ(choose_token(logits, options, kKey, c), token) << "counter " << c;
      EXPECT_EQ(first.choose(logits, kKey, c), token) << "counter " << c << " drawn again";
      same_as_other_key += first.choose(logits, kKey + 1, c) == token;
      tokens.insert(token);
    }
    // 1000 draws from 50 or more equally likely tokens: all but a few of them come out.
    EXPECT_GE(tokens.size(), 45u);
    EXPECT_LT(same_as_other_key, 100) << "another key gives the same draws";
  }
}

TEST(TokenSampling, TopKNeverLeavesTheKMostLikely) {
  const std::vector<float> logits = random_logits(1000, 3, 1.0);  // close logits: the tail is likely too
  const std::vector<std::int32_t> order = probability_order(logits);
  for (const std::int64_t k : {1, 10, 100}) {
    TokenSampler sampler({.temperature = 1.5, .top_k = k});
    const std::set<std::int32_t> allowed(order.begin(), order.begin() + k);
    const std::set<std::int32_t> tokens = drawn(sampler, logits, 5000);
    for (const std::int32_t token : tokens) EXPECT_TRUE(allowed.contains(token)) << "k " << k << ": token " << token;
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(k)) << "each of the k should come out in 5000 draws";
  }
}

TEST(TokenSampling, TopKKeepsTheLowerIdsAmongEqualLogits) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f};
  TokenSampler sampler({.top_k = 2});
  const std::int64_t draws = 20000;
  expect_frequencies(counts(sampler, logits, draws), {0, 0.5, 0.5, 0, 0}, draws);
}

TEST(TokenSampling, TopKOneIsGreedy) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = random_logits(500, seed, 3.0);
    const std::int32_t greedy = choose_token(logits, {.temperature = 0}, kKey, 0);
    for (const double temperature : {0.5, 1.0, 5.0}) {
      TokenSampler sampler({.temperature = temperature, .top_k = 1});
      for (std::uint64_t c = 0; c < 50; ++c) EXPECT_EQ(sampler.choose(logits, seed, c), greedy);
    }
  }
}

TEST(TokenSampling, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 under ids that are not in probability order.
  const std::vector<double> p = {0.15, 0.5, 0.05, 0.3};
  const std::vector<float> logits = log_of(p);
  const std::int64_t draws = 100000;
  const std::vector<std::pair<double, std::set<std::int32_t>>> cases = {
      {0.3, {1}},        {0.5, {1}},        {0.51, {1, 3}},       {0.8, {1, 3}},
      {0.81, {1, 3, 0}}, {0.95, {1, 3, 0}}, {0.96, {0, 1, 2, 3}}, {1.0, {0, 1, 2, 3}}};
  for (const auto& [top_p, kept] : cases) {
    SCOPED_TRACE("top_p " + std::to_string(top_p));
    TokenSampler sampler({.top_p = top_p});
    expect_frequencies(counts(sampler, logits, draws), renormalised(p, kept), draws);
  }
}

TEST(TokenSampling, TopPCountsAShareWithinTheToleranceAsReachingP) {
  const std::vector<float> logits = log_of({0.5, 0.3, 0.2});
  const std::vector<double> p = softmax(logits, 1.0);
  const std::int64_t draws = 20000;
  for (const auto& [excess, kept] : std::vector<std::pair<double, std::set<std::int32_t>>>{
           {0.5 * TokenSampler::kTopPTolerance, {0, 1}}, {2 * TokenSampler::kTopPTolerance, {0, 1, 2}}}) {
    SCOPED_TRACE("p above the share of tokens 0 and 1 by " + std::to_string(excess));
    TokenSampler sampler({.top_p = p[0] + p[1] + excess});
    expect_frequencies(counts(sampler, logits, draws), renormalised(p, kept), draws);
  }
}

TEST(TokenSampling, TopPKeepsTheLowerIdsAmongEqualLogits) {
  const std::vector<float> logits = {kMinusInf, 2.0f, 2.0f, 2.0f, 2.0f};
  TokenSampler sampler({.top_p = 0.5});  // any 2 of the 4 equal tokens carry half the mass
  const std::int64_t draws = 20000;
  expect_frequencies(counts(sampler, logits, draws), {0, 0.5, 0.5, 0, 0}, draws);
}

// A vocabulary of `vocab` with `head` tokens of nearly equal probability at scattered ids and a
// tail far below them; p is chosen so that the nucleus ends at head token `boundary` (in the
// order), halfway through its probability. Every kept token is likely enough to come out (16 or
// more expected draws each: the head's logits are within 0.2), so the draws show the boundary exactly: the last kept
// token comes out, nothing after it does.
void expect_nucleus_ends_at(std::size_t vocab, std::size_t head, std::size_t boundary, std::int64_t draws,
                            double tail_logit) {
  std::vector<float> logits(vocab);
  for (std::size_t i = 0; i < vocab; ++i) logits[i] = static_cast<float>(tail_logit + rng::uniform(21, i));
  for (std::size_t j = 0; j < head; ++j) {
    const std::size_t id = (j * 7919 + 13) % vocab;
    logits[id] = static_cast<float>(0.2 * rng::uniform(22, j));
  }
  const std::vector<double> p = softmax(logits, 1.0);
  const std::vector<std::int32_t> order = probability_order(logits);
  double before = 0;
  for (std::size_t i = 0; i < boundary; ++i) before += p[order[i]];
  const double top_p = before + 0.5 * p[order[boundary]];
  TokenSampler sampler({.top_p = top_p});
  const std::vector<std::int64_t> seen = counts(sampler, logits, draws);
  EXPECT_GT(seen[order[boundary]], 0) << "the last token of the nucleus never came out";
  std::int64_t outside = 0;
  for (std::size_t i = boundary + 1; i < vocab; ++i) outside += seen[order[i]];
  EXPECT_EQ(outside, 0) << "tokens after the nucleus came out";
}

TEST(TokenSampling, TopPEndsExactlyAtTheBoundaryInALargeVocabulary) {
  // Hundreds of candidates narrowed to the boundary, below a head that ends far above the tail.
  expect_nucleus_ends_at(2048, 500, 10, 1000, -20.0);
  expect_nucleus_ends_at(2048, 500, 250, 6000, -20.0);
  expect_nucleus_ends_at(2048, 500, 499, 12000, -20.0);
  // GPT-2's vocabulary, its tail of 50157 tokens carrying about 40% of the mass.
  expect_nucleus_ends_at(50257, 100, 50, 1000, -7.0);
}

TEST(TokenSampling, TopPOnAFlatVocabularyKeepsOnlyTheNucleus) {
  // Nearly uniform logits: the nucleus is thousands of tokens, found without sorting them all.
  const std::vector<float> logits = random_logits(50257, 5, 0.05);
  const std::vector<std::int32_t> order = probability_order(logits);
  const std::vector<double> p = softmax(logits, 1.0);
  for (const double top_p : {0.05, 0.5, 0.9}) {
    std::size_t kept = 0;
    for (double reached = 0; reached < top_p - TokenSampler::kTopPTolerance;) reached += p[order[kept++]];
    std::vector<std::size_t> rank(logits.size());
    for (std::size_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
    TokenSampler sampler({.top_p = top_p});
    std::size_t deepest = 0;
    for (const std::int32_t token : drawn(sampler, logits, 200)) deepest = std::max(deepest, rank[token]);
    EXPECT_LT(deepest, kept) << "top_p " << top_p << ": a token outside the " << kept << " of the nucleus";
    EXPECT_GT(deepest, kept * 9 / 10) << "top_p " << top_p << ": draws reach only rank " << deepest;
  }
}

TEST(TokenSampling, TemperatureFrequenciesFollowTheScaledSoftmax) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, kMinusInf};
  const std::int64_t draws = 100000;
  for (const double temperature : {0.5, 1.0, 2.0}) {
    SCOPED_TRACE("temperature " + std::to_string(temperature));
    TokenSampler sampler({.temperature = temperature});
    expect_frequencies(counts(sampler, logits, draws), softmax(logits, temperature), draws);
  }
}

TEST(TokenSampling, AVerySmallTemperatureAlwaysPicksTheArgmax) {
  const std::vector<float> logits = {0.3f, 1.0f, 0.9f, -2.0f, 0.95f};
  for (const double temperature : {1e-4, 1e-300}) {
    TokenSampler sampler({.temperature = temperature});
    for (std::uint64_t c = 0; c < 10000; ++c) ASSERT_EQ(sampler.choose(logits, kKey, c), 1) << "counter " << c;
  }
}

TEST(TokenSampling, TemperatureComesBeforeTopP) {
  // At T = 1 token 0 alone has 0.6 of the mass; at T = 3 it has about 0.41, so the nucleus of
  // p = 0.6 needs tokens 0 and 1. Top-p on the unscaled probabilities would keep token 0 alone.
  const std::vector<double> p = {0.6, 0.3, 0.1};
  const std::vector<float> logits = log_of(p);
  TokenSampler sampler({.temperature = 3.0, .top_p = 0.6});
  const std::int64_t draws = 50000;
  expect_frequencies(counts(sampler, logits, draws), renormalised(softmax(logits, 3.0), {0, 1}), draws);
}

TEST(TokenSampling, TopKComesBeforeTopPAndRenormalises) {
  // Top-k 2 leaves 0.4 and 0.3, renormalised 0.57 and 0.43, so p = 0.5 keeps token 0 alone.
  // Top-p first (0.4 < 0.5: tokens 0 and 1), then top-k, would keep both.
  const std::vector<float> logits = log_of({0.4, 0.3, 0.2, 0.1});
  TokenSampler both({.top_k = 2, .top_p = 0.5});
  EXPECT_EQ(drawn(both, logits, 2000), (std::set<std::int32_t>{0}));
  TokenSampler top_p_alone({.top_p = 0.5});
  EXPECT_EQ(drawn(top_p_alone, logits, 2000), (std::set<std::int32_t>{0, 1}));
}

TEST(TokenSampling, OptionsAreValidatedWithTheirNames) {
  const auto message = [](const SamplingOptions& options) {
    try {
      options.validate();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({}), "no error");
  EXPECT_EQ(message({.temperature = 0, .top_k = 50257, .top_p = 1e-9}), "no error");
  const std::vector<std::pair<SamplingOptions, std::vector<std::string>>> bad = {
      {{.temperature = -0.5}, {"--temperature", "-0.5"}},
      {{.temperature = std::nan("")}, {"--temperature", "nan"}},
      {{.temperature = kInf}, {"--temperature", "inf"}},
      {{.top_k = -1}, {"--top-k", "-1"}},
      {{.top_p = 0}, {"--top-p", "0"}},
      {{.top_p = 1.5}, {"--top-p", "1.5"}},
      {{.top_p = -0.25}, {"--top-p", "-0.25"}},
      {{.top_p = std::nan("")}, {"--top-p", "nan"}},
  };
  for (const auto& [options, words] : bad) {
    const std::string text = message(options);
    for (const std::string& word : words) EXPECT_NE(text.find(word), std::string::npos) << text;
  }
  EXPECT_THROW(TokenSampler({.top_k = -3}), ConfigError);
  EXPECT_THROW(choose_token(std::vector<float>{0.0f}, {.top_p = 2}, kKey, 0), ConfigError);
}

TEST(TokenSampling, MinusInfinityIsNeverChosen) {
  std::vector<float> logits(64, kMinusInf);
  for (const std::size_t id : {3, 17, 40, 63}) logits[id] = static_cast<float>(id % 5) - 2.0f;
  for (const SamplingOptions options :
       {SamplingOptions{}, SamplingOptions{.temperature = 100}, SamplingOptions{.top_k = 10},
        SamplingOptions{.top_k = 64, .top_p = 0.999}, SamplingOptions{.temperature = 0}}) {
    TokenSampler sampler(options);
    for (const std::int32_t token : drawn(sampler, logits, 3000)) {
      EXPECT_NE(logits[static_cast<std::size_t>(token)], kMinusInf) << "token " << token;
    }
  }
  TokenSampler hot({.temperature = 100});
  EXPECT_EQ(drawn(hot, logits, 3000), (std::set<std::int32_t>{3, 17, 40, 63}));
}

TEST(TokenSampling, BrokenLogitsThrow) {
  const auto error = [](std::vector<float> logits, const SamplingOptions& options) {
    try {
      choose_token(logits, options, kKey, 0);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const SamplingOptions options :
       {SamplingOptions{}, SamplingOptions{.temperature = 0}, SamplingOptions{.top_k = 2, .top_p = 0.5}}) {
    EXPECT_NE(error({0.0f, std::nanf(""), 1.0f}, options).find("token 1 is nan"), std::string::npos);
    EXPECT_NE(error({0.0f, 1.0f, std::numeric_limits<float>::infinity()}, options).find("token 2 is inf"),
              std::string::npos);
    EXPECT_NE(error({kMinusInf, kMinusInf}, options).find("every logit is -inf"), std::string::npos);
    EXPECT_NE(error({0.0f, std::nanf("")}, options).find("broken"), std::string::npos);
    EXPECT_THROW(choose_token(std::vector<float>{}, options, kKey, 0), std::invalid_argument);
  }
}

}  // namespace
}  // namespace gpt
