#pragma once
// GPT-2 and its modern variants (RoPE, RMSNorm, QK-norm, ReLU², soft-capped logits), defined once: parameter table,
// initialisation, forward and backward, all expressed as calls on a Backend. Nothing here knows whether the numbers
// live on a CPU or a GPU.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/model/activation_layout.h"
#include "core/model/model_config.h"
#include "core/model/param_table.h"
#include "core/ops/backend.h"

namespace gpt {

// One micro-batch on the host: B rows of T token ids; targets may be null (inference).
struct Batch {
  const std::int32_t* inputs = nullptr;
  const std::int32_t* targets = nullptr;
  std::int64_t B = 0;
  std::int64_t T = 0;
};

// How the model runs, as opposed to what it is (ModelConfig).
struct ExecutionOptions {
  // Keep one shared buffer for the MLP's activation output (B·T·hidden, the largest per-layer
  // activation) and recompute it from the stored pre-activation in the backward.
  bool recompute_mlp = false;
  // The flat buffers are padded with zeros to a multiple of this many elements: sharding them
  // over W ranks (ZeRO) needs equal slices.
  std::int64_t flat_multiple = 1;
};

// Called by backward() each time the gradients of [begin, end) of the flat buffer are final for
// this micro-batch, in the order they finish (last layer first), so they can travel to the other
// ranks while the backward goes on.
using GradReadyFn = std::function<void(std::int64_t begin, std::int64_t end)>;

struct ForwardOptions {
  bool training = false;          // enables dropout
  std::uint64_t dropout_key = 0;  // distinct per micro-batch, so every mask is new but reproducible
  // > 0: also write d(objective)/d(logits) in place of the logits, where the objective is
  // Σ_positions loss · loss_scale, ready for backward(). 0: forward only.
  double loss_scale = 0;
};

class KVCache;

class GPT {
 public:
  GPT(const ModelConfig& config, Backend& backend, ExecutionOptions execution = {});

  const ModelConfig& config() const { return config_; }
  const ParamTable& table() const { return table_; }
  Backend& backend() const { return *backend_; }

  // Elements of each flat buffer: table().buffer_numel() rounded up to flat_multiple.
  std::int64_t flat_numel() const { return flat_numel_; }
  // The flat buffers (flat_numel() elements) and views of one tensor: master
  // parameters and gradients in the backend's param_dtype, and the compute copy of the weights
  // the ops read, in its act_dtype (the same memory as the masters when the dtypes agree).
  Tensor params() const { return flat(params_, param_dtype()); }
  Tensor grads() const { return flat(grads_, param_dtype()); }
  Tensor weights() const { return flat(weights_buffer(), act_dtype()); }
  Tensor param(const ParamInfo& p) const { return tensor_in(params_.get(), param_dtype(), p); }
  Tensor grad(const ParamInfo& p) const { return tensor_in(grads_.get(), param_dtype(), p); }
  Tensor weight(const ParamInfo& p) const { return tensor_in(weights_buffer().get(), act_dtype(), p); }
  Tensor param(const std::string& name) const { return param(table_.at(name)); }
  Tensor grad(const std::string& name) const { return grad(table_.at(name)); }
  Tensor weight(const std::string& name) const { return weight(table_.at(name)); }

  // Copies the masters into the compute weights; call after every change to params().
  void refresh_weights();

  // GPT-2's initialisation: N(0, 0.02) weights, residual projections scaled by 1/√(2·n_layer) (or
  // zero with zero_init_projections),
  // zero biases, unit LayerNorm gains, zero padding rows. Element i of tensor `name` is a pure
  // function of (seed, name, i), so it does not depend on threads or backend.
  void init_weights(std::uint64_t seed);
  void zero_grads();

