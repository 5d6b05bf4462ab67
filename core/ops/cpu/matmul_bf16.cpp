#include "core/ops/cpu/matmul_bf16.h"

#include <algorithm>
#include <string>

#include "core/half_float.h"
#include "core/ops/cpu/parallel.h"
#include "core/ops/cpu/strided_matmul.h"

#ifdef GPT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace gpt::cpu {
namespace {

#ifdef GPT_HAVE_DNNL
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
  strided_matmul(threads, {.M = M, .N = N, .K = K}, alpha, dense(A, Elem::bf16, lda, ta), dense(B, Elem::bf16, ldb, tb),
                 beta, dense(C, Elem::f32, ldc));
}

void matmul_forward_bf16(int threads, std::uint16_t* out, const std::uint16_t* x, const std::uint16_t* w,
                         const std::uint16_t* bias, std::int64_t N, std::int64_t IC, std::int64_t OC) {
  const MatrixView bias_view = dense(bias, Elem::bf16, OC);
  strided_matmul(threads, {.M = N, .N = OC, .K = IC}, 1.0f, dense(x, Elem::bf16, IC), dense(w, Elem::bf16, IC, true),
                 0.0f, dense(out, Elem::bf16, OC), bias ? &bias_view : nullptr);
}

void matmul_backward_bf16(int threads, std::uint16_t* dx, float* dw, float* dbias, const std::uint16_t* dout,
                          const std::uint16_t* x, const std::uint16_t* w, std::int64_t N, std::int64_t IC,
                          std::int64_t OC) {
  if (dx)
    strided_matmul(threads, {.M = N, .N = IC, .K = OC}, 1.0f, dense(dout, Elem::bf16, OC), dense(w, Elem::bf16, IC),
                   0.0f, dense(dx, Elem::bf16, IC));
  strided_matmul(threads, {.M = OC, .N = IC, .K = N}, 1.0f, dense(dout, Elem::bf16, OC, true), dense(x, Elem::bf16, IC),
                 1.0f, dense(dw, Elem::f32, IC));
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
#else
  s.isa = "none (no oneDNN)";
#endif
  // A GPT-2-sized product: oneDNN may pick another kernel for tiny ones.
  const MatrixView bias = dense(nullptr, Elem::bf16, 768);
  s.implementation =
      strided_matmul_kernel({.M = 256, .N = 768, .K = 768}, dense(nullptr, Elem::bf16, 768),
                            dense(nullptr, Elem::bf16, 768, true), dense(nullptr, Elem::bf16, 768), &bias);
  return s;
}

}  // namespace gpt::cpu
