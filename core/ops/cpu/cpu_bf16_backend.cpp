#include "core/ops/cpu/cpu_bf16_backend.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "core/cpu_count.h"
#include "core/half_float.h"
#include "core/ops/cpu/activations.h"
#include "core/ops/cpu/adamw.h"
#include "core/ops/cpu/attention_gemm.h"
#include "core/ops/cpu/cross_entropy.h"
#include "core/ops/cpu/dropout.h"
#include "core/ops/cpu/embedding.h"
#include "core/ops/cpu/host_memory.h"
#include "core/ops/cpu/kv_cache.h"
#include "core/ops/cpu/layernorm.h"
#include "core/ops/cpu/matmul_bf16.h"
#include "core/ops/cpu/parallel.h"
#include "core/ops/cpu/qk_rope.h"

namespace gpt {
namespace {

// A bf16 tensor's elements as bit patterns (core/half_float.h); nullptr for an absent tensor.
std::uint16_t* bits(const Tensor& t) {
  if (t.empty()) return nullptr;
  if (t.dtype != DType::bf16)
    throw std::logic_error(std::string("cpu-bf16 backend: a bf16 tensor holds ") + dtype_name(t.dtype));
  return static_cast<std::uint16_t*>(t.ptr);
}

float* f32(const Tensor& t) {
  return t.empty() ? nullptr : t.data<float>();
}

void widen_into(int threads, float* dst, const std::uint16_t* src, std::int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads) if (cpu::worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_bits_to_float(src[i]);
}

void narrow_into(int threads, std::uint16_t* dst, const float* src, std::int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads) if (cpu::worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16_bits(src[i]);
}

}  // namespace

CpuBf16Backend::CpuBf16Backend(int threads) : threads_(threads) {
  if (threads < 1)
    throw std::invalid_argument("cpu backend: threads must be at least 1, got " + std::to_string(threads));
}

std::string CpuBf16Backend::name() const {
  return "cpu-bf16 (oneDNN " + cpu::bf16_matmul_support().implementation + ")";
}

std::string CpuBf16Backend::device_name() const {
  return cpu::model_name() + ", " + std::to_string(threads_) + (threads_ == 1 ? " thread" : " threads");
}

std::size_t CpuBf16Backend::available_memory() const {
  return cpu::available_host_memory();
}

void* CpuBf16Backend::allocate(std::size_t bytes) {
  return cpu::allocate_zeroed(bytes);
}

void CpuBf16Backend::release(void* ptr) noexcept {
  cpu::release_allocation(ptr);
}

void CpuBf16Backend::upload(Tensor dst, const float* src) {
  if (dst.dtype == DType::bf16)
    narrow_into(threads_, bits(dst), src, dst.numel());
  else
    std::memcpy(dst.data<float>(), src, dst.bytes());
}

void CpuBf16Backend::download(Tensor src, float* dst) {
  if (src.dtype == DType::bf16)
    widen_into(threads_, dst, bits(src), src.numel());
  else
    std::memcpy(dst, src.data<float>(), src.bytes());
}

void CpuBf16Backend::upload_bytes(void* dst, const void* src, std::size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBf16Backend::download_bytes(void* dst, const void* src, std::size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBf16Backend::zero(Tensor t) {
  std::memset(t.ptr, 0, t.bytes());
}

std::int64_t CpuBf16Backend::attention_saved_numel(std::int64_t B, std::int64_t T_, std::int64_t n_head) const {
  return B * n_head * T_ * T_;  // the softmax probabilities, in fp32
}

float* CpuBf16Backend::scratch(int slot, std::int64_t numel) {
  std::vector<float>& s = scratch_[slot];
  if (s.size() < static_cast<std::size_t>(numel)) s.resize(static_cast<std::size_t>(numel));
  return s.data();
}

float* CpuBf16Backend::widened(int slot, const Tensor& t) {
  if (t.empty()) return nullptr;
  float* s = scratch(slot, t.numel());
  widen_into(threads_, s, bits(t), t.numel());
  return s;
}

void CpuBf16Backend::narrow(Tensor dst, const float* src) {
  narrow_into(threads_, bits(dst), src, dst.numel());
}

void CpuBf16Backend::do_convert(Tensor dst, Tensor src) {
  if (dst.dtype == src.dtype) {
    if (dst.ptr != src.ptr) std::memcpy(dst.ptr, src.ptr, dst.bytes());
  } else if (dst.dtype == DType::bf16) {
    narrow_into(threads_, bits(dst), src.data<float>(), src.numel());
  } else {
    widen_into(threads_, dst.data<float>(), bits(src), src.numel());
  }
}

void CpuBf16Backend::do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, std::int64_t position0) {
  // Directly, not widened: the whole vocabulary would be copied for B·T rows of it.
  const std::int64_t B = tokens.dim(0), T_ = tokens.dim(1), C = wte.dim(1);
  const std::int32_t* tok = tokens.data<std::int32_t>();
  const std::uint16_t* w = bits(wte);
  const std::uint16_t* p = wpe.empty() ? nullptr : bits(wpe) + position0 * C;  // none with RoPE
  std::uint16_t* o = bits(out);
#pragma omp parallel for schedule(static) num_threads(threads_) if (cpu::worth_parallel(B * T_ * C))
  for (std::int64_t i = 0; i < B * T_; ++i)
    for (std::int64_t c = 0; c < C; ++c)
      o[i * C + c] =
          p ? float_to_bf16_bits(bf16_bits_to_float(w[tok[i] * C + c]) + bf16_bits_to_float(p[(i % T_) * C + c]))
            : w[tok[i] * C + c];
}

void CpuBf16Backend::do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
  cpu::embedding_backward(threads_, dwte.data<float>(), f32(dwpe), widened(0, dout), tokens.data<std::int32_t>(),
                          tokens.dim(0), tokens.dim(1), dwte.dim(1));
}

void CpuBf16Backend::do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) {
  const std::int64_t C = x.dim(-1), N = rows_of(x);
  float* o = scratch(3, out.numel());
  cpu::layernorm_forward(threads_, o, mean.data<float>(), rstd.data<float>(), widened(0, x), widened(1, weight),
                         widened(2, bias), N, C);
  narrow(out, o);
}

