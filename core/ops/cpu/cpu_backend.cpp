#include "core/ops/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/cpu_count.h"
#include "core/ops/cpu/activations.h"
#include "core/ops/cpu/adamw.h"
#include "core/ops/cpu/attention.h"
#include "core/ops/cpu/cross_entropy.h"
#include "core/ops/cpu/dropout.h"
#include "core/ops/cpu/embedding.h"
#include "core/ops/cpu/host_memory.h"
#include "core/ops/cpu/kv_cache.h"
#include "core/ops/cpu/layernorm.h"
#include "core/ops/cpu/matmul.h"
#include "core/ops/cpu/parallel.h"
#include "core/ops/cpu/qk_rope.h"

namespace gpt {
namespace {

template <class T>
T* opt(const Tensor& t) {
  return t.empty() ? nullptr : t.data<T>();
}

}  // namespace

template <class T>
CpuBackend<T>::CpuBackend(int threads) : threads_(threads) {
  if (threads < 1)
    throw std::invalid_argument("cpu backend: threads must be at least 1, got " + std::to_string(threads));
}

template <class T>
std::string CpuBackend<T>::device_name() const {
  return cpu::model_name() + ", " + std::to_string(threads_) + (threads_ == 1 ? " thread" : " threads");
}

template <class T>
std::string CpuBackend<T>::name() const {
  return std::string("cpu-") + dtype_name(dtype_of<T>()) + (cpu::have_onednn() ? " (oneDNN)" : " (loops)");
}

template <class T>
std::size_t CpuBackend<T>::available_memory() const {
  return cpu::available_host_memory();
}

template <class T>
void* CpuBackend<T>::allocate(std::size_t bytes) {
  return cpu::allocate_zeroed(bytes);
}

template <class T>
void CpuBackend<T>::release(void* ptr) noexcept {
  cpu::release_allocation(ptr);
}

template <class T>
void CpuBackend<T>::upload(Tensor dst, const float* src) {
  T* d = dst.data<T>();
  for (std::int64_t i = 0; i < dst.numel(); ++i) d[i] = static_cast<T>(src[i]);
}

template <class T>
void CpuBackend<T>::download(Tensor src, float* dst) {
  const T* s = src.data<T>();
  for (std::int64_t i = 0; i < src.numel(); ++i) dst[i] = static_cast<float>(s[i]);
}

template <class T>
void CpuBackend<T>::upload_bytes(void* dst, const void* src, std::size_t bytes) {
  std::memcpy(dst, src, bytes);
}

template <class T>
void CpuBackend<T>::download_bytes(void* dst, const void* src, std::size_t bytes) {
  std::memcpy(dst, src, bytes);
}

template <class T>
void CpuBackend<T>::zero(Tensor t) {
  std::memset(t.ptr, 0, t.bytes());
}

template <class T>
void CpuBackend<T>::do_convert(Tensor dst, Tensor src) {
  if (dst.ptr != src.ptr) std::memcpy(dst.data<T>(), src.data<T>(), dst.bytes());  // one dtype on the CPU
}

template <class T>
void CpuBackend<T>::do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0) {
  const T* positions = wpe.empty() ? nullptr : wpe.data<T>() + position0 * wpe.dim(1);
  cpu::embedding_forward(threads_, out.data<T>(), tokens.data<std::int32_t>(), wte.data<T>(), positions, tokens.dim(0),
                         tokens.dim(1), wte.dim(1));
}

template <class T>
void CpuBackend<T>::do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
  cpu::embedding_backward(threads_, dwte.data<T>(), opt<T>(dwpe), dout.data<T>(), tokens.data<std::int32_t>(),
                          tokens.dim(0), tokens.dim(1), dwte.dim(1));
}

template <class T>
void CpuBackend<T>::do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) {
  const std::int64_t C = x.dim(-1), N = rows_of(x);
  cpu::layernorm_forward(threads_, out.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(), weight.data<T>(),
                         opt<T>(bias), N, C);
}

