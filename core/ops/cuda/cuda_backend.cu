#include "core/ops/cuda/cuda_backend.h"

#include <cublasLt.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/half_float.h"
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"
#include "core/ops/cuda/matmul_plan_cache.h"
#include "core/ops/cuda/token_groups.h"

namespace gpt {

template <>
constexpr DType dtype_of<cuda::bf16>() {
  return DType::bf16;
}

namespace {

using cuda::bf16;
using cuda::i64;

constexpr std::size_t kLtWorkspaceBytes = 32u << 20;

void check_lt(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLASLt ") + what + " failed with status " + std::to_string(status));
}

float* f32(const Tensor& t) {
  return t.empty() ? nullptr : t.data<float>();
}

cudaDataType cuda_type(DType t) {
  if (t == DType::bf16) return CUDA_R_16BF;
  if (t == DType::f32) return CUDA_R_32F;
  throw std::logic_error(std::string("cuda backend: no cuBLASLt type for ") + dtype_name(t));
}

}  // namespace

// Named, not anonymous: CudaBackend::Impl holds a cache of these.
namespace cuda {

// cuBLASLt's side of the plan cache (core/ops/cuda/matmul_plan_cache.h): a plan is the matmul's
// descriptors and the heuristic's first algorithm for them.
struct LtPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct LtPlanner {
  using Plan = LtPlan;
  cublasLtHandle_t lt = nullptr;

  void destroy(LtPlan& plan) noexcept {
    cublasLtMatrixLayoutDestroy(plan.ld);
    cublasLtMatrixLayoutDestroy(plan.lb);
    cublasLtMatrixLayoutDestroy(plan.la);
    cublasLtMatmulDescDestroy(plan.op);
    plan = LtPlan{};
  }

  // The heuristic having no algorithm is a refusal: cuBLASLt says so with zero results or, in
  // some versions, with NOT_SUPPORTED.
  std::optional<std::string> try_make(const cuda::MatmulKey& key, bool bias_epilogue, LtPlan& plan) {
    plan = LtPlan{};
    cublasLtMatmulPreference_t pref = nullptr;
    int found = 0;
    cublasStatus_t heuristic_status = CUBLAS_STATUS_SUCCESS;
    try {
      check_lt(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
      const cublasOperation_t ta = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                              tb = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "TRANSA");
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "TRANSB");
      if (bias_epilogue) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "EPILOGUE");
      }
      const i64 m = key.m, n = key.n, k = key.k;
      const cudaDataType ab = cuda_type(key.ab);
      check_lt(cublasLtMatrixLayoutCreate(&plan.la, ab, key.trans_a ? k : m, key.trans_a ? m : k, key.lda), "layout A");
      check_lt(cublasLtMatrixLayoutCreate(&plan.lb, ab, key.trans_b ? n : k, key.trans_b ? k : n, key.ldb), "layout B");
      check_lt(cublasLtMatrixLayoutCreate(&plan.ld, cuda_type(key.d), m, n, key.ldd), "layout D");
      check_lt(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate");
      const std::uint64_t ws = kLtWorkspaceBytes;
      check_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
               "workspace");
      // These four attributes are uint32_t: a wrongly sized value is rejected with INVALID_VALUE.
      const std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t> alignments[] = {
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d}};
      for (const auto& [attribute, value] : alignments)
        check_lt(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof value), "alignment");
      cublasLtMatmulHeuristicResult_t heuristic{};
      heuristic_status =
          cublasLtMatmulAlgoGetHeuristic(lt, plan.op, plan.la, plan.lb, plan.ld, plan.ld, pref, 1, &heuristic, &found);
      if (heuristic_status == CUBLAS_STATUS_NOT_SUPPORTED)
        found = 0;
      else
        check_lt(heuristic_status, "heuristic");
      plan.algo = heuristic.algo;
    } catch (...) {
      cublasLtMatmulPreferenceDestroy(pref);
      destroy(plan);
      throw;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    if (found > 0) return std::nullopt;
    destroy(plan);
    return heuristic_status == CUBLAS_STATUS_SUCCESS ? std::string("no results")
                                                     : "status " + std::to_string(heuristic_status);
  }
};

}  // namespace cuda

