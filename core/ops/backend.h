#pragma once
// The op interface. The GPT model (core/model) is written once against it; a backend implements
// the numerics and holds no model logic. Conventions shared by every op:
//   * Matrices are row-major; a linear layer's weight is (out_features, in_features), as in
//     torch.nn.Linear, so y = x · Wᵀ + b.
//   * Two element types: act_dtype for activations, their gradients and the compute copy of the
//     weights that ops read; param_dtype for master parameters, parameter gradients, optimizer
//     moments and per-row statistics (LayerNorm mean/rstd, losses, attention's saved state).
//     They are equal on the CPU; the CUDA backend computes in bf16 with fp32 masters.
//   * Parameter gradients always accumulate (+=), so micro-batches add up without extra passes.
//   * Activation gradients are overwritten, except layernorm_backward, which accumulates into dx
//     because its dx is the residual stream's gradient.
//   * An empty Tensor stands for "absent" (no bias, no gradient wanted).
#include <cstddef>
#include <cstdint>
#include <memory>
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
  // dst = src, element by element, converted to dst.dtype.
  virtual void convert(Tensor dst, Tensor src) = 0;
  virtual void synchronize() {}

  // ---- ops ----
  // out(B,T,C) = wte[tokens(B,T)] + wpe[0..T).
  virtual void embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe) = 0;
  // dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += Σ_b dout[b,t]. Deterministic order.
  virtual void embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) = 0;

  // LayerNorm over the last dimension (eps 1e-5); mean and rstd (one per row) are saved for the
  // backward. bias may be empty.
  virtual void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) = 0;
  // residual = a + b, then out = LayerNorm(residual): a residual add fused with the LayerNorm that
  // follows it, which saves a pass over the residual stream. The default composes add() and
  // layernorm_forward(); a backend that fuses them must give the same result. (The backward
  // needs no counterpart: layernorm_backward already accumulates into the residual's gradient.)
  virtual void residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                          Tensor weight, Tensor bias) {
    add(residual, a, b);
    layernorm_forward(out, mean, rstd, residual, weight, bias);
  }
  // dx += ...; dweight += ...; dbias += ... (dbias may be empty).
  virtual void layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                                  Tensor mean, Tensor rstd) = 0;

  // out(N,OC) = x(N,IC) · weight(OC,IC)ᵀ + bias(OC). bias may be empty.
  virtual void matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) = 0;
  // dx = dout · weight (skipped if dx is empty); dweight += doutᵀ · x; dbias += Σ_rows dout.
  virtual void matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) = 0;

  // Causal multi-head self-attention. qkv(B,T,3C) holds q, k, v side by side, each (n_head, C/n_head)
  // within its C; out(B,T,C). `saved` (attention_saved_numel elements) keeps what the backward needs.
  virtual std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T, std::int64_t n_head) const = 0;
  virtual void attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) = 0;
  virtual void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) = 0;

  // GELU, GPT-2's tanh approximation.
  virtual void gelu_forward(Tensor out, Tensor x) = 0;
  virtual void gelu_backward(Tensor dx, Tensor dout, Tensor x) = 0;
  // x(N,2H) = [gate | up]; out(N,H) = silu(gate) ⊙ up.
  virtual void swiglu_forward(Tensor out, Tensor x) = 0;
  virtual void swiglu_backward(Tensor dx, Tensor dout, Tensor x) = 0;

  // out = a + b (out may alias a or b).
  virtual void add(Tensor out, Tensor a, Tensor b) = 0;

  // Inverted dropout whose keep mask is a pure function of (key, element index), so the backward
  // regenerates it instead of storing it. out may alias x; dx may alias dout.
  virtual void dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) = 0;
  virtual void dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) = 0;

  // Softmax cross-entropy over the first `real_vocab` columns of logits(N,V); columns from
  // real_vocab on are padding and get no probability. losses(N) gets -log p[target]. If dlogits
  // is given (it may alias logits) it gets (softmax - onehot(target)) · dloss, padding columns 0.
  virtual void cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, std::int64_t real_vocab,
                             double dloss) = 0;

  // Reductions returned to the host, accumulated in double in a fixed order.
  virtual double sum(Tensor x) = 0;
  virtual double sum_squares(Tensor x) = 0;

  // One AdamW step on a tensor and its gradient and moments (all the same shape).
  virtual void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) = 0;
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
