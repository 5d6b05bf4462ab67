#pragma once
// bf16 matrix products on the CPU, the building block of train.precision = "bf16" there (issue
// 33): bf16 operands, fp32 accumulation and an fp32 result, through oneDNN's matmul primitive,
// which runs them on AMX tiles or AVX512-BF16 dot products where the CPU has them. Operands are
// bf16 bit patterns (core/half_float.h).
#include <cstdint>
#include <string>

namespace gpt::cpu {

// Row-major C(M,N) = alpha · op(A) · op(B) + beta · C, A and B bf16, C fp32; op = transpose
// when the flag is set; on `threads` OpenMP threads. Without oneDNN: loops over the same values.
void gemm_bf16(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
               const std::uint16_t* A, std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc);

// The linear layer's three products with bf16 activations and weights, as the CUDA backend does
// them: out(N,OC) = x(N,IC) · w(OC,IC)ᵀ + bias, rounded to bf16 once after fp32 accumulation;
// dx = dout · w (skipped when dx is null), rounded to bf16; dw += doutᵀ · x and dbias += Σ_rows dout
// into the fp32 gradients (dbias skipped when null).
void matmul_forward_bf16(int threads, std::uint16_t* out, const std::uint16_t* x, const std::uint16_t* w,
                         const std::uint16_t* bias, std::int64_t N, std::int64_t IC, std::int64_t OC);
void matmul_backward_bf16(int threads, std::uint16_t* dx, float* dw, float* dbias, const std::uint16_t* dout,
                          const std::uint16_t* x, const std::uint16_t* w, std::int64_t N, std::int64_t IC,
                          std::int64_t OC);

// What runs gemm_bf16 here, asked of oneDNN rather than assumed from the CPU's flags.
struct Bf16MatmulSupport {
  bool native = false;         // the CPU multiplies bf16 itself (AMX or AVX512-BF16)
  std::string isa;             // the most oneDNN may dispatch to: "avx512_core_amx", "avx512_core_bf16", ...
  std::string implementation;  // oneDNN's name for the matmul it picked ("brg:avx512_core_amx"), or "loops"
};
Bf16MatmulSupport bf16_matmul_support();

}  // namespace gpt::cpu
