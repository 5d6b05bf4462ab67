#pragma once
// The CUDA backend's kernels behind the Backend interface, run on the host under the SIMT
// emulator (include tests/emulated/cuda_on_host.h first). Memory is host memory; every op calls
// the same launcher the CUDA backend calls, with the same arguments, except the matmuls, which
// are cuBLASLt on the device and plain loops here (their bias gradient is our kernel, emulated).
// So the op tests at tests/unit/op_cases.h check the kernels' logic in CI, without a GPU.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/ops/backend.h"
#include "core/ops/cuda/kernels.h"
#include "core/ops/cuda/token_groups.h"

namespace gpt {
template <>
constexpr DType dtype_of<__nv_bfloat16>() {
  return DType::bf16;
}
}  // namespace gpt

namespace gpt::test {

class EmulatedCudaBackend final : public Backend {
 public:
  using bf16 = __nv_bfloat16;
  using i64 = std::int64_t;

  explicit EmulatedCudaBackend(DType act) : act_(act) {}

  std::string name() const override { return std::string("cuda-emulated-") + dtype_name(act_); }
  DType param_dtype() const override { return DType::f32; }
  DType act_dtype() const override { return act_; }

  void* allocate(std::size_t bytes) override {
    const std::size_t n = (std::max<std::size_t>(bytes, 256) + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, n);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, n);
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void upload(Tensor dst, const float* src) override {
    if (dst.dtype == DType::f32) return upload_bytes(dst.ptr, src, dst.bytes());
    for (i64 i = 0; i < dst.numel(); ++i) dst.data<bf16>()[i] = __float2bfloat16_rn(src[i]);
  }
  void download(Tensor src, float* dst) override {
    if (src.dtype == DType::f32) return download_bytes(dst, src.ptr, src.bytes());
    for (i64 i = 0; i < src.numel(); ++i) dst[i] = __bfloat162float(src.data<bf16>()[i]);
  }
  void upload_bytes(void* dst, const void* src, std::size_t n) override { std::memcpy(dst, src, n); }
  void download_bytes(void* dst, const void* src, std::size_t n) override { std::memcpy(dst, src, n); }
  void zero(Tensor t) override { std::memset(t.ptr, 0, t.bytes()); }
  void convert(Tensor dst, Tensor src) override {
    const i64 n = dst.numel();
    if (dst.dtype == DType::f32 && src.dtype == DType::f32) cuda::convert(dst.data<float>(), src.data<float>(), n, {});
    if (dst.dtype == DType::bf16 && src.dtype == DType::f32) cuda::convert(dst.data<bf16>(), src.data<float>(), n, {});
    if (dst.dtype == DType::f32 && src.dtype == DType::bf16) cuda::convert(dst.data<float>(), src.data<bf16>(), n, {});
    if (dst.dtype == DType::bf16 && src.dtype == DType::bf16) cuda::convert(dst.data<bf16>(), src.data<bf16>(), n, {});
  }

