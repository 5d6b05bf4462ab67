#include "core/ops/cpu/matmul_bf16.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/half_float.h"
#include "core/ops/cpu/parallel.h"

#ifdef GPT_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace gpt::cpu {
namespace {

// Where C is, and in which type: fp32, or bf16 bit patterns rounded once from the fp32 sum.
struct Output {
  void* data;
  bool bf16;
};

// The bias (bf16, one per column of C) is added to the fp32 sum before C's rounding.
[[maybe_unused]] void product_loops(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K,
                                    float alpha, const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B,
                                    std::int64_t ldb, float beta, Output C, std::int64_t ldc,
                                    const std::uint16_t* bias) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(M * N * K))
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      float sum = 0;
      for (std::int64_t k = 0; k < K; ++k)
        sum += bf16_bits_to_float(ta ? A[k * lda + i] : A[i * lda + k]) *
               bf16_bits_to_float(tb ? B[j * ldb + k] : B[k * ldb + j]);
      float value = alpha * sum + (bias ? bf16_bits_to_float(bias[j]) : 0.0f);
      if (C.bf16) {
        auto& c = static_cast<std::uint16_t*>(C.data)[i * ldc + j];
        if (beta != 0.0f) value += beta * bf16_bits_to_float(c);
        c = float_to_bf16_bits(value);
      } else {
        float& c = static_cast<float*>(C.data)[i * ldc + j];
        if (beta != 0.0f) value += beta * c;
        c = value;
      }
    }
}

#ifdef GPT_HAVE_DNNL
using dnnl::memory;

// op(X) of shape (rows, cols) stored row-major with leading dimension ld: strides say which way.
memory::desc operand(std::int64_t rows, std::int64_t cols, std::int64_t ld, bool transposed, memory::data_type type) {
  return memory::desc({rows, cols}, type, transposed ? memory::dims{1, ld} : memory::dims{ld, 1});
}

dnnl::matmul::primitive_desc matmul_desc(const dnnl::engine& engine, bool ta, bool tb, std::int64_t M, std::int64_t N,
                                         std::int64_t K, float alpha, std::int64_t lda, std::int64_t ldb, float beta,
                                         std::int64_t ldc, bool bf16_out, bool bias) {
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops sum;
    sum.append_sum(beta);
    attr.set_post_ops(sum);
  }
  const auto bf16 = memory::data_type::bf16;
  const memory::desc a = operand(M, K, lda, ta, bf16), b = operand(K, N, ldb, tb, bf16),
                     c = operand(M, N, ldc, false, bf16_out ? bf16 : memory::data_type::f32);
  if (!bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine);
  const memory::desc bias_desc({1, N}, bf16, memory::dims{N, 1});
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, bias_desc, c), attr, engine);
}

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    default:
      return "isa " + std::to_string(static_cast<int>(isa));
  }
}
#endif

}  // namespace

namespace {

void product(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
             const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float beta, Output C,
             std::int64_t ldc, const std::uint16_t* bias = nullptr) {
  if (M == 0 || N == 0) return;
#ifdef GPT_HAVE_DNNL
  if (K == 0) {  // an empty sum, which oneDNN refuses: the loops do it
    product_loops(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    return;
  }
  // oneDNN keeps made primitives in its own cache (keyed by the descriptor and attributes), so
  // asking for the same shape again costs a lookup, not a new JIT kernel. Threads: as gemm<float>.
  std::string failure;
#pragma omp task if (0) shared(failure)
  {
    omp_set_num_threads(threads);
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      dnnl::stream stream(engine);
      const auto pd = matmul_desc(engine, ta, tb, M, N, K, alpha, lda, ldb, beta, ldc, C.bf16, bias != nullptr);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(pd.src_desc(), engine, const_cast<std::uint16_t*>(A))},
          {DNNL_ARG_WEIGHTS, memory(pd.weights_desc(), engine, const_cast<std::uint16_t*>(B))},
          {DNNL_ARG_DST, memory(pd.dst_desc(), engine, C.data)}};
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), engine, const_cast<std::uint16_t*>(bias)));
      dnnl::matmul(pd).execute(stream, args);
      stream.wait();
    } catch (const dnnl::error& e) {
      failure = std::string(e.what()) + " (status " + std::to_string(static_cast<int>(e.status)) + ")";
    }
  }
  if (!failure.empty()) throw std::runtime_error("oneDNN bf16 matmul failed: " + failure);
#else
  product_loops(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
#endif
}

}  // namespace

void gemm_bf16(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
               const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc) {
  product(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, {C, false}, ldc);
}

void matmul_forward_bf16(int threads, std::uint16_t* out, const std::uint16_t* x, const std::uint16_t* w,
                         const std::uint16_t* bias, std::int64_t N, std::int64_t IC, std::int64_t OC) {
  product(threads, false, true, N, OC, IC, 1.0f, x, IC, w, IC, 0.0f, {out, true}, OC, bias);
}

void matmul_backward_bf16(int threads, std::uint16_t* dx, float* dw, float* dbias, const std::uint16_t* dout,
                          const std::uint16_t* x, const std::uint16_t* w, std::int64_t N, std::int64_t IC,
                          std::int64_t OC) {
  if (dx) product(threads, false, false, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, {dx, true}, IC);
  product(threads, true, false, OC, IC, N, 1.0f, dout, OC, x, IC, 1.0f, {dw, false}, IC);
  if (dbias) {
    // Column blocks, each summed over every row in order: fixed, so two runs agree to the bit.
    const std::int64_t blocks = (OC + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * OC))
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t c0 = blk * kColumnBlock, c1 = std::min(OC, c0 + kColumnBlock);
      for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t c = c0; c < c1; ++c) dbias[c] += bf16_bits_to_float(dout[i * OC + c]);
    }
  }
}

Bf16MatmulSupport bf16_matmul_support() {
  Bf16MatmulSupport s;
#ifdef GPT_HAVE_DNNL
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  s.isa = isa_name(isa);
  s.native = isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  // A GPT-2-sized product: oneDNN may pick another kernel for tiny ones.
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  s.implementation =
      matmul_desc(engine, false, true, 256, 768, 768, 1.0f, 768, 768, 0.0f, 768, true, true).impl_info_str();
#else
  s.isa = "none (no oneDNN)";
  s.implementation = "loops";
#endif
  return s;
}

}  // namespace gpt::cpu
