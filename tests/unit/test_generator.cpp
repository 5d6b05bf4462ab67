// Generation over the KV cache against references that run the training forward over every
// step's whole window (no cache): greedy and sampled tokens, beams, the window sliding, the end
// token, and padding ids that must never come out. fp64, so rounding cannot flip a choice.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "core/errors.h"
#include "core/generate/generator.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/rng.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/model_test_util.h"

namespace gpt::test {
namespace {

using Tokens = std::vector<std::int32_t>;

// The reference: each sequence's window, run whole through GPT::forward. The window follows the
// Generator's rule: `capacity` positions, and when a token would not fit, the newest
// capacity - slide + 1 tokens (the new one among them) start the window again.
class FullForwardReference {
 public:
  FullForwardReference(GPT& model, std::int64_t capacity, std::int64_t slide)
      : model_(model), capacity_(capacity), keep_(capacity - std::min(slide, capacity) + 1) {}

  // The next-token logits (real vocabulary) of a sequence whose window started at `start`, which
  // moves when the sequence no longer fits (a prompt longer than the window starts at its tail).
  std::vector<float> logits(const Tokens& sequence, std::int64_t& start) {
    const auto length = static_cast<std::int64_t>(sequence.size());
    if (length - start > capacity_) start = length - keep_;
    const Tokens window(sequence.begin() + start, sequence.end());
    const std::int64_t T = length - start;
    model_.forward({window.data(), nullptr, 1, T}, {});
    const std::vector<double> all = host_values<double>(model_.logits());
    const std::int64_t V = model_.config().vocab_size;
    return {all.begin() + (T - 1) * V, all.begin() + (T - 1) * V + model_.config().real_vocab_size};
  }