CudaDevices cuda_devices() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error
    return {0, std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status) + " (error " +
                   std::to_string(static_cast<int>(status)) + ")"};
  }
  if (count == 0) return {0, "cudaGetDeviceCount found no device"};
  return {count, ""};
}

int cuda_device_count() {
  return cuda_devices().count;
}

struct CudaBackend::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  std::optional<cuda::MatmulPlanCache<cuda::LtPlanner>> plans;  // made with `lt`, destroyed before it
  float* scratch = nullptr;
  std::size_t scratch_floats = 0;
  double* reduce = nullptr;  // kReduceBlocks partials + 1 result
  std::int32_t* buckets = nullptr;
  std::size_t bucket_ints = 0;
  // The embedding backward's token grouping is computed on the host while the compute stream
  // runs on: tokens come down on a side stream, the grouping goes up from pinned memory.
  cudaStream_t copy_stream = nullptr;
  std::int32_t* pinned = nullptr;  // token ids, then the grouping to upload
  std::size_t pinned_ints = 0;
  cudaEvent_t pinned_free = nullptr;      // the last upload from `pinned` has been read
  std::vector<std::int64_t> token_count;  // scratch of group_positions_by_token
  std::string device_name;

  float* scratch_for(std::size_t floats) {
    if (floats > scratch_floats) {
      GPT_CUDA_CHECK(cudaStreamSynchronize(stream));  // kernels may still use the old one
      GPT_CUDA_CHECK(cudaFree(scratch));
      GPT_CUDA_CHECK(cudaMalloc(&scratch, floats * sizeof(float)));
      scratch_floats = floats;
    }
    return scratch;
  }
  std::int32_t* pinned_for(std::size_t ints) {
    GPT_CUDA_CHECK(cudaEventSynchronize(pinned_free));
    if (ints > pinned_ints) {
      GPT_CUDA_CHECK(cudaFreeHost(pinned));
      pinned = nullptr;
      GPT_CUDA_CHECK(cudaMallocHost(&pinned, ints * sizeof(std::int32_t)));
      pinned_ints = ints;
    }
    return pinned;
  }
  std::int32_t* buckets_for(std::size_t ints) {
    if (ints > bucket_ints) {
      GPT_CUDA_CHECK(cudaStreamSynchronize(stream));
      GPT_CUDA_CHECK(cudaFree(buckets));
      GPT_CUDA_CHECK(cudaMalloc(&buckets, ints * sizeof(std::int32_t)));
      bucket_ints = ints;
    }
    return buckets;
  }

  // Column-major D(m×n) = op(A)·op(B) + beta·D (+ bias over rows), the cuBLAS view of our
  // row-major products. A and B have type ab, D has type d; compute in fp32 (no TF32).
  void matmul(bool trans_a, bool trans_b, i64 m, i64 n, i64 k, const void* A, i64 lda, const void* B, i64 ldb, void* D,
              i64 ldd, DType ab, DType d, float beta, const void* bias) {
    const cuda::MatmulKey key{.trans_a = trans_a,
                              .trans_b = trans_b,
                              .bias = bias != nullptr,
                              .m = m,
                              .n = n,
                              .k = k,
                              .lda = lda,
                              .ldb = ldb,
                              .ldd = ldd,
                              .ab = ab,
                              .d = d,
                              .align_a = cuda::pointer_alignment(A),
                              .align_b = cuda::pointer_alignment(B),
                              .align_d = cuda::pointer_alignment(D)};
    auto& [plan, bias_by_kernel] = plans->get(key);
    if (bias && !bias_by_kernel)
      check_lt(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "BIAS");
    const float alpha = 1.0f;
    check_lt(cublasLtMatmul(lt, plan.op, &alpha, A, plan.la, B, plan.lb, &beta, D, plan.ld, D, plan.ld, &plan.algo,
                            lt_workspace, kLtWorkspaceBytes, stream),
             "Matmul");
    // The epilogue adds the bias to the fp32 accumulator and rounds once; the kernel adds it to D
    // as stored, so a bf16 D is rounded twice (at most half a bf16 ulp of the product more error;
    // an fp32 D gets the same sum), and D makes one more round trip through memory. Column-major
    // D(m×n) is row-major n×m with row stride ldd; bias[i] goes to column i of every row.
    if (bias && bias_by_kernel) {
      if (d == DType::bf16) {
        cuda::add_bias(static_cast<bf16*>(D), static_cast<const bf16*>(bias), n, m, ldd, stream);
      } else {
        if (d != DType::f32) throw std::logic_error("cuda backend: matmul output is fp32 or bf16");
        cuda::add_bias(static_cast<float*>(D), static_cast<const float*>(bias), n, m, ldd, stream);
      }
    }
  }
};

