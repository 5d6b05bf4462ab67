#pragma once
// The op interface. The GPT model (core/model) is written once against it; a backend implements
// the numerics and holds no model logic. Conventions shared by every op:
//   * Matrices are row-major; a linear layer's weight is (out_features, in_features), as in
//     torch.nn.Linear, so y = x · Wᵀ + b.
//   * Two element types: act_dtype for activations, their gradients and the compute copy of the
//     weights that ops read; param_dtype for master parameters, parameter gradients, optimizer
//     moments and per-row statistics (LayerNorm mean/rstd, losses, attention's saved state).
//     They are equal on the CPU; the CUDA backend computes in bf16 with fp32 masters. Token ids
//     and targets are i32.
//   * Parameter gradients always accumulate (+=), so micro-batches add up without extra passes.
//   * Activation gradients are overwritten, except layernorm_backward, which accumulates into dx
//     because its dx is the residual stream's gradient.
//   * An empty Tensor stands for "absent" (no bias, no gradient wanted).
//
// Every op is a pair. The public, non-virtual `op(...)` is what callers use: it checks the
// arguments' shapes and element types, once for every backend (the checks sit under each op's
// comment below), then calls the private virtual `do_op(...)` with the same arguments, which a
// backend overrides with the numerics alone. A check that only one backend needs (a kernel's
// limit, an alignment) stays in that backend's do_op, with a comment saying why. A refused call
// throws std::logic_error("<family> backend: <what>"), family being name() up to its first '-'
// ("cpu", "cuda"): shape mistakes are programming errors in the caller (the model), not input.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "core/tensor.h"

namespace gpt {

struct AdamWStep {
  double lr = 0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0;  // decoupled: param -= lr * weight_decay * param
  double grad_scale = 1;    // multiplies the gradient first (clipping)
  std::int64_t step = 1;    // 1-based, for bias correction
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // The hardware, as it names itself ("NVIDIA H100 80GB HBM3", the CPU's model name): for the
  // startup summary and for looking up a datasheet peak.
  virtual std::string device_name() const = 0;
  virtual DType param_dtype() const = 0;
  virtual DType act_dtype() const = 0;
  // True when the backend's buffers are ordinary host memory the caller may read directly
  // (checkpoints then skip a copy).
  virtual bool host_memory() const { return false; }
  // Threads for the host loops that prepare this backend's data (the model's weight
  // initialisation): the CPU backend's own count; 0, OpenMP's default, for the others.
  virtual int host_threads() const { return 0; }

  // ---- memory ----
  // Bytes this backend could still allocate (the host's available memory, a device's free
  // memory); 0 when it cannot tell. Read before a run allocates, to refuse what cannot fit.
  virtual std::size_t available_memory() const { return 0; }
  virtual void* allocate(std::size_t bytes) = 0;  // zero-filled, 256-byte aligned
  virtual void release(void* ptr) noexcept = 0;
  virtual void upload(Tensor dst, const float* src) = 0;  // converts to dst.dtype
  virtual void download(Tensor src, float* dst) = 0;      // converts from src.dtype
  virtual void upload_bytes(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void download_bytes(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void zero(Tensor t) = 0;
  // dst = src, element by element, converted to dst.dtype (which pairs of types: the backend's).
  void convert(Tensor dst, Tensor src) {
    require(dst.numel() == src.numel(), "convert shapes");
    do_convert(dst, src);
  }
  virtual void synchronize() {}

  // ---- ops ----
  // out(B,T,C) = wte[tokens(B,T)] + wpe[position0 .. position0+T): a KV-cached forward starts
  // its new tokens at the cache's length. wpe is empty for a model without learned positions
  // (RoPE), and dwpe then too.
  void embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0 = 0) {
    require(tokens.ndim == 2 && out.numel() == tokens.numel() * wte.dim(1), "embedding_forward shapes");
    require(position0 >= 0 && (wpe.empty() || position0 + tokens.dim(1) <= wpe.dim(0)),
            "embedding_forward: sequence longer than wpe");
    require(of_type(act_dtype(), {out, wte, wpe}) && of_type(DType::i32, {tokens}), "embedding_forward dtypes");
    do_embedding_forward(out, tokens, wte, wpe, position0);
  }
  // dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += Σ_b dout[b,t]. Deterministic order.
  void embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
    require(tokens.ndim == 2 && dout.numel() == tokens.numel() * dwte.dim(1), "embedding_backward shapes");
    require(of_type(param_dtype(), {dwte, dwpe}) && of_type(act_dtype(), {dout}) && of_type(DType::i32, {tokens}),
            "embedding_backward dtypes");
    do_embedding_backward(dwte, dwpe, dout, tokens);
  }