 private:
  GPT& model_;
  std::int64_t capacity_, keep_;
};

struct TinyModel {
  ModelConfig config = [] {
    ModelConfig c = tiny_model(Activation::gelu, true, false);
    c.block_size = 8;
    return c;
  }();
  CpuBackend<double> backend{cpu_threads()};
  GPT model{config, backend};
  TinyModel() { model.init_weights(42); }
  std::int32_t real() const { return static_cast<std::int32_t>(config.real_vocab_size); }
};

// Tokens a TokenSampler chooses from the reference's logits, one sequence, as Generator::sample
// does for sequence `index` of a batch.
Tokens reference_sample(TinyModel& s, const Tokens& prompt, const SamplingOptions& options, std::uint64_t seed,
                        std::int64_t index, const GenerationOptions& generation) {
  const std::int64_t capacity =
      std::min<std::int64_t>(s.config.block_size, static_cast<std::int64_t>(prompt.size()) + generation.max_new_tokens);
  const std::int64_t slide = generation.slide ? generation.slide : std::max<std::int64_t>(1, s.config.block_size / 4);
  FullForwardReference reference(s.model, capacity, slide);
  TokenSampler sampler(options);
  Tokens sequence = prompt, out;
  std::int64_t start = std::max<std::int64_t>(0, static_cast<std::int64_t>(prompt.size()) - capacity);
  for (std::int64_t step = 0; step < generation.max_new_tokens; ++step) {
    const std::vector<float> logits = reference.logits(sequence, start);
    const std::int32_t token =
        sampler.choose(logits, rng::derive(seed, static_cast<std::uint64_t>(index)), static_cast<std::uint64_t>(step));
    if (token == generation.end_token) break;
    out.push_back(token);
    sequence.push_back(token);
  }
  return out;
}

TEST(Generator, GreedyEqualsFullForwardThroughWindowSlides) {
  TinyModel s;
  const Tokens prompt = {3, 1, 4};
  for (std::int64_t slide : {0, 1, 3, 7}) {
    const GenerationOptions generation{.max_new_tokens = 20, .slide = slide, .end_token = -1};
    Generator generator(s.model, generation);
    const SamplingOptions greedy{.temperature = 0};
    const auto got = generator.sample(prompt, greedy, 1, 1);
    EXPECT_EQ(got[0], reference_sample(s, prompt, greedy, 1, 0, generation)) << "slide " << slide;
    EXPECT_EQ(got[0].size(), 20u);
    EXPECT_GT(generator.stats().window_slides, 0) << "slide " << slide;  // 3 + 20 tokens in windows of 8
    EXPECT_EQ(generator.sample(prompt, greedy, 99, 1), got) << "greedy does not depend on the seed";
  }
}

TEST(Generator, SeededSamplesAreReproducibleAndEachSequenceIsItsOwn) {
  TinyModel s;
  const Tokens prompt = {5, 9};
  const GenerationOptions generation{.max_new_tokens = 12, .end_token = -1};
  const SamplingOptions options{.temperature = 1.3, .top_k = 10, .top_p = 0.95};
  Generator generator(s.model, generation);
  const auto batch = generator.sample(prompt, options, 2024, 3);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(generator.sample(prompt, options, 2024, 3), batch);
  EXPECT_NE(generator.sample(prompt, options, 2025, 3), batch);
  // Each row of the batch is what sampling that sequence alone through full forwards gives.
  for (std::int64_t i = 0; i < 3; ++i)
    EXPECT_EQ(batch[static_cast<std::size_t>(i)], reference_sample(s, prompt, options, 2024, i, generation))
        << "sequence " << i;
  EXPECT_NE(batch[0], batch[1]);
}

TEST(Generator, StopsAtTheEndTokenAndNeverEmitsIt) {
  TinyModel s;
  const Tokens prompt = {2};
  const SamplingOptions greedy{.temperature = 0};
  Generator free_running(s.model, {.max_new_tokens = 15, .end_token = -1});
  const Tokens all = free_running.sample(prompt, greedy, 0, 1)[0];
  const std::int32_t end = all[5];
  Generator stopping(s.model, {.max_new_tokens = 15, .end_token = end});
  const Tokens got = stopping.sample(prompt, greedy, 0, 1)[0];
  const Tokens want(all.begin(), std::find(all.begin(), all.end(), end));
  EXPECT_EQ(got, want);
  EXPECT_LE(got.size(), 5u);
}

TEST(Generator, PaddingIdsNeverComeOutEvenWhenTheirLogitsAreLargest) {
  TinyModel s;
  // The untied LM head's padding rows made to dominate every real logit.
  double* head = s.model.param("lm_head.weight").data<double>();
  const std::int64_t C = s.config.n_embd;
  for (std::int64_t row = s.config.real_vocab_size; row < s.config.vocab_size; ++row)
    for (std::int64_t c = 0; c < C; ++c) head[row * C + c] = 50.0 * (c % 2 ? 1 : -1) * (row % 2 ? 1 : -1);
  s.model.refresh_weights();
  Generator generator(s.model, {.max_new_tokens = 30, .end_token = -1});
  for (const SamplingOptions& options : {SamplingOptions{.temperature = 0}, SamplingOptions{.temperature = 2.0}}) {
    for (const Tokens& sample : generator.sample(Tokens{1, 2}, options, 7, 4))
      for (std::int32_t t : sample) EXPECT_LT(t, s.real()) << "temperature " << options.temperature;
  }
  for (const Hypothesis& h : generator.beam_search(Tokens{1, 2}, {.width = 3}))
    for (std::int32_t t : h.tokens) EXPECT_LT(t, s.real());
}

// The beams through the Generator's batched cache (rows reordered as beams branch, windows
// sliding) equal beam_search over an advance that recomputes every row's window from scratch.
TEST(Generator, BeamSearchEqualsBeamSearchOverFullForwards) {
  TinyModel s;
  const Tokens prompt = {7, 3, 3};
  for (std::int64_t width : {1, 3}) {
    const GenerationOptions generation{.max_new_tokens = 12, .slide = 2, .end_token = 4};
    Generator generator(s.model, generation);
    const BeamOptions beam{.width = width, .length_penalty = 0.7};
    const std::vector<Hypothesis> got = generator.beam_search(prompt, beam);

    const std::int64_t capacity = s.config.block_size;
    FullForwardReference reference(s.model, capacity, generation.slide);
    std::vector<Tokens> rows = {prompt};
    std::vector<std::int64_t> starts = {0};
    BeamOptions want_options = beam;
    want_options.max_new_tokens = generation.max_new_tokens;
    want_options.end_token = generation.end_token;
    const std::vector<float> first = reference.logits(rows[0], starts[0]);
    const std::vector<Hypothesis> want = beam_search(
        first, s.config.real_vocab_size, want_options,
        [&](std::span<const std::int32_t> parents, std::span<const std::int32_t> tokens, std::vector<float>& logits) {
          std::vector<Tokens> next;
          std::vector<std::int64_t> next_starts;
          logits.clear();
          for (std::size_t i = 0; i < parents.size(); ++i) {
            next.push_back(rows[static_cast<std::size_t>(parents[i])]);
            next.back().push_back(tokens[i]);
            next_starts.push_back(starts[static_cast<std::size_t>(parents[i])]);
            const std::vector<float> row = reference.logits(next.back(), next_starts.back());
            logits.insert(logits.end(), row.begin(), row.end());
          }
          rows = std::move(next);
          starts = std::move(next_starts);
        });
    ASSERT_EQ(got.size(), want.size()) << "width " << width;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "width " << width << " hypothesis " << i;
      EXPECT_NEAR(got[i].score, want[i].score, 1e-9);
    }
    if (width == 1) {  // one beam is greedy decoding
      const Tokens greedy = generator.sample(prompt, {.temperature = 0}, 0, 1)[0];
      EXPECT_EQ(Tokens(got[0].tokens.begin(), got[0].tokens.end() - (got[0].finished ? 1 : 0)), greedy);
    }
  }
}

TEST(Generator, RefusesBadOptions) {
  TinyModel s;
  EXPECT_THROW(Generator(s.model, {.max_new_tokens = 0}), ConfigError);
  EXPECT_THROW(Generator(s.model, {.slide = s.config.block_size}), ConfigError);
  EXPECT_THROW(Generator(s.model, {.slide = -1}), ConfigError);
  Generator generator(s.model, {.max_new_tokens = 4});
  EXPECT_THROW(generator.sample(Tokens{}, {}, 0, 1), ConfigError);
  EXPECT_THROW(generator.sample(Tokens{1}, {}, 0, 0), ConfigError);
  EXPECT_THROW(generator.sample(Tokens{1}, {.temperature = -1}, 0, 1), ConfigError);
  EXPECT_THROW(generator.beam_search(Tokens{1}, {.width = 0}), ConfigError);
  EXPECT_THROW(generator.sample(Tokens{s.real() + 10}, {}, 0, 1), std::invalid_argument);  // beyond vocab_size
}

}  // namespace
}  // namespace gpt::test