CudaBackend::CudaBackend(DType act, int device) : act_(act), impl_(std::make_unique<Impl>()) {
  if (act != DType::bf16 && act != DType::f32) throw std::invalid_argument("CUDA activations are bf16 or f32");
  if (device >= cuda_device_count()) throw std::runtime_error("no CUDA device " + std::to_string(device));
  impl_->device = device;
  GPT_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  GPT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  impl_->device_name = prop.name;
  GPT_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  GPT_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->copy_stream, cudaStreamNonBlocking));
  GPT_CUDA_CHECK(cudaEventCreateWithFlags(&impl_->pinned_free, cudaEventDisableTiming));
  check_lt(cublasLtCreate(&impl_->lt), "Create");
  impl_->plans.emplace(cuda::LtPlanner{impl_->lt});
  GPT_CUDA_CHECK(cudaMalloc(&impl_->lt_workspace, kLtWorkspaceBytes));
  GPT_CUDA_CHECK(cudaMalloc(&impl_->reduce, (cuda::kReduceBlocks + 1) * sizeof(double)));
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(impl_->stream);
  impl_->plans.reset();  // before the handle they were made with
  cudaFree(impl_->buckets);
  cudaFreeHost(impl_->pinned);
  cudaEventDestroy(impl_->pinned_free);
  cudaStreamDestroy(impl_->copy_stream);
  cudaFree(impl_->scratch);
  cudaFree(impl_->reduce);
  cudaFree(impl_->lt_workspace);
  cublasLtDestroy(impl_->lt);
  cudaStreamDestroy(impl_->stream);
}

std::string CudaBackend::device_name() const {
  return impl_->device_name;
}

std::string CudaBackend::name() const {
  return std::string("cuda-") + dtype_name(act_) + " (" + impl_->device_name + ")";
}

// Calls f with a value of the activation type, so one generic lambda serves bf16 and fp32.
template <class F>
void with_act_type(DType act, F&& f) {
  if (act == DType::bf16) {
    f(bf16{});
  } else {
    f(float{});
  }
}

