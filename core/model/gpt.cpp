#include "core/model/gpt.h"

#include <omp.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/fnv.h"
#include "core/model/kv_cache.h"
#include "core/rng.h"

namespace gpt {
namespace {

// Hands out consecutive tensors, each on kArenaAlign, from one allocation; with a null base it only
// counts.
class Arena {
 public:
  Arena(char* base, DType act, DType stats) : base_(base), act_(act), stats_(stats) {}
  Tensor take(std::initializer_list<std::int64_t> dims, ArenaKind kind) {
    const DType dtype = kind == ArenaKind::act ? act_ : kind == ArenaKind::stats ? stats_ : DType::i32;
    Tensor t(base_ ? base_ + used_ : reinterpret_cast<char*>(kArenaAlign), dtype, dims);
    used_ += (t.bytes() + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
    return t;
  }
  std::size_t used() const { return used_; }

 private:
  char* base_;
  DType act_, stats_;
  std::size_t used_ = 0;
};

// The Sink of lay_out_training / lay_out_inference_step that fills `target`'s tensors from an Arena.
template <class Target>
class ArenaFiller {
 public:
  ArenaFiller(Target& target, Arena& arena) : target_(target), arena_(arena) {}
  template <class Slot>
  void take(Slot&& slot, std::initializer_list<std::int64_t> dims, ArenaKind kind) {
    slot(target_) = arena_.take(dims, kind);
  }
  template <class Slot, class From>
  void share(Slot&& slot, From&& from) {
    slot(target_) = from(target_);
  }
  template <class Body>
  void repeat(std::int64_t count, Body&& body) {
    for (std::int64_t i = 0; i < count; ++i) body(i);
  }

