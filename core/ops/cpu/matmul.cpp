#include "core/ops/cpu/matmul.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/ops/cpu/parallel.h"

#ifdef GPT_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace gpt::cpu {
namespace {

template <class T>
void gemm_loops(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(M * N * K))
  for (std::int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (std::int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (std::int64_t k = 0; k < K; ++k) {
      const T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (tb) {
        for (std::int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      } else {
        const T* b = B + k * ldb;
        for (std::int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  }
}

}  // namespace

bool have_onednn() {
#ifdef GPT_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

template <>
void gemm<double>(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                  const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
                  std::int64_t ldc) {
  gemm_loops(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<float>(int threads, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                 const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                 std::int64_t ldc) {
#ifdef GPT_HAVE_DNNL
  // oneDNN takes no thread count: its parallel regions use the calling task's nthreads-var
  // (omp_get_max_threads()). An undeferred task gets its own copy of that setting, so setting it
  // there reaches oneDNN's regions and nothing after this call; at the top level,
  // omp_set_num_threads would change every later region of the thread, ours and the caller's.
  dnnl_status_t status = dnnl_success;
#pragma omp task if (0) shared(status)
  {
    omp_set_num_threads(threads);
    status = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (status != dnnl_success) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string(status));
#else
  gemm_loops(threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

template <class T>
void matmul_forward(int threads, T* out, const T* x, const T* w, const T* bias, std::int64_t N, std::int64_t IC,
                    std::int64_t OC) {
  // Broadcasting the bias first lets the gemm add onto it (beta = 1): one pass over out, not two.
  if (bias) {
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * OC))
    for (std::int64_t i = 0; i < N; ++i) std::copy_n(bias, OC, out + i * OC);
  }
  gemm<T>(threads, false, true, N, OC, IC, T(1), x, IC, w, IC, bias ? T(1) : T(0), out, OC);
}

template <class T>
void matmul_backward(int threads, T* dx, T* dw, T* dbias, const T* dout, const T* x, const T* w, std::int64_t N,
                     std::int64_t IC, std::int64_t OC) {
  if (dx) gemm<T>(threads, false, false, N, IC, OC, T(1), dout, OC, w, IC, T(0), dx, IC);
  gemm<T>(threads, true, false, OC, IC, N, T(1), dout, OC, x, IC, T(1), dw, IC);
  if (dbias) {
    const std::int64_t blocks = (OC + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(N * OC))
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t c0 = blk * kColumnBlock, c1 = std::min(OC, c0 + kColumnBlock);
      for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t c = c0; c < c1; ++c) dbias[c] += dout[i * OC + c];
    }
  }
}

template void matmul_forward<float>(int, float*, const float*, const float*, const float*, std::int64_t, std::int64_t,
                                    std::int64_t);
template void matmul_forward<double>(int, double*, const double*, const double*, const double*, std::int64_t,
                                     std::int64_t, std::int64_t);
template void matmul_backward<float>(int, float*, float*, float*, const float*, const float*, const float*,
                                     std::int64_t, std::int64_t, std::int64_t);
template void matmul_backward<double>(int, double*, double*, double*, const double*, const double*, const double*,
                                      std::int64_t, std::int64_t, std::int64_t);

}  // namespace gpt::cpu
