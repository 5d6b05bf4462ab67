#pragma once
// Choosing the next token from one row of host logits: greedy, temperature, top-k and top-p
// (nucleus) sampling. Knows nothing of the model: the caller passes the logits of the real
// vocabulary only, so padding ids can never come out.
#include <cstdint>
#include <span>
#include <vector>

namespace gpt {

struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy (argmax)
  std::int64_t top_k = 0;    // 0: off; else keep the k most likely
  double top_p = 1.0;        // nucleus: keep the smallest set whose probability reaches p; 1: off
  // Throws ConfigError naming the option ("--temperature", "--top-k", "--top-p") and its value:
  // temperature < 0 or not finite, top_k < 0, top_p outside (0, 1].
  void validate() const;
};

// Chooses tokens by SamplingOptions, reusing its scratch buffers from call to call. Not
// thread-safe: one per thread.
//
// The steps, in the usual Hugging Face / nanoGPT order, each renormalising what it keeps:
//   1. temperature: probabilities softmax(logits / T), in double after subtracting the largest
//      logit. T = 0 is greedy: the largest logit, the lowest id among equals, no random number
//      used and top-k / top-p ignored (the argmax is in every set they keep).
//   2. top-k: keep the k tokens first in the order below (k >= the vocabulary: all).
//   3. top-p: keep the shortest prefix of the order below whose share of the probability left
//      after top-k reaches p. A share within kTopPTolerance of p counts as reaching it: the
//      probabilities come from float logits, so a p set exactly on a boundary (0.8 = 0.5 + 0.3)
//      would otherwise fall on either side by rounding.
// The order is probability descending, ties by the lower token id (ties are exact: equal
// logits). The draw is a pure function of (key, counter): reproducible from a seed, with 53 random
// bits (rng::bits), so even probabilities far below 2^-24 are drawn at their own rate.
//
// Cost per call, V = logits.size(): O(V) for greedy and pure temperature. Top-k and top-p find
// their boundary without sorting: they sum counts (top-k) or probabilities (top-p) over bins of
// the logit range, keep the bins before the boundary, and narrow into its bin the same way until
// a few dozen tokens are left to sort: a few passes over V. Only tokens of exactly equal logits in
// the boundary bin are sorted in bulk (by id).
//
// Logits may be -inf (probability 0, never chosen); NaN or +inf, or all of them -inf, mean a
// broken model: std::runtime_error. An empty row or one of 2^31 or more entries:
// std::invalid_argument.
class TokenSampler {
 public:
  static constexpr double kTopPTolerance = 1e-6;

  explicit TokenSampler(const SamplingOptions& options);  // validates them

  std::int32_t choose(std::span<const float> logits, std::uint64_t key, std::uint64_t counter);

  const SamplingOptions& options() const { return options_; }

 private:
  std::int32_t sample_whole_row(std::span<const float> logits, float max_logit, std::uint64_t key,
                                std::uint64_t counter);
  std::int32_t sample_filtered(std::span<const float> logits, float max_logit, std::uint64_t key,
                               std::uint64_t counter);

  SamplingOptions options_;
  std::vector<double> weights_;             // unnormalised probabilities, by token id
  std::vector<std::int32_t> candidates_;    // token ids still in the running
  std::vector<double> bin_measure_;         // top-k / top-p selection: per logit bin
  std::vector<std::int32_t> boundary_bin_;  // top-k / top-p selection: the bin being narrowed
};

// One draw with a TokenSampler made for it (allocates its scratch each call: a generation loop
// should keep a TokenSampler instead).
std::int32_t choose_token(std::span<const float> logits, const SamplingOptions& options, std::uint64_t key,
                          std::uint64_t counter);

}  // namespace gpt
