#pragma once
// Batched matrix products over strided fp32 or bf16 views, through oneDNN's matmul primitive
// (AMX, AVX512-BF16 or AVX-512 kernels, as the CPU has them); plain loops without oneDNN. The one
// place the CPU backends call oneDNN's matmul: the bf16 linear layers (matmul_bf16.h) and both
// precisions' attention (attention_gemm.h) are built on it.
#include <cstdint>
#include <string>

namespace gpt::cpu {

enum class Elem : std::uint8_t { f32, bf16 };  // bf16: bit patterns (core/half_float.h)

// A (batch0, batch1) grid of matrices in memory: element (b, h, r, c) is at
// data + b·batch_stride[0] + h·batch_stride[1] + r·row_stride + c·col_stride, in elements.
// A transposed view swaps the row and column strides; a head of a (B, T, 3C) qkv tensor is
// batch strides (T·3C, head size), row stride 3C.
struct MatrixView {
  void* data = nullptr;
  Elem type = Elem::f32;
  std::int64_t batch_stride[2] = {0, 0};
  std::int64_t row_stride = 0, col_stride = 1;
};

struct ProductShape {
  std::int64_t batch0 = 1, batch1 = 1, M = 0, N = 0, K = 0;
};

// C = alpha · A · B + beta · C for every matrix of the grid, A (M,K), B (K,N), C (M,N);
// fp32 accumulation whatever the operands, C rounded to its type once. bias (bf16 or fp32, N
// values, may be null) is added to each row before the rounding. On `threads` OpenMP threads,
// oneDNN's included (see parallel.h).
void strided_matmul(int threads, const ProductShape& shape, float alpha, const MatrixView& A, const MatrixView& B,
                    float beta, const MatrixView& C, const MatrixView* bias = nullptr);

// oneDNN's name for the kernel it picks for this product ("brg:avx512_core_amx", ...), or "loops".
std::string strided_matmul_kernel(const ProductShape& shape, const MatrixView& A, const MatrixView& B,
                                  const MatrixView& C, const MatrixView* bias = nullptr);

// A row-major matrix (rows, cols) with leading dimension ld, transposed when asked: the view of
// op(X) for BLAS-style calls. Views are untyped and read or written as the product says, so an
// operand that is only read may be given as const.
inline MatrixView dense(const void* data, Elem type, std::int64_t ld, bool transposed = false) {
  MatrixView v;
  v.data = const_cast<void*>(data);
  v.type = type;
  v.row_stride = transposed ? 1 : ld;
  v.col_stride = transposed ? ld : 1;
  return v;
}

}  // namespace gpt::cpu
