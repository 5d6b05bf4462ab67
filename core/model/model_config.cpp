#include "core/model/model_config.h"

#include <string>

#include "core/errors.h"

namespace gpt {

namespace {

void require_positive(std::int64_t value, const char* key) {
  if (value < 1) throw ConfigKeyError({key}, std::string(key) + " must be >= 1, got " + std::to_string(value));
}

}  // namespace

// Each error lists the keys involved, the one a user most likely set wrong first: the parser
// points at where the first of them that was set came from.
void ModelConfig::validate() const {
  require_positive(vocab_size, "model.vocab_size");
  require_positive(real_vocab_size, "model.real_vocab_size");
  require_positive(block_size, "model.block_size");
  require_positive(n_layer, "model.n_layer");
  require_positive(n_head, "model.n_head");
  require_positive(n_embd, "model.n_embd");
  if (real_vocab_size > vocab_size) {
    throw ConfigKeyError({"model.real_vocab_size", "model.vocab_size"},
                         "model.real_vocab_size (" + std::to_string(real_vocab_size) +
                             ") must be <= model.vocab_size (" + std::to_string(vocab_size) + ")");
  }
  if (n_embd % n_head != 0) {
    throw ConfigKeyError({"model.n_embd", "model.n_head"}, "model.n_embd (" + std::to_string(n_embd) +
                                                               ") must be divisible by model.n_head (" +
                                                               std::to_string(n_head) + ")");
  }
  if (mlp_hidden < 0) {
    throw ConfigKeyError({"model.mlp_hidden"}, "model.mlp_hidden must be >= 0, got " + std::to_string(mlp_hidden));
  }
  // Written as a negated range test so that NaN fails too.
  if (!(dropout >= 0.0 && dropout < 1.0)) {
    throw ConfigKeyError({"model.dropout"}, "model.dropout must be in [0, 1), got " + std::to_string(dropout));
  }
  if (!(rope_base > 1.0 && rope_base < 1e300)) {
    throw ConfigKeyError({"model.rope_base"}, "model.rope_base must be > 1, got " + std::to_string(rope_base));
  }
  if (positions == Positions::rope && head_dim() % 2 != 0) {
    throw ConfigKeyError({"model.positions", "model.n_embd", "model.n_head"},
                         "model.positions = \"rope\" needs an even head size, model.n_embd / model.n_head = " +
                             std::to_string(head_dim()));
  }
  if (!(logit_softcap >= 0.0 && logit_softcap < 1e300)) {
    throw ConfigKeyError({"model.logit_softcap"},
                         "model.logit_softcap must be >= 0 (0: off), got " + std::to_string(logit_softcap));
  }
}

}  // namespace gpt