std::size_t CudaBackend::available_memory() const {
  std::size_t free_bytes = 0, total_bytes = 0;
  GPT_CUDA_CHECK(cudaSetDevice(impl_->device));
  GPT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

void* CudaBackend::allocate(std::size_t bytes) {
  void* p = nullptr;
  const std::size_t n = std::max<std::size_t>(bytes, 256);
  if (cudaMalloc(&p, n) != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky, but it would surface at the next launch check
    throw std::runtime_error("out of GPU memory: cannot allocate " + std::to_string(n >> 20) + " MiB");
  }
  // On our stream, not the legacy default one: our stream is non-blocking, so a plain cudaMemset
  // could still be running when the first upload or kernel touches the buffer.
  GPT_CUDA_CHECK(cudaMemsetAsync(p, 0, n, impl_->stream));
  GPT_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  return p;
}

void CudaBackend::release(void* ptr) noexcept {
  cudaStreamSynchronize(impl_->stream);
  cudaFree(ptr);
}

void CudaBackend::upload(Tensor dst, const float* src) {
  const std::size_t n = static_cast<std::size_t>(dst.numel());
  if (dst.dtype == DType::f32) return upload_bytes(dst.ptr, src, n * sizeof(float));
  require(dst.dtype == DType::bf16, "upload to f32 or bf16 only");
  std::vector<std::uint16_t> host(n);
  for (std::size_t i = 0; i < n; ++i) host[i] = float_to_bf16_bits(src[i]);
  upload_bytes(dst.ptr, host.data(), n * sizeof(std::uint16_t));
}

void CudaBackend::download(Tensor src, float* dst) {
  const std::size_t n = static_cast<std::size_t>(src.numel());
  if (src.dtype == DType::f32) return download_bytes(dst, src.ptr, n * sizeof(float));
  require(src.dtype == DType::bf16, "download from f32 or bf16 only");
  std::vector<std::uint16_t> host(n);
  download_bytes(host.data(), src.ptr, n * sizeof(std::uint16_t));
  for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_bits_to_float(host[i]);
}

void CudaBackend::upload_bytes(void* dst, const void* src, std::size_t bytes) {
  GPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, impl_->stream));
  GPT_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));  // src is pageable host memory the caller may reuse
}

void CudaBackend::download_bytes(void* dst, const void* src, std::size_t bytes) {
  GPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl_->stream));
  GPT_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaBackend::zero(Tensor t) {
  GPT_CUDA_CHECK(cudaMemsetAsync(t.ptr, 0, t.bytes(), impl_->stream));
}

void CudaBackend::do_convert(Tensor dst, Tensor src) {
  const i64 n = dst.numel();
  auto run = [&](auto* d, const auto* s) { cuda::convert(d, s, n, impl_->stream); };
  if (dst.dtype == DType::f32 && src.dtype == DType::f32)
    run(dst.data<float>(), src.data<float>());
  else if (dst.dtype == DType::bf16 && src.dtype == DType::f32)
    run(dst.data<bf16>(), src.data<float>());
  else if (dst.dtype == DType::f32 && src.dtype == DType::bf16)
    run(dst.data<float>(), src.data<bf16>());
  else
    run(dst.data<bf16>(), src.data<bf16>());
}

void* CudaBackend::stream() const {
  return impl_->stream;
}

int CudaBackend::device() const {
  return impl_->device;
}

void CudaBackend::synchronize() {
  GPT_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaBackend::do_embedding_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, i64 position0) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    const T* positions = wpe.empty() ? nullptr : wpe.data<T>() + position0 * wpe.dim(1);  // none with RoPE
    cuda::embedding_forward(out.data<T>(), tokens.data<std::int32_t>(), wte.data<T>(), positions, tokens.dim(0),
                            tokens.dim(1), wte.dim(1), impl_->stream);
  });
}

void CudaBackend::do_embedding_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
  const i64 B = tokens.dim(0), T_ = tokens.dim(1), C = dwte.dim(1), n = B * T_, V = dwte.dim(0);
  if (n == 0) return;
  // Group positions by token (a counting sort, stable), so each vocabulary row is summed by one
  // block in position order: deterministic, no atomics. The ids come down on the side stream,
  // which does not wait for the backward kernels still queued on the compute stream (the
  // contract: token buffers are written by uploads, which have completed before they return),
  // and the grouping goes up asynchronously, so the GPU keeps working meanwhile.
  Impl& im = *impl_;
  const auto count = static_cast<std::size_t>(n);
  std::int32_t* ids = im.pinned_for(4 * count + 1);  // ids, order, run_start, run_token
  GPT_CUDA_CHECK(
      cudaMemcpyAsync(ids, tokens.ptr, count * sizeof(std::int32_t), cudaMemcpyDeviceToHost, im.copy_stream));
  GPT_CUDA_CHECK(cudaStreamSynchronize(im.copy_stream));
  // The grouping refuses token ids outside [0, V): a check of values, not shapes, made here
  // because this backend reads the ids on the host anyway.
  const std::size_t runs = cuda::group_positions_by_token(ids, count, V, im.token_count);
  std::int32_t* order = ids + count;
  const std::size_t packed = count + 2 * runs + 1;
  std::int32_t* dev = im.buckets_for(packed);  // stream-ordered after the previous call's kernel
  GPT_CUDA_CHECK(cudaMemcpyAsync(dev, order, packed * sizeof(std::int32_t), cudaMemcpyHostToDevice, im.stream));
  GPT_CUDA_CHECK(cudaEventRecord(im.pinned_free, im.stream));
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::embedding_backward_wte(dwte.data<float>(), dout.data<T>(), dev, dev + n, dev + n + runs + 1,
                                 static_cast<i64>(runs), C, im.stream);
    if (!dwpe.empty()) cuda::embedding_backward_wpe(dwpe.data<float>(), dout.data<T>(), B, T_, C, im.stream);
  });
}