  // Returns the mean loss over B·T positions (0 when batch.targets is null).
  double forward(const Batch& batch, const ForwardOptions& options);
  // Inference with a KV cache (dropout off, nothing kept for a backward): runs tokens (B, T),
  // B = cache.batch(), at positions [cache.length(), cache.length() + T) and appends their keys
  // and values to the cache. Returns the logits of each row's last token (B, vocab_size), or of
  // every new token (B, T, vocab_size) with all_positions; they live in the cache's scratch until
  // its next use. A prompt goes in as one call (the prefill), then one token per call.
  Tensor forward_cached(const std::int32_t* tokens, std::int64_t T, KVCache& cache, bool all_positions = false);
  // Accumulates parameter gradients of the last forward's objective (needs loss_scale > 0).
  // `ready`, if given, hears of every range of the flat buffer whose gradients are complete; the
  // ranges cover [0, flat_numel()) exactly once.
  void backward(const GradReadyFn& ready = {});

  // Bytes of the one activation buffer for micro-batches of B sequences of T tokens, and of the
  // flat parameter-shaped buffers (masters, gradients, compute weights when separate).
  std::size_t activation_bytes(std::int64_t B, std::int64_t T) const;
  std::size_t parameter_buffer_bytes() const { return params_.bytes() + grads_.bytes() + weights_.bytes(); }

  // Logits (B, T, vocab_size) of the last forward; a training forward overwrote them with
  // their gradient.
  Tensor logits() const { return acts_.logits; }

 private:
  using Layer = LayerActivations;
  using Activations = TrainingActivations;
  using Norm = NormActivations;
  using Step = InferenceStep;

  // The blocks and the final norm, written once for training and inference: layer_at(l) gives
  // layer l's buffers, residual(l) the stream entering layer l (residual(n_layer) leaves the last),
  // attend(l, y) writes y.atty from y.qkv (QK-norm and RoPE applied, the first token at position0).
  template <class LayerAt, class ResidualAt, class Attend>
  void blocks_forward(LayerAt layer_at, ResidualAt residual, Tensor proj, const Norm& final_norm, bool dropout,
                      std::int64_t position0, Attend attend);
  // out = Norm(a), or Norm(residual = a + b) when b is given; prefix names the norm ("h.3.ln_2", "ln_f").
  void norm_forward(const Norm& out, Tensor residual, Tensor a, Tensor b, const std::string& prefix);
  // dx += the norm's input gradient; its parameter gradients accumulate.
  void norm_backward(Tensor dx, Tensor dout, Tensor x, const Norm& saved, const std::string& prefix);
  // logits = cap · tanh(logits / cap) when the model has a soft-cap, in place.
  void cap_logits(Tensor logits);
  Tensor positions_weight() const;  // wpe, or empty with RoPE
  // Throws std::invalid_argument for an id outside [0, vocab_size): the embedding would read past wte.
  void check_tokens(const std::int32_t* tokens, std::int64_t n) const;
  DType param_dtype() const { return backend_->param_dtype(); }
  DType act_dtype() const { return backend_->act_dtype(); }
  const Buffer& weights_buffer() const { return weights_.get() ? weights_ : params_; }
  Tensor flat(const Buffer& b, DType dtype) const;
  const ParamInfo& lm_head() const;
  void ensure_activations(std::int64_t B, std::int64_t T);
  // The sizes of the training arena (core/model/activation_layout.h) for B x T, and of an inference step's.
  ArenaDims<std::int64_t> arena_dims(std::int64_t B, std::int64_t T) const;
  bool dropout_on() const { return last_.training && config_.dropout > 0; }
  std::uint64_t dropout_site(std::uint64_t site) const;
  void mlp_activation(const Layer& y);  // y.act = gelu, swiglu or relu2 of y.fch
  void mlp_activation_backward(const Layer& y, Tensor dfch, Tensor dact);

  ModelConfig config_;
  ExecutionOptions execution_;
  Backend* backend_;
  ParamTable table_;
  std::int64_t flat_numel_ = 0;
  Buffer params_, grads_;
  Buffer weights_;  // allocated only when act_dtype differs from param_dtype
  Buffer act_buffer_;
  Activations acts_;
  ForwardOptions last_;
};

}  // namespace gpt