template <class T>
void CpuBackend<T>::do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                                          Tensor mean, Tensor rstd) {
  const std::int64_t C = x.dim(-1), N = rows_of(x);
  cpu::layernorm_backward(threads_, dx.data<T>(), dweight.data<T>(), opt<T>(dbias), dout.data<T>(), x.data<T>(),
                          weight.data<T>(), mean.data<T>(), rstd.data<T>(), N, C);
}

template <class T>
void CpuBackend<T>::do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) {
  cpu::rmsnorm_forward(threads_, out.data<T>(), rstd.data<T>(), x.data<T>(), weight.data<T>(), rows_of(x), x.dim(-1));
}

template <class T>
void CpuBackend<T>::do_rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  cpu::rmsnorm_backward(threads_, dx.data<T>(), dweight.data<T>(), dout.data<T>(), x.data<T>(), weight.data<T>(),
                        rstd.data<T>(), rows_of(x), x.dim(-1));
}

template <class T>
void CpuBackend<T>::do_matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
  const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  cpu::matmul_forward(threads_, out.data<T>(), x.data<T>(), weight.data<T>(), opt<T>(bias), N, IC, OC);
}

template <class T>
void CpuBackend<T>::do_matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) {
  const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  cpu::matmul_backward(threads_, opt<T>(dx), dweight.data<T>(), opt<T>(dbias), dout.data<T>(), x.data<T>(),
                       weight.data<T>(), N, IC, OC);
}

template <class T>
std::int64_t CpuBackend<T>::attention_saved_numel(std::int64_t B, std::int64_t T_, std::int64_t n_head) const {
  return B * n_head * T_ * T_;  // the softmax probabilities
}

template <class T>
void CpuBackend<T>::do_attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) {
  const std::int64_t B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  if constexpr (std::is_same_v<T, float>)
    if (cpu::have_onednn())
      return cpu::attention_forward_gemm(threads_, cpu::Elem::f32, out.ptr, saved.data<float>(), qkv.ptr, B, T_, C,
                                         n_head, attention_scratch_);
  cpu::attention_forward(threads_, out.data<T>(), saved.data<T>(), qkv.data<T>(), B, T_, C, n_head);
}

template <class T>
void CpuBackend<T>::do_attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor /*out*/, Tensor saved,
                                          int n_head) {
  const std::int64_t B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  if constexpr (std::is_same_v<T, float>)
    if (cpu::have_onednn())
      return cpu::attention_backward_gemm(threads_, cpu::Elem::f32, dqkv.ptr, dout.ptr, qkv.ptr, saved.data<float>(), B,
                                          T_, C, n_head, attention_scratch_);
  cpu::attention_backward(threads_, dqkv.data<T>(), dout.data<T>(), qkv.data<T>(), saved.data<T>(), B, T_, C, n_head);
}

template <class T>
void CpuBackend<T>::do_qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) {
  cpu::qk_norm_forward(threads_, qkv.data<T>(), rstd.data<T>(), qkv.dim(0) * qkv.dim(1), qkv.dim(2) / 3, n_head);
}

template <class T>
void CpuBackend<T>::do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) {
  cpu::qk_norm_backward(threads_, dqkv.data<T>(), qkv.data<T>(), rstd.data<T>(), qkv.dim(0) * qkv.dim(1),
                        qkv.dim(2) / 3, n_head);
}

template <class T>
void CpuBackend<T>::do_rope(Tensor qkv, int n_head, std::int64_t position0, double base, bool inverse) {
  cpu::rope(threads_, qkv.data<T>(), qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, n_head, position0, base, inverse);
}

template <class T>
void CpuBackend<T>::do_kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, std::int64_t position) {
  cpu::kv_cache_write(k_cache.data<T>(), v_cache.data<T>(), qkv.data<T>(), qkv.dim(0), qkv.dim(1), k_cache.dim(2),
                      k_cache.dim(1), position);
}