void CudaBackend::do_layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias) {
  const i64 C = x.dim(-1), N = rows_of(x);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::layernorm_forward(out.data<T>(), mean.data<float>(), rstd.data<float>(), x.data<T>(), weight.data<T>(),
                            bias.empty() ? nullptr : bias.data<T>(), N, C, impl_->stream);
  });
}

void CudaBackend::do_residual_layernorm_forward(Tensor residual, Tensor out, Tensor mean, Tensor rstd, Tensor a,
                                                Tensor b, Tensor weight, Tensor bias) {
  const i64 C = a.dim(-1), N = rows_of(a);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::residual_layernorm_forward(residual.data<T>(), out.data<T>(), mean.data<float>(), rstd.data<float>(),
                                     a.data<T>(), b.data<T>(), weight.data<T>(),
                                     bias.empty() ? nullptr : bias.data<T>(), N, C, impl_->stream);
  });
}

void CudaBackend::do_layernorm_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                                        Tensor mean, Tensor rstd) {
  const i64 C = x.dim(-1), N = rows_of(x);
  float* partials = impl_->scratch_for(static_cast<std::size_t>(cuda::layernorm_partials_numel(N, C)));
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::layernorm_backward(dx.data<T>(), dweight.data<float>(), f32(dbias), dout.data<T>(), x.data<T>(),
                             weight.data<T>(), mean.data<float>(), rstd.data<float>(), N, C, partials, impl_->stream);
  });
}

void CudaBackend::do_rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight) {
  const i64 C = x.dim(-1), N = rows_of(x);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::rmsnorm_forward(out.data<T>(), rstd.data<float>(), x.data<T>(), weight.data<T>(), N, C, impl_->stream);
  });
}

void CudaBackend::do_residual_rmsnorm_forward(Tensor residual, Tensor out, Tensor rstd, Tensor a, Tensor b,
                                              Tensor weight) {
  const i64 C = a.dim(-1), N = rows_of(a);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::residual_rmsnorm_forward(residual.data<T>(), out.data<T>(), rstd.data<float>(), a.data<T>(), b.data<T>(),
                                   weight.data<T>(), N, C, impl_->stream);
  });
}

void CudaBackend::do_rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  const i64 C = x.dim(-1), N = rows_of(x);
  float* partials = impl_->scratch_for(static_cast<std::size_t>(cuda::layernorm_partials_numel(N, C)));
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::rmsnorm_backward(dx.data<T>(), dweight.data<float>(), dout.data<T>(), x.data<T>(), weight.data<T>(),
                           rstd.data<float>(), N, C, partials, impl_->stream);
  });
}

void CudaBackend::do_matmul_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
  const i64 IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    impl_->matmul(true, false, OC, N, IC, weight.data<T>(), IC, x.data<T>(), IC, out.data<T>(), OC, act_, act_, 0.0f,
                  bias.empty() ? nullptr : bias.data<T>());
  });
}

