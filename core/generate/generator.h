#pragma once
// Text generation with the model's KV cache: a prompt is run through the model once (the
// prefill), then one token per step for every sequence of the batch at once. Several samples of
// one prompt, and the beams of a beam search, are one batch. When the context (block_size) is
// full, the window slides: the oldest `slide` positions are dropped, the new token is appended and
// the window runs through the model again (learned positions make cached keys wrong at new
// positions), so every step's logits are those of a full forward over its window.
//
// Tokens in, tokens out: the tokenizer is the caller's. Token choice is sampling.h and
// beam_search.h; this file is the model's side of it.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/generate/beam_search.h"
#include "core/generate/sampling.h"
#include "core/model/gpt.h"

namespace gpt {

struct GenerationOptions {
  std::int64_t max_new_tokens = 256;
  // Positions dropped when the context is full; 0: a quarter of block_size. 1 is nanoGPT's crop to
  // the last block_size tokens: the most context, at the cost of a full pass every step.
  std::int64_t slide = 0;
  std::int32_t end_token = 50256;  // <|endoftext|>: ends a sequence; -1: nothing does
  // Throws ConfigError naming the option: max_new_tokens < 1, slide < 0 or ≥ block_size.
  void validate(const ModelConfig& model) const;
};

struct GenerationStats {
  std::int64_t prompt_tokens = 0;     // of the prompt, as it went into the model
  std::int64_t generated_tokens = 0;  // per sequence, the longest
  std::int64_t steps = 0;             // decoding steps (one token for every sequence each)
  std::int64_t window_slides = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // the steps, window slides and token choice included
};

class Generator {
 public:
  Generator(GPT& model, const GenerationOptions& options);

  // Called with (sequence, token) for each token as it is chosen, the end token excepted.
  using TokenFn = std::function<void(std::int64_t sequence, std::int32_t token)>;

  // num_samples continuations of `prompt` (not empty), sampled as one batch: sequence i draws its
  // random numbers from rng::derive(seed, i), step by step, so a run is reproducible from the seed
  // on the same backend. A sequence ends at the end token or at max_new_tokens. Returns the new
  // tokens of each sequence, the end token not included.
  std::vector<std::vector<std::int32_t>> sample(std::span<const std::int32_t> prompt, const SamplingOptions& sampling,
                                                std::uint64_t seed, std::int64_t num_samples,
                                                const TokenFn& on_token = {});

  // Beam search (beam_search.h) from `prompt`: the beams are one batch; up to width hypotheses,
  // best first. beam.max_new_tokens and beam.end_token are taken from the GenerationOptions.
  std::vector<Hypothesis> beam_search(std::span<const std::int32_t> prompt, const BeamOptions& beam);

  const GenerationStats& stats() const { return stats_; }

 private:
  class Batch;

  GPT& model_;
  GenerationOptions options_;
  GenerationStats stats_;
};

}  // namespace gpt
