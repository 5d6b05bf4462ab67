#pragma once
// The CPU backend: the numerical reference. CpuBackend<float> trains; CpuBackend<double> runs
// the same model in double precision for finite-difference gradient checks.
#include "core/ops/backend.h"
#include "core/ops/cpu/attention_gemm.h"

namespace gpt {

template <class T>
class CpuBackend final : public Backend {
 public:
  // threads (at least 1): the OpenMP threads every op of this backend runs on, passed to each of
  // its parallel regions; OpenMP's process-wide default is left alone. cpu::choose_threads
  // (cpu_count.h) is how the mains pick it.
  explicit CpuBackend(int threads);

  int threads() const { return threads_; }
  int host_threads() const override { return threads_; }

  std::string name() const override;
  std::string device_name() const override;  // the CPU's model name and this backend's thread count
  DType param_dtype() const override { return dtype_of<T>(); }
  DType act_dtype() const override { return dtype_of<T>(); }
  bool host_memory() const override { return true; }

  std::size_t available_memory() const override;
  void* allocate(std::size_t bytes) override;
  void release(void* ptr) noexcept override;
  void upload(Tensor dst, const float* src) override;
  void download(Tensor src, float* dst) override;
  void upload_bytes(void* dst, const void* src, std::size_t bytes) override;
  void download_bytes(void* dst, const void* src, std::size_t bytes) override;
  void zero(Tensor t) override;
  std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T_, std::int64_t n_head) const override;

 private:
  // The numerics alone: Backend's op functions have checked the arguments.
  void do_convert(Tensor dst, Tensor src) override;
  void do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0) override;
  void do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) override;
  void do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) override;
  void do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight, Tensor mean,
                             Tensor rstd) override;
  void do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) override;
  void do_rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) override;
  void do_matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) override;
  void do_matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) override;
  void do_attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) override;
  void do_attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) override;
  void do_qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) override;
  void do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) override;
  void do_rope(Tensor qkv, int n_head, std::int64_t position0, double base, bool inverse) override;
  void do_kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, std::int64_t position) override;
  void do_cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache, std::int64_t position,
                                   int n_head) override;
  void do_gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, std::int64_t prefix) override;
  void do_gelu_forward(Tensor out, Tensor x) override;
  void do_gelu_backward(Tensor dx, Tensor dout, Tensor x) override;
  void do_relu2_forward(Tensor out, Tensor x) override;
  void do_relu2_backward(Tensor dx, Tensor dout, Tensor x) override;
  void do_swiglu_forward(Tensor out, Tensor x) override;
  void do_swiglu_backward(Tensor dx, Tensor dout, Tensor x) override;
  void do_add(Tensor out, Tensor a, Tensor b) override;
  void do_dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) override;
  void do_dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) override;
  void do_softcap_forward(Tensor out, Tensor x, double cap) override;
  void do_cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, std::int64_t real_vocab,
                        double dloss, double softcap) override;
  double do_sum(Tensor x) override;
  double do_sum_squares(Tensor x) override;
  void do_adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) override;

  int threads_;
  cpu::AttentionScratch attention_scratch_;  // fp32 with oneDNN: attention as batched products
};

extern template class CpuBackend<float>;
extern template class CpuBackend<double>;

}  // namespace gpt