void CudaBackend::do_matmul_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight) {
  const i64 IC = x.dim(-1), N = rows_of(x), OC = weight.dim(0);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    if (!dx.empty())
      impl_->matmul(false, false, IC, N, OC, weight.data<T>(), IC, dout.data<T>(), OC, dx.data<T>(), IC, act_, act_,
                    0.0f, nullptr);
    // The weight gradient accumulates in fp32 straight from bf16 operands (beta = 1).
    impl_->matmul(false, true, IC, OC, N, x.data<T>(), IC, dout.data<T>(), OC, dweight.data<float>(), IC, act_,
                  DType::f32, 1.0f, nullptr);
    if (!dbias.empty()) {
      float* partials = impl_->scratch_for(static_cast<std::size_t>(cuda::column_chunks(N) * OC));
      cuda::column_sum_accumulate(dbias.data<float>(), dout.data<T>(), N, OC, partials, impl_->stream);
    }
  });
}

std::int64_t CudaBackend::attention_saved_numel(std::int64_t B, std::int64_t T_, std::int64_t n_head) const {
  return B * n_head * T_;  // the log-sum-exp of each query row
}

void CudaBackend::do_attention_forward(Tensor out, Tensor saved, Tensor qkv, int n_head) {
  const i64 B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::attention_forward(out.data<T>(), saved.data<float>(), qkv.data<T>(), B, T_, C, n_head, impl_->stream);
  });
}

void CudaBackend::do_attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor saved, int n_head) {
  const i64 B = qkv.dim(0), T_ = qkv.dim(1), C = qkv.dim(2) / 3;
  float* delta = impl_->scratch_for(static_cast<std::size_t>(B * n_head * T_));
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::attention_backward(dqkv.data<T>(), dout.data<T>(), qkv.data<T>(), out.data<T>(), saved.data<float>(), delta,
                             B, T_, C, n_head, impl_->stream);
  });
}

void CudaBackend::do_qk_norm_forward(Tensor qkv, Tensor rstd, int n_head) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::qk_norm_forward(qkv.data<T>(), rstd.data<float>(), qkv.dim(0) * qkv.dim(1), qkv.dim(2) / 3, n_head,
                          impl_->stream);
  });
}

void CudaBackend::do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor rstd, int n_head) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::qk_norm_backward(dqkv.data<T>(), qkv.data<T>(), rstd.data<float>(), qkv.dim(0) * qkv.dim(1), qkv.dim(2) / 3,
                           n_head, impl_->stream);
  });
}

void CudaBackend::do_rope(Tensor qkv, int n_head, i64 position0, double base, bool inverse) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::rope(qkv.data<T>(), qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, n_head, position0, base, inverse, impl_->stream);
  });
}

void CudaBackend::do_kv_cache_write(Tensor k_cache, Tensor v_cache, Tensor qkv, i64 position) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::kv_cache_write(k_cache.data<T>(), v_cache.data<T>(), qkv.data<T>(), qkv.dim(0), qkv.dim(1), k_cache.dim(2),
                         k_cache.dim(1), position, impl_->stream);
  });
}

void CudaBackend::do_cached_attention_forward(Tensor out, Tensor qkv, Tensor k_cache, Tensor v_cache, i64 position,
                                              int n_head) {
  // A kernel limit, as for attention_forward: each lane holds kMaxHeadDim / 32 of the query.
  require(k_cache.dim(2) / n_head <= cuda::kMaxHeadDim, "cached_attention_forward: head size above 128");
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::cached_attention_forward(out.data<T>(), qkv.data<T>(), k_cache.data<T>(), v_cache.data<T>(), qkv.dim(0),
                                   qkv.dim(1), k_cache.dim(2), k_cache.dim(1), position, n_head, impl_->stream);
  });
}

// A row's first `prefix` positions are contiguous in both tensors: one copy each, queued on the
// stream (no kernel; rows is host memory, read here).
void CudaBackend::do_gather_rows(Tensor dst, Tensor src, std::span<const std::int32_t> rows, i64 prefix) {
  const std::size_t row_bytes = static_cast<std::size_t>(src.dim(1) * src.dim(2)) * dtype_size(src.dtype);
  const std::size_t copy_bytes = static_cast<std::size_t>(prefix * src.dim(2)) * dtype_size(src.dtype);
  if (copy_bytes == 0) return;
  for (std::size_t i = 0; i < rows.size(); ++i)
    GPT_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst.ptr) + i * row_bytes,
                                   static_cast<const char*>(src.ptr) + static_cast<std::size_t>(rows[i]) * row_bytes,
                                   copy_bytes, cudaMemcpyDeviceToDevice, impl_->stream));
}

