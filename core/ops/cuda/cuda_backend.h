#pragma once
// The CUDA backend: cuBLASLt matmuls and our kernels, bf16 (or fp32) activations and compute
// weights with fp32 master parameters, gradients, optimizer state and statistics. This header
// needs no CUDA headers, so host code can build it wherever CUDA was found at configure time.
#include <memory>
#include <string>

#include "core/ops/backend.h"

namespace gpt {

// Devices the CUDA runtime sees and, when it sees none, why: the runtime's error (no driver, a
// driver too old for this toolkit, ...) or that it found no device.
struct CudaDevices {
  int count = 0;
  std::string problem;  // empty when count > 0
};
CudaDevices cuda_devices();
// cuda_devices().count: 0 without a driver or device.
int cuda_device_count();

class CudaBackend final : public Backend {
 public:
  // act: DType::bf16 (mixed precision) or DType::f32 (everything fp32, for checking against the CPU).
  explicit CudaBackend(DType act, int device = 0);
  ~CudaBackend() override;

  std::string name() const override;
  std::string device_name() const override;  // as cudaGetDeviceProperties names it
  DType param_dtype() const override { return DType::f32; }
  DType act_dtype() const override { return act_; }

  // The cudaStream_t every op is issued on (as void*, so this header needs no CUDA headers), and
  // the device: a communicator orders its own stream after this one.
  void* stream() const;
  int device() const;

  std::size_t available_memory() const override;  // the device's free memory
  void* allocate(std::size_t bytes) override;
  void release(void* ptr) noexcept override;
  void upload(Tensor dst, const float* src) override;
  void download(Tensor src, float* dst) override;
  void upload_bytes(void* dst, const void* src, std::size_t bytes) override;
  void download_bytes(void* dst, const void* src, std::size_t bytes) override;
  void zero(Tensor t) override;
  void synchronize() override;

  std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T, std::int64_t n_head) const override;

 private:
  // The numerics alone: Backend's op functions have checked the arguments.
  void do_convert(Tensor dst, Tensor src) override;
  void do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0) override;
  void do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) override;
  void do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) override;
  void do_residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                     Tensor weight, Tensor bias) override;
  void do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight, Tensor mean,
                             Tensor rstd) override;
  void do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) override;
  void do_residual_rmsnorm_forward(Tensor residual, Tensor out, Tensor rstd, Tensor a, Tensor b,
                                   Tensor weight) override;
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

  double reduce(Tensor x, bool squares);  // Σ x or Σ x² of an f32 or bf16 tensor

  struct Impl;
  DType act_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpt
