#pragma once
// Beam search with length normalisation over host logits, generic over a callback that advances
// the model. Knows nothing of the model: the callback owns it (and its KV cache).
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace gpt {

struct BeamOptions {
  std::int64_t width = 1;           // W >= 1 beams
  double length_penalty = 1.0;      // score = log_prob / generated_length ^ length_penalty (Hugging Face's)
  std::int64_t max_new_tokens = 0;  // >= 1
  std::int32_t end_token = -1;      // <|endoftext|>: a hypothesis ending with it is finished; -1: none
  // Throws ConfigError naming the option: --beam-width < 1, --max-new-tokens < 1, --length-penalty
  // not finite, end_token below -1.
  void validate() const;
};

struct Hypothesis {
  std::vector<std::int32_t> tokens;  // the generated ones (after the prompt), the end token included
  double log_prob = 0;               // sum of the tokens' log-probabilities
  double score = 0;                  // log_prob / tokens.size() ^ length_penalty
  bool finished = false;             // ends with end_token (else cut at max_new_tokens)
};

// Advances the live beams: new row i continues old row parents[i] with token tokens[i]. Fills
// `logits` with rows x V floats (V: the vocabulary), the next-token logits of each new row, where
// rows = parents.size(), between 1 and W. The callback may resize `logits`; it must leave exactly
// rows x V floats.
using AdvanceFn = std::function<void(std::span<const std::int32_t> parents, std::span<const std::int32_t> tokens,
                                     std::vector<float>& logits)>;

// Beam search from the next-token logits after the prompt (`first_logits`, V = `vocab` floats).
// Returns up to W hypotheses, best first.
//
// Each step t = 1, 2, ... (t = the generated length after it):
//   - every live beam's row is log-softmaxed in double; the candidates are the (beam, token) pairs
//     with cumulative log_prob = the beam's + the token's (tokens of probability 0 never are);
//   - the top 2W candidates by cumulative log_prob are taken in order (ties: lower beam index,
//     then lower token id). A candidate ending with end_token goes to the finished pool, score
//     log_prob / t ^ length_penalty (the end token counts in the length), but only when it ranks
//     among the first W: Hugging Face's rule, which makes width 1 exactly greedy decoding. The
//     others become the next live beams in order, at most W of them.
//   - the pool keeps the W best hypotheses in the order below.
// The search stops:
//   - at t = max_new_tokens: the live beams join the pool, unfinished, scored at length t;
//   - when no beam is live;
//   - when the pool holds W hypotheses and the best live beam's score at the current length is no
//     better than the pool's worst (Hugging Face's early_stopping=False). With length_penalty <= 0
//     that loses nothing (but ties), as a beam's score can only fall; with length_penalty > 0 it is
//     a heuristic: a longer continuation divides its (negative) log_prob by a larger length and can
//     score higher.
// `advance` is called only for a step that will be taken: never after the last one.
//
// Order of hypotheses: higher score first; equal scores, the lexicographically smaller token
// sequence first. That is a total order, so the result does not depend on the order in which
// hypotheses were found.
//
// Logits NaN or +inf, or a row all -inf: std::runtime_error (a broken model), as is `advance`
// leaving other than rows x V floats. vocab < 1 or >= 2^31, first_logits not V floats, or
// end_token >= vocab: std::invalid_argument.
std::vector<Hypothesis> beam_search(std::span<const float> first_logits, std::int64_t vocab, const BeamOptions& options,
                                    const AdvanceFn& advance);

}  // namespace gpt