void CudaBackend::do_gelu_forward(Tensor out, Tensor x) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::gelu_forward(out.data<T>(), x.data<T>(), x.numel(), impl_->stream);
  });
}

void CudaBackend::do_gelu_backward(Tensor dx, Tensor dout, Tensor x) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::gelu_backward(dx.data<T>(), dout.data<T>(), x.data<T>(), x.numel(), impl_->stream);
  });
}

void CudaBackend::do_relu2_forward(Tensor out, Tensor x) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::relu2_forward(out.data<T>(), x.data<T>(), x.numel(), impl_->stream);
  });
}

void CudaBackend::do_relu2_backward(Tensor dx, Tensor dout, Tensor x) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::relu2_backward(dx.data<T>(), dout.data<T>(), x.data<T>(), x.numel(), impl_->stream);
  });
}

void CudaBackend::do_swiglu_forward(Tensor out, Tensor x) {
  const i64 H = x.dim(-1) / 2, N = rows_of(x);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::swiglu_forward(out.data<T>(), x.data<T>(), N, H, impl_->stream);
  });
}

void CudaBackend::do_swiglu_backward(Tensor dx, Tensor dout, Tensor x) {
  const i64 H = x.dim(-1) / 2, N = rows_of(x);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::swiglu_backward(dx.data<T>(), dout.data<T>(), x.data<T>(), N, H, impl_->stream);
  });
}

void CudaBackend::do_add(Tensor out, Tensor a, Tensor b) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::add(out.data<T>(), a.data<T>(), b.data<T>(), out.numel(), impl_->stream);
  });
}

void CudaBackend::do_dropout_forward(Tensor out, Tensor x, double p, std::uint64_t key) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::dropout(out.data<T>(), x.data<T>(), x.numel(), p, key, impl_->stream);
  });
}

void CudaBackend::do_dropout_backward(Tensor dx, Tensor dout, double p, std::uint64_t key) {
  do_dropout_forward(dx, dout, p, key);  // the same mask and scale
}

void CudaBackend::do_softcap_forward(Tensor out, Tensor x, double cap) {
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::softcap(out.data<T>(), x.data<T>(), x.numel(), static_cast<float>(cap), impl_->stream);
  });
}

void CudaBackend::do_cross_entropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                   std::int64_t real_vocab, double dloss, double softcap) {
  const i64 V = logits.dim(-1), N = rows_of(logits);
  with_act_type(act_, [&](auto tag) {
    using T = decltype(tag);
    cuda::cross_entropy(losses.data<float>(), dlogits.empty() ? nullptr : dlogits.data<T>(), logits.data<T>(),
                        targets.data<std::int32_t>(), N, V, real_vocab, static_cast<float>(dloss),
                        static_cast<float>(softcap), impl_->stream);
  });
}

double CudaBackend::reduce(Tensor x, bool squares) {
  double* result = impl_->reduce + cuda::kReduceBlocks;
  if (x.dtype == DType::bf16) {
    cuda::sum(result, x.data<bf16>(), x.numel(), squares, impl_->reduce, impl_->stream);
  } else {
    cuda::sum(result, x.data<float>(), x.numel(), squares, impl_->reduce, impl_->stream);
  }
  double host = 0;
  download_bytes(&host, result, sizeof host);
  return host;
}

double CudaBackend::do_sum(Tensor x) {
  return reduce(x, false);
}

double CudaBackend::do_sum_squares(Tensor x) {
  return reduce(x, true);
}

void CudaBackend::do_adamw(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWStep& step) {
  cuda::adamw(param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), param.numel(), step,
              impl_->stream);
}

}  // namespace gpt