  // LayerNorm over the last dimension (eps 1e-5); mean and rstd (one per row) are saved for the
  // backward. bias may be empty.
  void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) {
    const std::int64_t C = x.dim(-1), N = rows_of(x);
    require(weight.numel() == C && mean.numel() == N && rstd.numel() == N && out.numel() == x.numel(),
            "layernorm_forward shapes");
    require(of_type(act_dtype(), {out, x, weight, bias}) && of_type(param_dtype(), {mean, rstd}),
            "layernorm_forward dtypes");
    do_layernorm_forward(out, mean, rstd, x, weight, bias);
  }
  // residual = a + b, then out = LayerNorm(residual): a residual add fused with the LayerNorm that
  // follows it, which saves a pass over the residual stream. The default composes add() and
  // layernorm_forward(); a backend that fuses them must give the same result. (The backward
  // needs no counterpart: layernorm_backward already accumulates into the residual's gradient.)
  void residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                  Tensor weight, Tensor bias) {
    const std::int64_t C = a.dim(-1), N = rows_of(a);
    require(b.numel() == a.numel() && residual.numel() == a.numel() && out.numel() == a.numel() &&
                weight.numel() == C && mean.numel() == N && rstd.numel() == N,
            "residual_layernorm_forward shapes");
    require(of_type(act_dtype(), {residual, out, a, b, weight, bias}) && of_type(param_dtype(), {mean, rstd}),
            "residual_layernorm_forward dtypes");
    do_residual_layernorm_forward(residual, out, mean, rstd, a, b, weight, bias);
  }
  // dx += ...; dweight += ...; dbias += ... (dbias may be empty).
  void layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight, Tensor mean,
                          Tensor rstd) {
    const std::int64_t C = x.dim(-1);
    require(dx.numel() == x.numel() && dout.numel() == x.numel() && dweight.numel() == C, "layernorm_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x, weight}) && of_type(param_dtype(), {dweight, dbias, mean, rstd}),
            "layernorm_backward dtypes");
    do_layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd);
  }

  // RMSNorm over the last dimension (eps 1e-5): out = x · rstd · weight with rstd = 1/√(mean(x²) + eps),
  // one per row, saved for the backward. No bias.
  void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) {
    const std::int64_t C = x.dim(-1), N = rows_of(x);
    require(weight.numel() == C && rstd.numel() == N && out.numel() == x.numel(), "rmsnorm_forward shapes");
    require(of_type(act_dtype(), {out, x, weight}) && of_type(param_dtype(), {rstd}), "rmsnorm_forward dtypes");
    do_rmsnorm_forward(out, rstd, x, weight);
  }
  // residual = a + b, then out = RMSNorm(residual), as residual_layernorm_forward.
  void residual_rmsnorm_forward(Tensor residual, Tensor out, Tensor rstd, Tensor a, Tensor b, Tensor weight) {
    const std::int64_t C = a.dim(-1), N = rows_of(a);
    require(b.numel() == a.numel() && residual.numel() == a.numel() && out.numel() == a.numel() &&
                weight.numel() == C && rstd.numel() == N,
            "residual_rmsnorm_forward shapes");
    require(of_type(act_dtype(), {residual, out, a, b, weight}) && of_type(param_dtype(), {rstd}),
            "residual_rmsnorm_forward dtypes");
    do_residual_rmsnorm_forward(residual, out, rstd, a, b, weight);
  }
  // dx += rstd · (g − x̂ · mean(g · x̂)) with g = dout · weight, x̂ = x · rstd; dweight += Σ_rows dout · x̂.
  void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
    const std::int64_t C = x.dim(-1), N = rows_of(x);
    require(dx.numel() == x.numel() && dout.numel() == x.numel() && dweight.numel() == C && rstd.numel() == N,
            "rmsnorm_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x, weight}) && of_type(param_dtype(), {dweight, rstd}),
            "rmsnorm_backward dtypes");
    do_rmsnorm_backward(dx, dweight, dout, x, weight, rstd);
  }

  // out(N,OC) = x(N,IC) · weight(OC,IC)ᵀ + bias(OC). bias may be empty.
  void matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
    const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
    require(weight.dim(1) == IC && out.numel() == N * OC && (bias.empty() || bias.numel() == OC),
            "matmul_forward shapes");
    require(of_type(act_dtype(), {out, x, weight, bias}), "matmul_forward dtypes");
    do_matmul_forward(out, x, weight, bias);
  }
  // dx = dout · weight (skipped if dx is empty); dweight += doutᵀ · x; dbias += Σ_rows dout.
  void matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) {
    const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
    require(dout.numel() == N * OC && dweight.numel() == OC * IC && (dx.empty() || dx.numel() == N * IC),
            "matmul_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x, weight}) && of_type(param_dtype(), {dweight, dbias}),
            "matmul_backward dtypes");
    do_matmul_backward(dx, dweight, dbias, dout, x, weight);
  }

  // Causal multi-head self-attention. qkv(B,T,3C) holds q, k, v side by side, each (n_head, C/n_head)
  // within its C; out(B,T,C). `saved` (attention_saved_numel elements) keeps what the backward needs.
  virtual std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T, std::int64_t n_head) const = 0;
  void attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) {
    const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3;
    require(qkv.ndim == 3 && out.numel() == B * T * C && n_head > 0 && C % n_head == 0 &&
                saved.numel() >= attention_saved_numel(B, T, n_head),
            "attention_forward shapes");
    require(of_type(act_dtype(), {out, qkv}) && of_type(param_dtype(), {saved}), "attention_forward dtypes");
    do_attention_forward(out, saved, qkv, n_head);
  }
  void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) {
    const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3;
    require(qkv.ndim == 3 && dqkv.numel() == qkv.numel() && dout.numel() == B * T * C && n_head > 0 && C % n_head == 0,
            "attention_backward shapes");
    require(of_type(act_dtype(), {dqkv, dout, qkv, out}) && of_type(param_dtype(), {saved}),
            "attention_backward dtypes");
    do_attention_backward(dqkv, dout, qkv, out, saved, n_head);
  }

  // QK-norm, in place on qkv (B,T,3C): every head's query and key (head_dim elements each)
  // divided by its RMS (eps 1e-5, no gain). rstd (B·T·2·n_head, param_dtype) is saved per token:
  // the n_head query heads, then the n_head key heads. Values pass unchanged.
  void qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) {
    const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3;
    require(qkv.ndim == 3 && qkv.dim(2) == 3 * C && n_head > 0 && C % n_head == 0 && rstd.numel() == B * T * 2 * n_head,
            "qk_norm_forward shapes");
    require(of_type(act_dtype(), {qkv}) && of_type(param_dtype(), {rstd}), "qk_norm_forward dtypes");
    do_qk_norm_forward(qkv, rstd, n_head);
  }
  // In place on dqkv's queries and keys: dq ← rstd · (dq − q̂ · mean(dq · q̂)) per head, q̂ read
  // from qkv (qk_norm_forward's output). qkv and dqkv may instead hold that output and its
  // gradient both rotated by RoPE: the formula commutes with a rotation of each head, so the
  // model runs it before rope_backward. Values' gradients pass unchanged.
  void qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) {
    const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3;
    require(qkv.ndim == 3 && dqkv.numel() == qkv.numel() && n_head > 0 && C % n_head == 0 &&
                rstd.numel() == B * T * 2 * n_head,
            "qk_norm_backward shapes");
    require(of_type(act_dtype(), {dqkv, qkv}) && of_type(param_dtype(), {rstd}), "qk_norm_backward dtypes");
    do_qk_norm_backward(dqkv, qkv, rstd, n_head);
  }

  // Rotary position embedding, in place on qkv's (B,T,3C) queries and keys: in each head of d
  // = head_dim elements, the pair (i, i + d/2), i < d/2, of the token at position p = position0 + t
  // rotates by the angle p · base^(−2i/d) (the half-split layout of GPT-NeoX and Hugging Face's
  // Llama). A KV-cached forward starts at the cache's length.
  void rope_forward(Tensor qkv, int n_head, std::int64_t position0, double base) {
    check_rope(qkv, n_head, position0, base);
    do_rope(qkv, n_head, position0, base, false);
  }
  // The backward: dqkv's query and key gradients rotated back (by −angle), positions from 0.
  void rope_backward(Tensor dqkv, int n_head, double base) {
    check_rope(dqkv, n_head, 0, base);
    do_rope(dqkv, n_head, 0, base, true);
  }

  // ---- inference with a KV cache ----
  // A layer's cache is two tensors k_cache, v_cache (B, S, C) of act_dtype: position s of row b
  // holds the key (value) of that row's token at position s, heads side by side as in qkv.
  //
  // k_cache[b, position + t] = k of qkv[b, t], v_cache likewise, for t < T (qkv: (B, T, 3C)).
  void kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, std::int64_t position) {
    require(qkv.ndim == 3 && k_cache.ndim == 3 && v_cache.ndim == 3 && qkv.dim(2) == 3 * k_cache.dim(2) &&
                k_cache.dim(0) == qkv.dim(0) && v_cache.shape == k_cache.shape && position >= 0 &&
                position + qkv.dim(1) <= k_cache.dim(1),
            "kv_cache_write shapes");
    require(of_type(act_dtype(), {k_cache, v_cache, qkv}), "kv_cache_write dtypes");
    do_kv_cache_write(k_cache, v_cache, qkv, position);
  }
  // Causal attention of T new queries over the cache: the query of qkv[b, t] (position
  // position + t) attends to cache positions 0 .. position + t, which kv_cache_write has filled
  // (its own among them). out(B, T, C). Nothing is saved: inference has no backward.
  void cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache, std::int64_t position,
                                int n_head) {
    const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3;
    require(qkv.ndim == 3 && k_cache.ndim == 3 && v_cache.ndim == 3 && v_cache.shape == k_cache.shape &&
                k_cache.dim(0) == B && k_cache.dim(2) == C && qkv.dim(2) == 3 * C && out.numel() == B * T * C &&
                n_head > 0 && C % n_head == 0 && position >= 0 && position + T <= k_cache.dim(1),
            "cached_attention_forward shapes");
    require(of_type(act_dtype(), {out, qkv, k_cache, v_cache}), "cached_attention_forward dtypes");
    do_cached_attention_forward(out, qkv, k_cache, v_cache, position, n_head);
  }
  // dst[i, s, :] = src[rows[i], s, :] for s < prefix: dst (rows.size(), S, R), src (N, S, R), rows
  // (host memory) in [0, N). Reorders beams' caches, copies a prompt's cache to every sample, picks
  // each sequence's last position. dst and src must not overlap.
  void gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, std::int64_t prefix) {
    require(dst.ndim == 3 && src.ndim == 3 && dst.dim(0) == static_cast<std::int64_t>(rows.size()) &&
                dst.dim(1) == src.dim(1) && dst.dim(2) == src.dim(2) && prefix >= 0 && prefix <= src.dim(1),
            "gather_rows shapes");
    require(dst.dtype == src.dtype, "gather_rows dtypes");
    for (std::int32_t r : rows) require(r >= 0 && r < src.dim(0), "gather_rows: row index out of range");
    do_gather_rows(dst, src, rows, prefix);
  }

  // GELU, GPT-2's tanh approximation.
  void gelu_forward(Tensor out, Tensor x) {
    require(out.numel() == x.numel(), "gelu_forward shapes");
    require(of_type(act_dtype(), {out, x}), "gelu_forward dtypes");
    do_gelu_forward(out, x);
  }
  void gelu_backward(Tensor dx, Tensor dout, Tensor x) {
    require(dx.numel() == x.numel() && dout.numel() == x.numel(), "gelu_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x}), "gelu_backward dtypes");
    do_gelu_backward(dx, dout, x);
  }
  // ReLU², out = max(x, 0)² (the speedrun's MLP activation).
  void relu2_forward(Tensor out, Tensor x) {
    require(out.numel() == x.numel(), "relu2_forward shapes");
    require(of_type(act_dtype(), {out, x}), "relu2_forward dtypes");
    do_relu2_forward(out, x);
  }
  void relu2_backward(Tensor dx, Tensor dout, Tensor x) {
    require(dx.numel() == x.numel() && dout.numel() == x.numel(), "relu2_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x}), "relu2_backward dtypes");
    do_relu2_backward(dx, dout, x);
  }
  // x(N,2H) = [gate | up]; out(N,H) = silu(gate) ⊙ up.
  void swiglu_forward(Tensor out, Tensor x) {
    const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
    require(x.dim(-1) % 2 == 0 && out.numel() == N * H, "swiglu_forward shapes");
    require(of_type(act_dtype(), {out, x}), "swiglu_forward dtypes");
    do_swiglu_forward(out, x);
  }
  void swiglu_backward(Tensor dx, Tensor dout, Tensor x) {
    const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
    require(dx.numel() == x.numel() && dout.numel() == N * H, "swiglu_backward shapes");
    require(of_type(act_dtype(), {dx, dout, x}), "swiglu_backward dtypes");
    do_swiglu_backward(dx, dout, x);
  }

  // out = a + b (out may alias a or b).
  void add(Tensor out, Tensor a, Tensor b) {
    require(out.numel() == a.numel() && a.numel() == b.numel(), "add shapes");
    require(of_type(act_dtype(), {out, a, b}), "add dtypes");
    do_add(out, a, b);
  }

  // Inverted dropout whose keep mask is a pure function of (key, element index), so the backward
  // regenerates it instead of storing it. out may alias x; dx may alias dout.
  void dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) {
    require(out.numel() == x.numel() && p >= 0 && p < 1, "dropout_forward arguments");
    require(of_type(act_dtype(), {out, x}), "dropout_forward dtypes");
    do_dropout_forward(out, x, p, key);
  }
  void dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) {
    require(dx.numel() == dout.numel() && p >= 0 && p < 1, "dropout_backward arguments");
    require(of_type(act_dtype(), {dx, dout}), "dropout_backward dtypes");
    do_dropout_backward(dx, dout, p, key);
  }

  // The logit soft-cap of Gemma 2 and the speedrun: out = cap · tanh(x / cap), cap > 0 (out may
  // alias x), for logits no loss is computed from. Training passes the raw logits to
  // cross_entropy's `softcap` instead, which caps them in fp32 and differentiates through the cap.
  void softcap_forward(Tensor out, Tensor x, double cap) {
    require(out.numel() == x.numel() && cap > 0, "softcap_forward arguments");
    require(of_type(act_dtype(), {out, x}), "softcap_forward dtypes");
    do_softcap_forward(out, x, cap);
  }

  // Softmax cross-entropy over the first `real_vocab` columns of logits(N,V); columns from
  // real_vocab on are padding and get no probability. losses(N) gets -log p[target]. If dlogits
  // is given (it may alias logits) it gets (softmax - onehot(target)) · dloss, padding columns 0.
  // With softcap > 0 the softmax is over softcap · tanh(logits / softcap), computed inside (no
  // rounding of the capped values), and dlogits is the gradient with respect to the raw logits:
  // each element also times 1 − tanh²(logit / softcap).
  void cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, std::int64_t real_vocab,
                     double dloss, double softcap = 0) {
    const std::int64_t V = logits.dim(-1), N = rows_of(logits);
    require(losses.numel() == N && targets.numel() == N && real_vocab > 0 && real_vocab <= V &&
                (dlogits.empty() || dlogits.numel() == logits.numel()) && softcap >= 0,
            "cross_entropy shapes");
    require(
        of_type(param_dtype(), {losses}) && of_type(act_dtype(), {dlogits, logits}) && of_type(DType::i32, {targets}),
        "cross_entropy dtypes");
    do_cross_entropy(losses, dlogits, logits, targets, real_vocab, dloss, softcap);
  }

  // Reductions returned to the host, accumulated in double in a fixed order. Nothing to check in
  // common: which element types a backend reduces is its own (the CPU its one type, CUDA f32 and
  // bf16).
  double sum(Tensor x) { return do_sum(x); }
  double sum_squares(Tensor x) { return do_sum_squares(x); }

  // One AdamW step on a tensor and its gradient and moments (all the same shape).
  void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) {
    require(grad.numel() == param.numel() && m.numel() == param.numel() && v.numel() == param.numel(), "adamw shapes");
    require(of_type(param_dtype(), {param, grad, m, v}), "adamw dtypes");
    do_adamw(param, grad, m, v, step);
  }

 protected:
  // Throws std::logic_error("<family> backend: <what>") unless ok (see the top of this file).
  void require(bool ok, const char* what) const {
    if (!ok) refuse(what);
  }
  // Rows of a tensor whose last dimension is a row.
  static std::int64_t rows_of(const Tensor& t) { return t.numel() / t.dim(-1); }
  void check_rope(const Tensor& qkv, int n_head, std::int64_t position0, double base) const {
    require(qkv.ndim == 3, "rope shapes");
    const std::int64_t C = qkv.dim(2) / 3;
    require(qkv.dim(2) == 3 * C && n_head > 0 && C % n_head == 0 && (C / n_head) % 2 == 0 && position0 >= 0 && base > 1,
            "rope shapes");
    require(of_type(act_dtype(), {qkv}), "rope dtypes");
  }

 private:
  [[noreturn]] void refuse(const char* what) const;
  // True when every tensor given holds elements of type `type`; empty ones are absent and pass.
  static bool of_type(DType type, std::initializer_list<Tensor> tensors) {
    for (const Tensor& t : tensors)
      if (!t.empty() && t.dtype != type) return false;
    return true;
  }

  // The implementations, called with arguments the op above has checked.
  virtual void do_convert(Tensor dst, Tensor src) = 0;
  virtual void do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0) = 0;
  virtual void do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) = 0;
  virtual void do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) = 0;
  virtual void do_residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                             Tensor weight, Tensor bias) {
    do_add(residual, a, b);
    do_layernorm_forward(out, mean, rstd, residual, weight, bias);
  }
  virtual void do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                                     Tensor mean, Tensor rstd) = 0;
  virtual void do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) = 0;
  virtual void do_residual_rmsnorm_forward(Tensor residual, Tensor out, Tensor rstd, Tensor a, Tensor b,
                                           Tensor weight) {
    do_add(residual, a, b);
    do_rmsnorm_forward(out, rstd, residual, weight);
  }
  virtual void do_rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) = 0;
  virtual void do_matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) = 0;
  virtual void do_matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) = 0;
  virtual void do_attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) = 0;
  virtual void do_attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) = 0;
  virtual void do_qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) = 0;
  virtual void do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) = 0;
  // inverse: rotate by −angle (the backward).
  virtual void do_rope(Tensor qkv, int n_head, std::int64_t position0, double base, bool inverse) = 0;
  virtual void do_kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, std::int64_t position) = 0;
  virtual void do_cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache,
                                           std::int64_t position, int n_head) = 0;
  virtual void do_gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, std::int64_t prefix) = 0;
  virtual void do_gelu_forward(Tensor out, Tensor x) = 0;
  virtual void do_gelu_backward(Tensor dx, Tensor dout, Tensor x) = 0;
  virtual void do_relu2_forward(Tensor out, Tensor x) = 0;
  virtual void do_relu2_backward(Tensor dx, Tensor dout, Tensor x) = 0;
  virtual void do_swiglu_forward(Tensor out, Tensor x) = 0;
  virtual void do_swiglu_backward(Tensor dx, Tensor dout, Tensor x) = 0;
  virtual void do_add(Tensor out, Tensor a, Tensor b) = 0;
  virtual void do_dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) = 0;
  virtual void do_dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) = 0;
  virtual void do_softcap_forward(Tensor out, Tensor x, double cap) = 0;
  virtual void do_cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, std::int64_t real_vocab,
                                double dloss, double softcap) = 0;
  virtual double do_sum(Tensor x) = 0;
  virtual double do_sum_squares(Tensor x) = 0;
  virtual void do_adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) = 0;
};

// A backend allocation that frees itself.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Backend& backend, std::size_t bytes) : backend_(&backend), bytes_(bytes), ptr_(backend.allocate(bytes)) {}
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (ptr_) backend_->release(ptr_);
  }

  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  // A tensor view at byte offset `offset`.
  Tensor tensor(std::size_t offset, DType dtype, std::initializer_list<std::int64_t> dims) const {
    return Tensor(static_cast<char*>(ptr_) + offset, dtype, dims);
  }

 private:
  void swap(Buffer& o) noexcept {
    std::swap(backend_, o.backend_);
    std::swap(bytes_, o.bytes_);
    std::swap(ptr_, o.ptr_);
  }
  Backend* backend_ = nullptr;
  std::size_t bytes_ = 0;
  void* ptr_ = nullptr;
};

}  // namespace gpt
