#include "core/ops/cpu/strided_matmul.h"

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

std::int64_t offset(const MatrixView& v, std::int64_t b, std::int64_t h, std::int64_t r, std::int64_t c) {
  return b * v.batch_stride[0] + h * v.batch_stride[1] + r * v.row_stride + c * v.col_stride;
}

float load(const MatrixView& v, std::int64_t i) {
  return v.type == Elem::bf16 ? bf16_bits_to_float(static_cast<const std::uint16_t*>(v.data)[i])
                              : static_cast<const float*>(v.data)[i];
}

void store(const MatrixView& v, std::int64_t i, float value) {
  if (v.type == Elem::bf16)
    static_cast<std::uint16_t*>(v.data)[i] = float_to_bf16_bits(value);
  else
    static_cast<float*>(v.data)[i] = value;
}

// The same sums without oneDNN (and for the empty sum K = 0, which oneDNN refuses).
void product_loops(int threads, const ProductShape& s, float alpha, const MatrixView& A, const MatrixView& B,
                   float beta, const MatrixView& C, const MatrixView* bias) {
  const std::int64_t grid = s.batch0 * s.batch1;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (worth_parallel(grid * s.M * s.N * s.K))
  for (std::int64_t g = 0; g < grid; ++g)
    for (std::int64_t i = 0; i < s.M; ++i) {
      const std::int64_t b = g / s.batch1, h = g % s.batch1;
      for (std::int64_t j = 0; j < s.N; ++j) {
        float sum = 0;
        for (std::int64_t k = 0; k < s.K; ++k) sum += load(A, offset(A, b, h, i, k)) * load(B, offset(B, b, h, k, j));
        float value = alpha * sum + (bias ? load(*bias, j * bias->col_stride) : 0.0f);
        const std::int64_t at = offset(C, b, h, i, j);
        if (beta != 0.0f) value += beta * load(C, at);
        store(C, at, value);
      }
    }
}

#ifdef GPT_HAVE_DNNL
using dnnl::memory;

memory::data_type dnnl_type(Elem e) {
  return e == Elem::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

// Batch dimensions of one are left out of the descriptors: oneDNN's fast kernels do not take a
// 4-D descriptor whose unit dimensions have stride 0, and would fall back to reference loops.
int rank_of(const ProductShape& s) {
  return s.batch0 == 1 && s.batch1 == 1 ? 2 : s.batch0 == 1 ? 3 : 4;
}

memory::desc view_desc(const MatrixView& v, int rank, std::int64_t b0, std::int64_t b1, std::int64_t rows,
                       std::int64_t cols) {
  if (rank == 2) return memory::desc({rows, cols}, dnnl_type(v.type), {v.row_stride, v.col_stride});
  if (rank == 3)
    return memory::desc({b1, rows, cols}, dnnl_type(v.type), {v.batch_stride[1], v.row_stride, v.col_stride});
  return memory::desc({b0, b1, rows, cols}, dnnl_type(v.type),
                      {v.batch_stride[0], v.batch_stride[1], v.row_stride, v.col_stride});
}

dnnl::matmul::primitive_desc product_desc(const dnnl::engine& engine, const ProductShape& s, float alpha,
                                          const MatrixView& A, const MatrixView& B, float beta, const MatrixView& C,
                                          const MatrixView* bias) {
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops sum;
    sum.append_sum(beta);
    attr.set_post_ops(sum);
  }
  const int rank = rank_of(s);
  const memory::desc a = view_desc(A, rank, s.batch0, s.batch1, s.M, s.K),
                     b = view_desc(B, rank, s.batch0, s.batch1, s.K, s.N),
                     c = view_desc(C, rank, s.batch0, s.batch1, s.M, s.N);
  if (!bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine);
  MatrixView row = *bias;  // one row, broadcast over the grid and the rows of C
  row.batch_stride[0] = row.batch_stride[1] = row.row_stride = s.N * bias->col_stride;
  const memory::desc bias_desc = view_desc(row, rank, 1, 1, 1, s.N);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, bias_desc, c), attr, engine);
}
#endif

}  // namespace

void strided_matmul(int threads, const ProductShape& shape, float alpha, const MatrixView& A, const MatrixView& B,
                    float beta, const MatrixView& C, const MatrixView* bias) {
  if (shape.batch0 * shape.batch1 * shape.M * shape.N == 0) return;
#ifdef GPT_HAVE_DNNL
  if (shape.K == 0) {
    product_loops(threads, shape, alpha, A, B, beta, C, bias);
    return;
  }
  // oneDNN keeps made primitives in its own cache (keyed by the descriptor and attributes), so
  // asking for the same shape again costs a lookup, not a new JIT kernel. oneDNN takes no thread
  // count: an undeferred task gets its own copy of the nthreads setting (as gemm<float>).
  std::string failure;
#pragma omp task if (0) shared(failure)
  {
    omp_set_num_threads(threads);
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      dnnl::stream stream(engine);
      const auto pd = product_desc(engine, shape, alpha, A, B, beta, C, bias);
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(pd.src_desc(), engine, A.data)},
                                           {DNNL_ARG_WEIGHTS, memory(pd.weights_desc(), engine, B.data)},
                                           {DNNL_ARG_DST, memory(pd.dst_desc(), engine, C.data)}};
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), engine, bias->data));
      dnnl::matmul(pd).execute(stream, args);
      stream.wait();
    } catch (const dnnl::error& e) {
      failure = std::string(e.what()) + " (status " + std::to_string(static_cast<int>(e.status)) + ")";
    }
  }
  if (!failure.empty()) throw std::runtime_error("oneDNN matmul failed: " + failure);
#else
  product_loops(threads, shape, alpha, A, B, beta, C, bias);
#endif
}

std::string strided_matmul_kernel(const ProductShape& shape, const MatrixView& A, const MatrixView& B,
                                  const MatrixView& C, const MatrixView* bias) {
#ifdef GPT_HAVE_DNNL
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return product_desc(engine, shape, 1.0f, A, B, 0.0f, C, bias).impl_info_str();
#else
  (void)shape, (void)A, (void)B, (void)C, (void)bias;
  return "loops";
#endif
}

}  // namespace gpt::cpu