void CpuBf16Backend::do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x,
                                           Tensor weight, Tensor mean, Tensor rstd) {
  const std::int64_t C = x.dim(-1), N = rows_of(x);
  float* d = widened(3, dx);  // layernorm_backward adds into dx
  cpu::layernorm_backward(threads_, d, dweight.data<float>(), f32(dbias), widened(0, dout), widened(1, x),
                          widened(2, weight), mean.data<float>(), rstd.data<float>(), N, C);
  narrow(dx, d);
}

void CpuBf16Backend::do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) {
  float* o = scratch(3, out.numel());
  cpu::rmsnorm_forward(threads_, o, rstd.data<float>(), widened(0, x), widened(1, weight), rows_of(x), x.dim(-1));
  narrow(out, o);
}

void CpuBf16Backend::do_rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  float* d = widened(3, dx);  // rmsnorm_backward adds into dx
  cpu::rmsnorm_backward(threads_, d, dweight.data<float>(), widened(0, dout), widened(1, x), widened(2, weight),
                        rstd.data<float>(), rows_of(x), x.dim(-1));
  narrow(dx, d);
}

void CpuBf16Backend::do_matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
  const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  cpu::matmul_forward_bf16(threads_, bits(out), bits(x), bits(weight), bits(bias), N, IC, OC);
}

void CpuBf16Backend::do_matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) {
  const std::int64_t IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  cpu::matmul_backward_bf16(threads_, bits(dx), dweight.data<float>(), f32(dbias), bits(dout), bits(x), bits(weight), N,
                            IC, OC);
}

void CpuBf16Backend::do_attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) {
  const std::int64_t B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  cpu::attention_forward_gemm(threads_, cpu::Elem::bf16, out.ptr, saved.data<float>(), qkv.ptr, B, T_, C, n_head,
                              attention_scratch_);
}

void CpuBf16Backend::do_attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor /*out*/, Tensor saved,
                                           int n_head) {
  const std::int64_t B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  cpu::attention_backward_gemm(threads_, cpu::Elem::bf16, dqkv.ptr, dout.ptr, qkv.ptr, saved.data<float>(), B, T_, C,
                               n_head, attention_scratch_);
}

void CpuBf16Backend::do_qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) {
  float* v = widened(0, qkv);
  cpu::qk_norm_forward(threads_, v, rstd.data<float>(), qkv.dim(0) * qkv.dim(1), qkv.dim(2) / 3, n_head);
  narrow(qkv, v);
}

void CpuBf16Backend::do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) {
  float* d = widened(0, dqkv);
  cpu::qk_norm_backward(threads_, d, widened(1, qkv), rstd.data<float>(), qkv.dim(0) * qkv.dim(1), qkv.dim(2) / 3,
                        n_head);
  narrow(dqkv, d);
}

void CpuBf16Backend::do_rope(Tensor qkv, int n_head, std::int64_t position0, double base, bool inverse) {
  float* v = widened(0, qkv);
  cpu::rope(threads_, v, qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, n_head, position0, base, inverse);
  narrow(qkv, v);
}

void CpuBf16Backend::do_kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, std::int64_t position) {
  cpu::kv_cache_write(bits(k_cache), bits(v_cache), bits(qkv), qkv.dim(0), qkv.dim(1), k_cache.dim(2), k_cache.dim(1),
                      position);
}

