#pragma once
// Linear layers on the CPU. fp32 goes through oneDNN's sgemm (AVX-512 kernels picked by CPU
// features); fp64, used by the gradient checks, and builds without oneDNN use plain loops.
#include <cstdint>

namespace gpt::cpu {

// Row-major C(M,N) = alpha · op(A) · op(B) + beta · C, op = transpose when the flag is set; on
// `threads` OpenMP threads, oneDNN's included (see parallel.h).
template <class T>
void gemm(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

// out(N,OC) = x(N,IC) · w(OC,IC)ᵀ + bias
template <class T>
void matmul_forward(int threads, T* out, const T* x, const T* w, const T* bias, std::int64_t N, std::int64_t IC,
                    std::int64_t OC);

// dx = dout · w (skipped when dx is null); dw += doutᵀ · x; dbias += Σ_rows dout
template <class T>
void matmul_backward(int threads, T* dx, T* dw, T* dbias, const T* dout, const T* x, const T* w, std::int64_t N,
                     std::int64_t IC, std::int64_t OC);

// Whether fp32 gemm runs on oneDNN in this build.
bool have_onednn();

}  // namespace gpt::cpu