template <class T>
void CpuBackend<T>::do_cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache,
                                                std::int64_t position, int n_head) {
  cpu::cached_attention_forward(threads_, out.data<T>(), qkv.data<T>(), k_cache.data<T>(), v_cache.data<T>(),
                                qkv.dim(0), qkv.dim(1), k_cache.dim(2), k_cache.dim(1), position, n_head);
}

template <class T>
void CpuBackend<T>::do_gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, std::int64_t prefix) {
  const std::size_t row_bytes = static_cast<std::size_t>(src.dim(1) * src.dim(2)) * dtype_size(src.dtype);
  const std::size_t copy_bytes = static_cast<std::size_t>(prefix * src.dim(2)) * dtype_size(src.dtype);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::memcpy(static_cast<char*>(dst.ptr) + i * row_bytes,
                static_cast<const char*>(src.ptr) + static_cast<std::size_t>(rows[i]) * row_bytes, copy_bytes);
}

template <class T>
void CpuBackend<T>::do_gelu_forward(Tensor out, Tensor x) {
  cpu::gelu_forward(threads_, out.data<T>(), x.data<T>(), x.numel());
}

template <class T>
void CpuBackend<T>::do_gelu_backward(Tensor dx, Tensor dout, Tensor x) {
  cpu::gelu_backward(threads_, dx.data<T>(), dout.data<T>(), x.data<T>(), x.numel());
}

template <class T>
void CpuBackend<T>::do_relu2_forward(Tensor out, Tensor x) {
  cpu::relu2_forward(threads_, out.data<T>(), x.data<T>(), x.numel());
}

template <class T>
void CpuBackend<T>::do_relu2_backward(Tensor dx, Tensor dout, Tensor x) {
  cpu::relu2_backward(threads_, dx.data<T>(), dout.data<T>(), x.data<T>(), x.numel());
}

template <class T>
void CpuBackend<T>::do_swiglu_forward(Tensor out, Tensor x) {
  const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
  cpu::swiglu_forward(threads_, out.data<T>(), x.data<T>(), N, H);
}

template <class T>
void CpuBackend<T>::do_swiglu_backward(Tensor dx, Tensor dout, Tensor x) {
  const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
  cpu::swiglu_backward(threads_, dx.data<T>(), dout.data<T>(), x.data<T>(), N, H);
}

template <class T>
void CpuBackend<T>::do_add(Tensor out, Tensor a, Tensor b) {
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const std::int64_t n = out.numel();
#pragma omp parallel for simd schedule(static) num_threads(threads_) if (cpu::worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) o[i] = pa[i] + pb[i];
}

template <class T>
void CpuBackend<T>::do_dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) {
  cpu::dropout_apply(threads_, out.data<T>(), x.data<T>(), x.numel(), p, key);
}

template <class T>
void CpuBackend<T>::do_dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) {
  cpu::dropout_apply(threads_, dx.data<T>(), dout.data<T>(), dout.numel(), p, key);  // same mask, same scale
}

template <class T>
void CpuBackend<T>::do_softcap_forward(Tensor out, Tensor x, double cap) {
  cpu::softcap_forward(threads_, out.data<T>(), x.data<T>(), x.numel(), static_cast<T>(cap));
}

template <class T>
void CpuBackend<T>::do_cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                     std::int64_t real_vocab, double dloss, double softcap) {
  const std::int64_t V = logits.dim(-1), N = rows_of(logits);
  cpu::cross_entropy(threads_, losses.data<T>(), opt<T>(dlogits), logits.data<T>(), targets.data<std::int32_t>(), N, V,
                     real_vocab, dloss, softcap);
}

template <class T>
double CpuBackend<T>::do_sum(Tensor x) {
  return cpu::chunked_sum(threads_, x.data<T>(), x.numel(), [](double v) { return v; });
}

template <class T>
double CpuBackend<T>::do_sum_squares(Tensor x) {
  return cpu::chunked_sum(threads_, x.data<T>(), x.numel(), [](double v) { return v * v; });
}

template <class T>
void CpuBackend<T>::do_adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) {
  cpu::adamw(threads_, param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), step);
}

template class CpuBackend<float>;
template class CpuBackend<double>;

}  // namespace gpt