void CpuBf16Backend::do_cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache,
                                                 std::int64_t position, int n_head) {
  float* o = scratch(3, out.numel());
  cpu::cached_attention_forward(threads_, o, widened(0, qkv), widened(1, k_cache), widened(2, v_cache), qkv.dim(0),
                                qkv.dim(1), k_cache.dim(2), k_cache.dim(1), position, n_head);
  narrow(out, o);
}

void CpuBf16Backend::do_gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, std::int64_t prefix) {
  const std::size_t row_bytes = static_cast<std::size_t>(src.dim(1) * src.dim(2)) * dtype_size(src.dtype);
  const std::size_t copy_bytes = static_cast<std::size_t>(prefix * src.dim(2)) * dtype_size(src.dtype);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::memcpy(static_cast<char*>(dst.ptr) + i * row_bytes,
                static_cast<const char*>(src.ptr) + static_cast<std::size_t>(rows[i]) * row_bytes, copy_bytes);
}

void CpuBf16Backend::do_gelu_forward(Tensor out, Tensor x) {
  float* v = widened(0, x);
  cpu::gelu_forward(threads_, v, v, x.numel());
  narrow(out, v);
}

void CpuBf16Backend::do_gelu_backward(Tensor dx, Tensor dout, Tensor x) {
  float* d = widened(0, dout);
  cpu::gelu_backward(threads_, d, d, widened(1, x), x.numel());
  narrow(dx, d);
}

void CpuBf16Backend::do_relu2_forward(Tensor out, Tensor x) {
  float* v = widened(0, x);
  cpu::relu2_forward(threads_, v, v, x.numel());
  narrow(out, v);
}

void CpuBf16Backend::do_relu2_backward(Tensor dx, Tensor dout, Tensor x) {
  float* d = widened(0, dout);
  cpu::relu2_backward(threads_, d, d, widened(1, x), x.numel());
  narrow(dx, d);
}

void CpuBf16Backend::do_swiglu_forward(Tensor out, Tensor x) {
  const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
  float* o = scratch(1, out.numel());
  cpu::swiglu_forward(threads_, o, widened(0, x), N, H);
  narrow(out, o);
}

void CpuBf16Backend::do_swiglu_backward(Tensor dx, Tensor dout, Tensor x) {
  const std::int64_t H = x.dim(-1) / 2, N = rows_of(x);
  float* d = scratch(2, dx.numel());
  cpu::swiglu_backward(threads_, d, widened(0, dout), widened(1, x), N, H);
  narrow(dx, d);
}

void CpuBf16Backend::do_add(Tensor out, Tensor a, Tensor b) {
  std::uint16_t* o = bits(out);
  const std::uint16_t *pa = bits(a), *pb = bits(b);
  const std::int64_t n = out.numel();
#pragma omp parallel for simd schedule(static) num_threads(threads_) if (cpu::worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) o[i] = float_to_bf16_bits(bf16_bits_to_float(pa[i]) + bf16_bits_to_float(pb[i]));
}

void CpuBf16Backend::do_dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) {
  float* v = widened(0, x);
  cpu::dropout_apply(threads_, v, v, x.numel(), p, key);
  narrow(out, v);
}

void CpuBf16Backend::do_dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) {
  float* v = widened(0, dout);
  cpu::dropout_apply(threads_, v, v, dout.numel(), p, key);  // same mask, same scale
  narrow(dx, v);
}

void CpuBf16Backend::do_softcap_forward(Tensor out, Tensor x, double cap) {
  float* v = widened(0, x);
  cpu::softcap_forward(threads_, v, v, x.numel(), static_cast<float>(cap));
  narrow(out, v);
}

void CpuBf16Backend::do_cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                      std::int64_t real_vocab, double dloss, double softcap) {
  const std::int64_t V = logits.dim(-1), N = rows_of(logits);
  float* l = widened(0, logits);  // the gradient is written over it, then rounded into dlogits
  cpu::cross_entropy(threads_, losses.data<float>(), dlogits.empty() ? nullptr : l, l, targets.data<std::int32_t>(), N,
                     V, real_vocab, dloss, softcap);
  if (!dlogits.empty()) narrow(dlogits, l);
}

double CpuBf16Backend::do_sum(Tensor x) {
  const float* v = x.dtype == DType::bf16 ? widened(0, x) : x.data<float>();
  return cpu::chunked_sum(threads_, v, x.numel(), [](double e) { return e; });
}

double CpuBf16Backend::do_sum_squares(Tensor x) {
  const float* v = x.dtype == DType::bf16 ? widened(0, x) : x.data<float>();
  return cpu::chunked_sum(threads_, v, x.numel(), [](double e) { return e * e; });
}

void CpuBf16Backend::do_adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) {
  cpu::adamw(threads_, param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), param.numel(), step);
}

}  // namespace gpt