  void embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::embedding_forward(out.data<T>(), tokens.data<std::int32_t>(), wte.data<T>(), wpe.data<T>(), tokens.dim(0),
                              tokens.dim(1), wte.dim(1), {});
    });
  }
  void embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) override {
    const i64 B = tokens.dim(0), T_ = tokens.dim(1), C = dwte.dim(1), n = B * T_;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(4 * n + 1));
    std::memcpy(ids.data(), tokens.ptr, static_cast<std::size_t>(n) * sizeof(std::int32_t));
    std::vector<std::int64_t> count;
    const auto runs =
        static_cast<i64>(cuda::group_positions_by_token(ids.data(), static_cast<std::size_t>(n), dwte.dim(0), count));
    const std::int32_t* order = ids.data() + n;
    act([&](auto t) {
      using T = decltype(t);
      cuda::embedding_backward_wte(dwte.data<float>(), dout.data<T>(), order, order + n, order + n + runs + 1, runs, C,
                                   {});
      cuda::embedding_backward_wpe(dwpe.data<float>(), dout.data<T>(), B, T_, C, {});
    });
  }

  void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::layernorm_forward(out.data<T>(), mean.data<float>(), rstd.data<float>(), x.data<T>(), weight.data<T>(),
                              opt<T>(bias), rows(x), x.dim(-1), {});
    });
  }
  void residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                  Tensor weight, Tensor bias) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::residual_layernorm_forward(residual.data<T>(), out.data<T>(), mean.data<float>(), rstd.data<float>(),
                                       a.data<T>(), b.data<T>(), weight.data<T>(), opt<T>(bias), rows(a), a.dim(-1),
                                       {});
    });
  }
  void layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight, Tensor mean,
                          Tensor rstd) override {
    std::vector<float> partials(static_cast<std::size_t>(cuda::layernorm_partials_numel(rows(x), x.dim(-1))));
    act([&](auto t) {
      using T = decltype(t);
      cuda::layernorm_backward(dx.data<T>(), dweight.data<float>(), dbias.empty() ? nullptr : dbias.data<float>(),
                               dout.data<T>(), x.data<T>(), weight.data<T>(), mean.data<float>(), rstd.data<float>(),
                               rows(x), x.dim(-1), partials.data(), {});
    });
  }

  // Plain loops in double (cuBLASLt on the device), rounded to the output type.
  void matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) override {
    const i64 N = rows(x), IC = x.dim(-1), OC = weight.dim(0);
    const std::vector<float> xs = host(x), w = host(weight), b = bias.empty() ? std::vector<float>() : host(bias);
    std::vector<float> y(static_cast<std::size_t>(N * OC));
    for (i64 i = 0; i < N; ++i)
      for (i64 o = 0; o < OC; ++o) {
        double acc = b.empty() ? 0.0 : b[static_cast<std::size_t>(o)];
        for (i64 k = 0; k < IC; ++k)
          acc += double{xs[static_cast<std::size_t>(i * IC + k)]} * w[static_cast<std::size_t>(o * IC + k)];
        y[static_cast<std::size_t>(i * OC + o)] = static_cast<float>(acc);
      }
    upload(out, y.data());
  }
  void matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) override {
    const i64 N = rows(x), IC = x.dim(-1), OC = weight.dim(0);
    const std::vector<float> xs = host(x), w = host(weight), d = host(dout);
    if (!dx.empty()) {
      std::vector<float> g(static_cast<std::size_t>(N * IC));
      for (i64 i = 0; i < N; ++i)
        for (i64 k = 0; k < IC; ++k) {
          double acc = 0;
          for (i64 o = 0; o < OC; ++o)
            acc += double{d[static_cast<std::size_t>(i * OC + o)]} * w[static_cast<std::size_t>(o * IC + k)];
          g[static_cast<std::size_t>(i * IC + k)] = static_cast<float>(acc);
        }
      upload(dx, g.data());
    }
    for (i64 o = 0; o < OC; ++o)
      for (i64 k = 0; k < IC; ++k) {
        double acc = 0;
        for (i64 i = 0; i < N; ++i)
          acc += double{d[static_cast<std::size_t>(i * OC + o)]} * xs[static_cast<std::size_t>(i * IC + k)];
        dweight.data<float>()[o * IC + k] += static_cast<float>(acc);
      }
    if (!dbias.empty()) {
      std::vector<float> partials(static_cast<std::size_t>(cuda::column_chunks(N) * OC));
      act([&](auto t) {
        using T = decltype(t);
        cuda::column_sum_accumulate(dbias.data<float>(), dout.data<T>(), N, OC, partials.data(), {});
      });
    }
  }

  std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T_, std::int64_t n_head) const override {
    return B * n_head * T_;
  }
  void attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::attention_forward(out.data<T>(), saved.data<float>(), qkv.data<T>(), qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3,
                              n_head, {});
    });
  }
  void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) override {
    std::vector<float> delta(static_cast<std::size_t>(qkv.dim(0) * n_head * qkv.dim(1)));
    act([&](auto t) {
      using T = decltype(t);
      cuda::attention_backward(dqkv.data<T>(), dout.data<T>(), qkv.data<T>(), out.data<T>(), saved.data<float>(),
                               delta.data(), qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, n_head, {});
    });
  }

  void gelu_forward(Tensor out, Tensor x) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::gelu_forward(out.data<T>(), x.data<T>(), x.numel(), {});
    });
  }
  void gelu_backward(Tensor dx, Tensor dout, Tensor x) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::gelu_backward(dx.data<T>(), dout.data<T>(), x.data<T>(), x.numel(), {});
    });
  }
  void swiglu_forward(Tensor out, Tensor x) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::swiglu_forward(out.data<T>(), x.data<T>(), rows(x), x.dim(-1) / 2, {});
    });
  }
  void swiglu_backward(Tensor dx, Tensor dout, Tensor x) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::swiglu_backward(dx.data<T>(), dout.data<T>(), x.data<T>(), rows(x), x.dim(-1) / 2, {});
    });
  }
  void add(Tensor out, Tensor a, Tensor b) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::add(out.data<T>(), a.data<T>(), b.data<T>(), out.numel(), {});
    });
  }
  void dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::dropout(out.data<T>(), x.data<T>(), x.numel(), p, key, {});
    });
  }
  void dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) override {
    dropout_forward(dx, dout, p, key);
  }
  void cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, std::int64_t real_vocab,
                     double dloss) override {
    act([&](auto t) {
      using T = decltype(t);
      cuda::cross_entropy(losses.data<float>(), dlogits.empty() ? nullptr : dlogits.data<T>(), logits.data<T>(),
                          targets.data<std::int32_t>(), rows(logits), logits.dim(-1), real_vocab,
                          static_cast<float>(dloss), {});
    });
  }
  double sum(Tensor x) override { return reduce(x, false); }
  double sum_squares(Tensor x) override { return reduce(x, true); }
  void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) override {
    cuda::adamw(param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), param.numel(), step, {});
  }

 private:
  template <class F>
  void act(F&& f) {
    if (act_ == DType::bf16) {
      f(bf16{});
    } else {
      f(float{});
    }
  }
  template <class T>
  static const T* opt(const Tensor& t) {
    return t.empty() ? nullptr : t.data<T>();
  }
  static i64 rows(const Tensor& t) { return t.numel() / t.dim(-1); }
  std::vector<float> host(Tensor t) {
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    download(t, v.data());
    return v;
  }
  double reduce(Tensor x, bool squares) {
    std::vector<double> partials(cuda::kReduceBlocks + 1);
    if (x.dtype == DType::bf16) {
      cuda::sum(partials.data() + cuda::kReduceBlocks, x.data<bf16>(), x.numel(), squares, partials.data(), {});
    } else {
      cuda::sum(partials.data() + cuda::kReduceBlocks, x.data<float>(), x.numel(), squares, partials.data(), {});
    }
    return partials[cuda::kReduceBlocks];
  }

  DType act_;
};

}  // namespace gpt::test
