#pragma once
// The CPU backend in mixed precision (train.precision = "bf16"), the same scheme as the CUDA
// backend's: activations, their gradients and the weights' compute copy in bf16; master weights,
// their gradients, AdamW's moments and per-row statistics in fp32. Matmuls multiply bf16 on AMX
// or AVX512-BF16 through oneDNN with fp32 accumulation (matmul_bf16.h), and so does attention
// (attention_gemm.h); every other op widens its bf16 inputs to fp32, runs the fp32 kernel of
// CpuBackend<float> and rounds its outputs once.
#include <cstdint>
#include <vector>

#include "core/ops/backend.h"
#include "core/ops/cpu/attention_gemm.h"

namespace gpt {

class CpuBf16Backend final : public Backend {
 public:
  // threads: as CpuBackend's (at least 1).
  explicit CpuBf16Backend(int threads);

  int threads() const { return threads_; }
  int host_threads() const override { return threads_; }

  std::string name() const override;  // "cpu-bf16 (oneDNN brg:avx512_core_amx_bf16)": the kernel oneDNN picked
  std::string device_name() const override;
  DType param_dtype() const override { return DType::f32; }
  DType act_dtype() const override { return DType::bf16; }
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

  // fp32 copies of bf16 tensors for the fp32 kernels; slot i is reused by every op (ops run one
  // at a time), so scratch grows to the largest tensor each slot has held.
  float* widened(int slot, const Tensor& t);     // t's values (empty: nullptr)
  float* scratch(int slot, std::int64_t numel);  // uninitialised
  void narrow(Tensor dst, const float* src);     // rounds src into the bf16 tensor dst

  int threads_;
  std::vector<float> scratch_[4];
  cpu::AttentionScratch attention_scratch_;
};

}  // namespace gpt
