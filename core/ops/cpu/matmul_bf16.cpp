#include "core/ops/cpu/matmul_bf16.h"

#include <stdexcept>

#include "core/half_float.h"
#include "core/ops/cpu/parallel.h"

#ifdef GPT_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace gpt::cpu {
namespace {

[[maybe_unused]] void gemm_bf16_loops(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K,
                                      float alpha, const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B,
                                      std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(M * N * K))
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      float sum = 0;
      for (std::int64_t k = 0; k < K; ++k)
        sum += bf16_bits_to_float(ta ? A[k * lda + i] : A[i * lda + k]) *
               bf16_bits_to_float(tb ? B[j * ldb + k] : B[k * ldb + j]);
      float& c = C[i * ldc + j];
      c = alpha * sum + (beta == 0.0f ? 0.0f : beta * c);
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
                                         std::int64_t ldc) {
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops sum;
    sum.append_sum(beta);
    attr.set_post_ops(sum);
  }
  const auto bf16 = memory::data_type::bf16;
  const dnnl::matmul::desc desc(operand(M, K, lda, ta, bf16), operand(K, N, ldb, tb, bf16),
                                operand(M, N, ldc, false, memory::data_type::f32));
  return dnnl::matmul::primitive_desc(desc, attr, engine);
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

void gemm_bf16(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
               const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: oneDNN refuses a zero dimension
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
#ifdef GPT_HAVE_DNNL
  // oneDNN keeps made primitives in its own cache (keyed by the descriptor and attributes), so
  // asking for the same shape again costs a lookup, not a new JIT kernel. Threads: as gemm<float>.
  std::string failure;
#pragma omp task if (0) shared(failure)
  {
    omp_set_num_threads(threads);
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      dnnl::stream stream(engine);
      const auto pd = matmul_desc(engine, ta, tb, M, N, K, alpha, lda, ldb, beta, ldc);
      memory a(pd.src_desc(), engine, const_cast<std::uint16_t*>(A));
      memory b(pd.weights_desc(), engine, const_cast<std::uint16_t*>(B));
      memory c(pd.dst_desc(), engine, C);
      dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
      stream.wait();
    } catch (const dnnl::error& e) {
      failure = std::string(e.what()) + " (status " + std::to_string(static_cast<int>(e.status)) + ")";
    }
  }
  if (!failure.empty()) throw std::runtime_error("oneDNN bf16 matmul failed: " + failure);
#else
  gemm_bf16_loops(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

Bf16MatmulSupport bf16_matmul_support() {
  Bf16MatmulSupport s;
#ifdef GPT_HAVE_DNNL
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  s.isa = isa_name(isa);
  s.native = isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  // A GPT-2-sized product: oneDNN may pick another kernel for tiny ones.
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  s.implementation = matmul_desc(engine, false, true, 256, 768, 768, 1.0f, 768, 768, 0.0f, 768).impl_info_str();
#else
  s.isa = "none (no oneDNN)";
  s.implementation = "loops";
#endif
  return s;
}

}  // namespace gpt::cpu