 private:
  Target& target_;
  Arena& arena_;
};

}  // namespace

GPT::GPT(const ModelConfig& config, Backend& backend, ExecutionOptions execution)
    : config_(config), execution_(execution), backend_(&backend), table_(config) {
  config_.validate();
  if (execution_.flat_multiple < 1) throw std::invalid_argument("flat_multiple must be at least 1");
  flat_numel_ =
      (table_.buffer_numel() + execution_.flat_multiple - 1) / execution_.flat_multiple * execution_.flat_multiple;
  const auto numel = static_cast<std::size_t>(flat_numel_);
  params_ = Buffer(backend, numel * dtype_size(param_dtype()));
  grads_ = Buffer(backend, numel * dtype_size(param_dtype()));
  if (act_dtype() != param_dtype()) weights_ = Buffer(backend, numel * dtype_size(act_dtype()));
}

Tensor GPT::flat(const Buffer& b, DType dtype) const {
  return Tensor(b.get(), dtype, {flat_numel_});
}

const ParamInfo& GPT::lm_head() const {
  return table_.at(config_.tie_embeddings ? "wte.weight" : "lm_head.weight");
}

void GPT::refresh_weights() {
  if (weights_.get()) backend_->convert(weights(), params());
}

void GPT::init_weights(std::uint64_t seed) {
  const double std_normal = 0.02;
  const double std_residual = 0.02 / std::sqrt(2.0 * static_cast<double>(config_.n_layer));
  std::vector<float> host;
  backend_->zero(params());  // alignment gaps and padding too: checksums cover the whole buffer
  // The backend's host threads (the CPU backend's own count); OpenMP's default when it has none.
  const int threads = backend_->host_threads() > 0 ? backend_->host_threads() : omp_get_max_threads();
  for (const ParamInfo& p : table_.entries()) {
    host.assign(static_cast<std::size_t>(p.numel), 0.0f);
    const std::uint64_t key = rng::derive(seed, fnv1a::bytes(p.name));
    if (p.init == ParamInit::ones) {
      host.assign(host.size(), 1.0f);
    } else if (p.init == ParamInit::normal || p.init == ParamInit::residual_normal) {
      const double stddev = p.init == ParamInit::normal ? std_normal : std_residual;
      // Rows past the real vocabulary (wte, lm_head) are padding: they stay zero.
      std::int64_t live = p.numel;
      if (p.name == "wte.weight" || p.name == "lm_head.weight") live = config_.real_vocab_size * p.shape[1];
#pragma omp parallel for schedule(static) num_threads(threads) if (live >= 4096)
      for (std::int64_t i = 0; i < live; ++i)
        host[static_cast<std::size_t>(i)] =
            static_cast<float>(stddev * rng::normal(key, static_cast<std::uint64_t>(i)));
    }
    backend_->upload(param(p), host.data());
  }
  refresh_weights();
  zero_grads();
}

void GPT::zero_grads() {
  backend_->zero(grads());
}

ArenaDims<std::int64_t> GPT::arena_dims(std::int64_t B, std::int64_t T) const {
  const std::int64_t H = config_.hidden();
  return {.B = B,
          .T = T,
          .C = config_.n_embd,
          .H = H,
          .fc_out = config_.activation == Activation::swiglu ? 2 * H : H,
          .V = config_.vocab_size,
          .n_layer = config_.n_layer,
          .attention_saved = backend_->attention_saved_numel(B, T, config_.n_head),
          .qk_norm_heads = config_.qk_norm ? 2 * config_.n_head : 0,
          .recompute_mlp = execution_.recompute_mlp};
}

std::size_t GPT::activation_bytes(std::int64_t B, std::int64_t T) const {
  TrainingActivations a;
  Arena counter(nullptr, act_dtype(), param_dtype());
  ArenaFiller filler(a, counter);
  a.residual.resize(static_cast<std::size_t>(config_.n_layer) + 1);
  a.layers.resize(static_cast<std::size_t>(config_.n_layer));
  lay_out_training(arena_dims(B, T), filler);
  return counter.used();
}

void GPT::ensure_activations(std::int64_t B, std::int64_t T) {
  if (B == acts_.B && T == acts_.T) return;
  if (B <= 0 || T <= 0 || T > config_.block_size)
    throw std::invalid_argument("batch shape (" + std::to_string(B) + ", " + std::to_string(T) +
                                ") does not fit block_size " + std::to_string(config_.block_size));
  act_buffer_ = Buffer();  // free the old one before taking the new one
  act_buffer_ = Buffer(*backend_, activation_bytes(B, T));
  TrainingActivations a;
  a.B = B;
  a.T = T;
  a.residual.resize(static_cast<std::size_t>(config_.n_layer) + 1);
  a.layers.resize(static_cast<std::size_t>(config_.n_layer));
  Arena arena(static_cast<char*>(act_buffer_.get()), act_dtype(), param_dtype());
  ArenaFiller filler(a, arena);
  lay_out_training(arena_dims(B, T), filler);
  acts_ = std::move(a);
}

std::uint64_t GPT::dropout_site(std::uint64_t site) const {
  return rng::derive(last_.dropout_key, site);
}

void GPT::mlp_activation(const Layer& y) {
  switch (config_.activation) {
    case Activation::gelu:
      return backend_->gelu_forward(y.act, y.fch);
    case Activation::swiglu:
      return backend_->swiglu_forward(y.act, y.fch);
    case Activation::relu2:
      return backend_->relu2_forward(y.act, y.fch);
  }
}

void GPT::mlp_activation_backward(const Layer& y, Tensor dfch, Tensor dact) {
  switch (config_.activation) {
    case Activation::gelu:
      return backend_->gelu_backward(dfch, dact, y.fch);
    case Activation::swiglu:
      return backend_->swiglu_backward(dfch, dact, y.fch);
    case Activation::relu2:
      return backend_->relu2_backward(dfch, dact, y.fch);
  }
}

void GPT::norm_forward(const Norm& out, Tensor residual, Tensor a, Tensor b, const std::string& prefix) {
  Backend& be = *backend_;
  const Tensor w = weight(prefix + ".weight");
  if (config_.norm == NormKind::rmsnorm) {
    if (b.empty()) return be.rmsnorm_forward(out.out, out.rstd, a, w);
    return be.residual_rmsnorm_forward(residual, out.out, out.rstd, a, b, w);
  }
  const Tensor bias = config_.bias ? weight(prefix + ".bias") : Tensor();
  if (b.empty()) return be.layernorm_forward(out.out, out.mean, out.rstd, a, w, bias);
  be.residual_layernorm_forward(residual, out.out, out.mean, out.rstd, a, b, w, bias);
}

void GPT::norm_backward(Tensor dx, Tensor dout, Tensor x, const Norm& saved, const std::string& prefix) {
  Backend& be = *backend_;
  const Tensor w = weight(prefix + ".weight");
  if (config_.norm == NormKind::rmsnorm)
    return be.rmsnorm_backward(dx, grad(prefix + ".weight"), dout, x, w, saved.rstd);
  be.layernorm_backward(dx, grad(prefix + ".weight"), config_.bias ? grad(prefix + ".bias") : Tensor(), dout, x, w,
                        saved.mean, saved.rstd);
}

Tensor GPT::positions_weight() const {
  return config_.positions == Positions::learned ? weight("wpe.weight") : Tensor();
}

void GPT::check_tokens(const std::int32_t* tokens, std::int64_t n) const {
  for (std::int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size)
      throw std::invalid_argument("token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
}

template <class LayerAt, class ResidualAt, class Attend>
void GPT::blocks_forward(LayerAt layer_at, ResidualAt residual, Tensor proj, const Norm& final_norm, bool dropout,
                         std::int64_t position0, Attend attend) {
  Backend& be = *backend_;
  const int NH = static_cast<int>(config_.n_head);
  auto bias = [&](std::int64_t l, const char* name) { return config_.bias ? weight(layer_param(l, name)) : Tensor(); };
  auto drop = [&](Tensor t, std::uint64_t site) {
    if (dropout) be.dropout_forward(t, t, config_.dropout, dropout_site(site));
  };
  auto ln1 = [](const Layer& y) { return Norm{y.ln1, y.ln1_mean, y.ln1_rstd}; };
  // Each residual add is fused with the norm that reads its result: ln_2 of the same layer, ln_1
  // of the next one, and ln_f after the last.
  norm_forward(ln1(layer_at(0)), Tensor(), residual(0), Tensor(), layer_param(0, "ln_1"));
  for (std::int64_t l = 0; l < config_.n_layer; ++l) {
    const Layer& y = layer_at(l);
    const std::uint64_t site = 1 + 2 * static_cast<std::uint64_t>(l);
    be.matmul_forward(y.qkv, y.ln1, weight(layer_param(l, "attn.c_attn.weight")), bias(l, "attn.c_attn.bias"));
    if (config_.qk_norm) be.qk_norm_forward(y.qkv, y.qk_rstd, NH);
    if (config_.positions == Positions::rope) be.rope_forward(y.qkv, NH, position0, config_.rope_base);
    attend(l, y);
    be.matmul_forward(proj, y.atty, weight(layer_param(l, "attn.c_proj.weight")), bias(l, "attn.c_proj.bias"));
    drop(proj, site);
    norm_forward(Norm{y.ln2, y.ln2_mean, y.ln2_rstd}, y.resid_mid, residual(l), proj, layer_param(l, "ln_2"));
    be.matmul_forward(y.fch, y.ln2, weight(layer_param(l, "mlp.c_fc.weight")), bias(l, "mlp.c_fc.bias"));
    mlp_activation(y);
    be.matmul_forward(proj, y.act, weight(layer_param(l, "mlp.c_proj.weight")), bias(l, "mlp.c_proj.bias"));
    drop(proj, site + 1);
    // In inference every layer has the same buffers: layer l's ln_1 is no longer needed here.
    if (l + 1 < config_.n_layer)
      norm_forward(ln1(layer_at(l + 1)), residual(l + 1), y.resid_mid, proj, layer_param(l + 1, "ln_1"));
    else
      norm_forward(final_norm, residual(l + 1), y.resid_mid, proj, "ln_f");
  }
}

void GPT::cap_logits(Tensor logits) {
  if (config_.logit_softcap > 0) backend_->softcap_forward(logits, logits, config_.logit_softcap);
}

double GPT::forward(const Batch& batch, const ForwardOptions& options) {
  if (options.loss_scale > 0 && !batch.targets) throw std::logic_error("a training forward needs targets");
  check_tokens(batch.inputs, batch.B * batch.T);
  ensure_activations(batch.B, batch.T);
  last_ = options;
  Backend& be = *backend_;
  Activations& a = acts_;
  const int NH = static_cast<int>(config_.n_head);
  const std::size_t token_bytes = static_cast<std::size_t>(batch.B * batch.T) * sizeof(std::int32_t);
  be.upload_bytes(a.inputs.ptr, batch.inputs, token_bytes);
  // Targets go up now too: uploads wait for the stream, and here it is idle anyway.
  if (batch.targets) be.upload_bytes(a.targets.ptr, batch.targets, token_bytes);

  be.embedding_forward(a.residual[0], a.inputs, weight("wte.weight"), positions_weight());
  if (dropout_on()) be.dropout_forward(a.residual[0], a.residual[0], config_.dropout, dropout_site(0));
  blocks_forward([&](std::int64_t l) -> const Layer& { return a.layers[static_cast<std::size_t>(l)]; },
                 [&](std::int64_t l) { return a.residual[static_cast<std::size_t>(l)]; }, a.proj,
                 Norm{a.lnf, a.lnf_mean, a.lnf_rstd}, dropout_on(), 0,
                 [&](std::int64_t, const Layer& y) { be.attention_forward(y.atty, y.att_saved, y.qkv, NH); });
  be.matmul_forward(a.logits, a.lnf, weight(lm_head()), Tensor());

  // The loss caps the raw logits itself (in fp32, and differentiates through the cap); logits()
  // holds capped ones whenever it holds logits.
  if (!batch.targets) {
    cap_logits(a.logits);
    return 0.0;
  }
  be.cross_entropy(a.losses, options.loss_scale > 0 ? a.logits : Tensor(), a.logits, a.targets, config_.real_vocab_size,
                   options.loss_scale, config_.logit_softcap);
  if (!(options.loss_scale > 0)) cap_logits(a.logits);
  return be.sum(a.losses) / static_cast<double>(batch.B * batch.T);
}

Tensor GPT::forward_cached(const std::int32_t* tokens, std::int64_t T, KVCache& cache, bool all_positions) {
  const std::int64_t B = cache.batch(), position = cache.length(), C = config_.n_embd;
  if (&cache.backend() != backend_ || cache.n_layer() != config_.n_layer || cache.width() != C)
    throw std::logic_error("forward_cached: the cache was made for another model");
  if (T <= 0 || position + T > cache.capacity())
    throw std::invalid_argument(std::to_string(T) + " new tokens after " + std::to_string(position) +
                                " do not fit the KV cache's " + std::to_string(cache.capacity()) + " positions");
  check_tokens(tokens, B * T);
  Backend& be = *backend_;
  // The step's tensors, laid out in the cache's scratch (kept between calls of the same size).
  ArenaDims<std::int64_t> dims = arena_dims(B, T);
  dims.all_positions = all_positions;
  auto lay_out = [&](char* base) {
    Arena arena(base, act_dtype(), param_dtype());
    Step s;
    ArenaFiller filler(s, arena);
    lay_out_inference_step(dims, filler);
    return std::pair{s, arena.used()};
  };
  const std::size_t bytes = lay_out(nullptr).second;
  if (cache.scratch_.bytes() < bytes) {
    cache.scratch_ = Buffer();
    cache.scratch_ = Buffer(be, bytes);
  }
  const Step s = lay_out(static_cast<char*>(cache.scratch_.get())).first;

  be.upload_bytes(s.tokens.ptr, tokens, static_cast<std::size_t>(B * T) * sizeof(std::int32_t));
  be.embedding_forward(s.residual, s.tokens, weight("wte.weight"), positions_weight(), position);
  const int NH = static_cast<int>(config_.n_head);
  blocks_forward([&](std::int64_t) -> const Layer& { return s.layer; }, [&](std::int64_t) { return s.residual; },
                 s.proj, s.lnf, false, position,
                 [&](std::int64_t l, const Layer& y) {
                   be.kv_cache_write(cache.keys(l), cache.values(l), y.qkv, position);
                   be.cached_attention_forward(y.atty, y.qkv, cache.keys(l), cache.values(l), position, NH);
                 });
  cache.length_ = position + T;
  Tensor head_input = s.lnf.out.view({B * T, C});
  if (!all_positions && T > 1) {
    // Each sequence's last position only: the LM head is the largest matmul.
    std::vector<std::int32_t> last(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) last[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(b * T + T - 1);
    be.gather_rows(s.last, s.lnf.out.view({B * T, 1, C}), last, 1);
    head_input = s.last.view({B, C});
  }
  be.matmul_forward(s.logits, head_input, weight(lm_head()), Tensor());
  cap_logits(s.logits);
  return s.logits;
}

void GPT::backward(const GradReadyFn& ready) {
  if (!(last_.loss_scale > 0)) throw std::logic_error("backward() needs a forward with loss_scale > 0");
  Backend& be = *backend_;
  // The table is wte, wpe, h.0 ... h.{L-1}, ln_f[, lm_head]: layer l spans from its ln_1 to the
  // next layer's ln_1 (ln_f after the last), and wte/wpe (tied: also the LM head) finish last.
  auto layer_start = [&](std::int64_t l) {
    return l < config_.n_layer ? table_.at(layer_param(l, "ln_1.weight")).offset : table_.at("ln_f.weight").offset;
  };
  auto notify = [&](std::int64_t begin, std::int64_t end) {
    if (ready && end > begin) ready(begin, end);
  };
  Activations& a = acts_;
  const int NH = static_cast<int>(config_.n_head);
  auto dbias = [&](std::int64_t l, const char* name) { return config_.bias ? grad(layer_param(l, name)) : Tensor(); };
  // The gradient reaching a residual branch: through the dropout mask if there is one.
  auto branch_grad = [&](std::uint64_t site) {
    if (!dropout_on()) return a.dresid;
    be.dropout_backward(a.dproj, a.dresid, config_.dropout, dropout_site(site));
    return a.dproj;
  };

  // a.logits holds dloss/dlogits (written by the training forward).
  be.matmul_backward(a.dln, grad(lm_head()), Tensor(), a.logits, a.lnf, weight(lm_head()));
  be.zero(a.dresid);
  norm_backward(a.dresid, a.dln, a.residual[config_.n_layer], Norm{a.lnf, a.lnf_mean, a.lnf_rstd}, "ln_f");
  notify(layer_start(config_.n_layer), flat_numel_);  // ln_f, the untied LM head, the padding

  for (std::int64_t l = config_.n_layer - 1; l >= 0; --l) {
    Layer& y = a.layers[static_cast<std::size_t>(l)];
    const std::uint64_t site = 1 + 2 * static_cast<std::uint64_t>(l);
    // residual[l+1] = resid_mid + mlp(ln_2(resid_mid)): dresid flows to both.
    if (execution_.recompute_mlp) mlp_activation(y);
    be.matmul_backward(a.dact, grad(layer_param(l, "mlp.c_proj.weight")), dbias(l, "mlp.c_proj.bias"),
                       branch_grad(site + 1), y.act, weight(layer_param(l, "mlp.c_proj.weight")));
    mlp_activation_backward(y, a.dfch, a.dact);
    be.matmul_backward(a.dln, grad(layer_param(l, "mlp.c_fc.weight")), dbias(l, "mlp.c_fc.bias"), a.dfch, y.ln2,
                       weight(layer_param(l, "mlp.c_fc.weight")));
    norm_backward(a.dresid, a.dln, y.resid_mid, Norm{y.ln2, y.ln2_mean, y.ln2_rstd}, layer_param(l, "ln_2"));
    // resid_mid = residual[l] + attn(ln_1(residual[l])).
    be.matmul_backward(a.datty, grad(layer_param(l, "attn.c_proj.weight")), dbias(l, "attn.c_proj.bias"),
                       branch_grad(site), y.atty, weight(layer_param(l, "attn.c_proj.weight")));
    be.attention_backward(a.dqkv, a.datty, y.qkv, y.atty, y.att_saved, NH);
    // qkv holds the normalised and rotated q and k: QK-norm's backward runs in the rotated space
    // (it commutes with the rotation), then RoPE's turns the gradient back.
    if (config_.qk_norm) be.qk_norm_backward(a.dqkv, y.qkv, y.qk_rstd, NH);
    if (config_.positions == Positions::rope) be.rope_backward(a.dqkv, NH, config_.rope_base);
    be.matmul_backward(a.dln, grad(layer_param(l, "attn.c_attn.weight")), dbias(l, "attn.c_attn.bias"), a.dqkv, y.ln1,
                       weight(layer_param(l, "attn.c_attn.weight")));
    norm_backward(a.dresid, a.dln, a.residual[l], Norm{y.ln1, y.ln1_mean, y.ln1_rstd}, layer_param(l, "ln_1"));
    notify(layer_start(l), layer_start(l + 1));
  }
  if (dropout_on()) be.dropout_backward(a.dresid, a.dresid, config_.dropout, dropout_site(0));
  be.embedding_backward(grad("wte.weight"), config_.positions == Positions::learned ? grad("wpe.weight") : Tensor(),
                        a.dresid, a.inputs);
  notify(0, layer_start(0));
}

}  // namespace gpt
