// Just enough of the CUDA runtime and cuBLASLt, on the host, for the CUDA backend's own glue
// (core/ops/cuda/cuda_backend.cu, compiled as host code) to run under the emulator. "Device"
// memory is host memory. Streams are queues, as on a GPU: kernels, memsets, cuBLASLt calls and
// copies involving device or pinned memory run only when the host waits (stream or event
// synchronize, cudaFree, or a copy to or from pageable memory, which the real runtime makes wait
// for the stream too), so a missing synchronisation in the glue reads stale data here as it
// would on a device. cublasLtMatmul computes the documented column-major product
// D = alpha·op(A)·op(B) + beta·C (+ bias per row of D) in double.
// The matmul checks its arguments as strictly as the layouts allow (op(A) is m×k, op(B) k×n,
// every ld at least its rows), so a wrong transpose or leading dimension in the backend fails
// here, not first on a GPU. Test switches (gpt::test::fake_cublaslt_refuse_*) make the heuristic
// find no algorithm, as cuBLASLt does for some shapes. These definitions take precedence over
// the real libraries', which the test executable also links through gpt_core.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <deque>
#include <functional>
#include <set>
#include <utility>

namespace {

struct Stream {
  std::deque<std::function<void()>> pending;
  // Runs what was queued, in order (an item may queue more; that runs too).
  void drain() {
    while (!pending.empty()) {
      auto work = std::move(pending.front());
      pending.pop_front();
      work();
    }
  }
};
struct Event {
  Stream* stream = nullptr;
  bool reached = true;
};

// Test-process state: every stream (cudaFree waits for all of them) and the pinned ranges.
std::set<Stream*>& streams() {
  static std::set<Stream*> all;
  return all;
}
Stream& default_stream() {
  static Stream s;
  return s;
}
Stream& stream_of(cudaStream_t s) {
  return s ? *reinterpret_cast<Stream*>(s) : default_stream();
}
void drain_all() {
  default_stream().drain();
  for (Stream* s : streams()) s->drain();
}
std::set<std::pair<const char*, std::size_t>>& pinned() {
  static std::set<std::pair<const char*, std::size_t>> ranges;
  return ranges;
}
bool is_pinned(const void* p) {
  const char* c = static_cast<const char*>(p);
  for (const auto& [begin, size] : pinned())
    if (c >= begin && c < begin + size) return true;
  return false;
}

void* host_alloc(std::size_t bytes) {
  const std::size_t n = (bytes + 255) / 256 * 256 + 256;
  void* p = std::aligned_alloc(256, n);
  if (p) std::memset(p, 0xff, n);  // device memory starts with garbage: NaN-ish bytes here
  return p;
}

}  // namespace

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = std::size_t{80} << 30;  // an 80 GiB card, all of it free: the host's memory is the real limit
  *free_bytes = *total_bytes;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int) {
  std::memset(prop, 0, sizeof *prop);
  std::strcpy(prop->name, "host emulation");
  prop->major = 9;
  return cudaSuccess;
}
const char* cudaGetErrorString(cudaError_t) {
  return "error in the host emulation of the CUDA runtime";
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  auto* s = new Stream;
  streams().insert(s);
  *stream = reinterpret_cast<cudaStream_t>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Stream& s = stream_of(stream);
  s.drain();
  streams().erase(&s);
  delete &s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  stream_of(stream).drain();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  *event = reinterpret_cast<cudaEvent_t>(new Event);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete reinterpret_cast<Event*>(event);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  auto* e = reinterpret_cast<Event*>(event);
  e->stream = &stream_of(stream);
  e->reached = false;
  e->stream->pending.push_back([e] { e->reached = true; });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  auto* e = reinterpret_cast<Event*>(event);
  while (!e->reached) {  // run the stream up to the event
    auto work = std::move(e->stream->pending.front());
    e->stream->pending.pop_front();
    work();
  }
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  *ptr = host_alloc(bytes);
  return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* ptr) {
  drain_all();  // as on the device: cudaFree waits for all work
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned int) {
  *ptr = host_alloc(bytes);
  if (!*ptr) return cudaErrorMemoryAllocation;
  pinned().insert({static_cast<const char*>(*ptr), bytes});
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  return cudaHostAlloc(ptr, bytes, 0);
}
cudaError_t cudaFreeHost(void* ptr) {
  drain_all();
  for (auto it = pinned().begin(); it != pinned().end(); ++it)
    if (it->first == ptr) {
      pinned().erase(it);
      break;
    }
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  stream_of(stream).pending.push_back([=] { std::memset(ptr, value, bytes); });
  return cudaSuccess;
}
// Pageable host memory makes the copy wait for the stream and complete before returning (the
// runtime stages it); device and pinned memory leave it queued.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  const bool pageable =
      (kind == cudaMemcpyHostToDevice && !is_pinned(src)) || (kind == cudaMemcpyDeviceToHost && !is_pinned(dst));
  Stream& s = stream_of(stream);
  if (pageable) {
    s.drain();
    std::memmove(dst, src, bytes);
  } else {
    s.pending.push_back([=] { std::memmove(dst, src, bytes); });
  }
  return cudaSuccess;
}

}  // extern "C"

// Queues device work (an emulated kernel launch) on a stream; tests/emulated/cuda_on_host.h.
void gpt_fake_cuda_enqueue(cudaStream_t stream, std::function<void()> work) {
  stream_of(stream).pending.push_back(std::move(work));
}

// ---- cuBLASLt ----
namespace {

struct Desc {
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  cublasComputeType_t compute;
};
struct Layout {
  cudaDataType type;
  std::uint64_t rows, cols;
  std::int64_t ld;
};
// The handles the library hands out are opaque pointers; these point at our own structs.
Desc& desc_of(cublasLtMatmulDesc_t d) {
  return *reinterpret_cast<Desc*>(d);
}
const Layout& layout_of(cublasLtMatrixLayout_t l) {
  return *reinterpret_cast<const Layout*>(l);
}

double element(const void* base, cudaDataType type, std::int64_t index) {
  if (type == CUDA_R_32F) return static_cast<const float*>(base)[index];
  return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[index]);
}
void store(void* base, cudaDataType type, std::int64_t index, double v) {
  if (type == CUDA_R_32F) {
    static_cast<float*>(base)[index] = static_cast<float>(v);
  } else {
    static_cast<__nv_bfloat16*>(base)[index] = __float2bfloat16_rn(static_cast<float>(v));
  }
}
bool known(cudaDataType t) {
  return t == CUDA_R_32F || t == CUDA_R_16BF;
}

// Test-process state: which plans the heuristic finds no algorithm for (the real library does so
// for some small odd bf16 shapes with the bias epilogue), how it says so, and how often it was
// asked (so a test can see that plans are made once per shape).
struct HeuristicRefusals {
  bool bias_epilogue = false;
  bool all = false;
  cublasStatus_t answer = CUBLAS_STATUS_SUCCESS;
  int queries = 0;
};
HeuristicRefusals& refusals() {
  static HeuristicRefusals r;
  return r;
}

}  // namespace

namespace gpt::test {
// With `refuse`, the heuristic answers found = 0 with status `answer` for every plan whose
// descriptor has the bias epilogue (cuBLASLt answers SUCCESS or NOT_SUPPORTED, by version).
void fake_cublaslt_refuse_bias_epilogue(bool refuse, cublasStatus_t answer) {
  refusals().bias_epilogue = refuse;
  refusals().answer = answer;
}
// With `refuse`, the heuristic finds no algorithm for any plan.
void fake_cublaslt_refuse_all(bool refuse, cublasStatus_t answer) {
  refusals().all = refuse;
  refusals().answer = answer;
}
int fake_cublaslt_heuristic_queries() {
  return refusals().queries;
}
}  // namespace gpt::test

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = reinterpret_cast<cublasLtHandle_t>(new Stream);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete reinterpret_cast<Stream*>(handle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new Desc{.compute = compute});
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete &desc_of(desc);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t size) {
  Desc& d = desc_of(desc);
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB:
      if (size != sizeof(std::int32_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(attr == CUBLASLT_MATMUL_DESC_TRANSA ? &d.trans_a : &d.trans_b, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      if (size != sizeof(std::uint32_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d.epilogue, buf, size);
      return d.epilogue == CUBLASLT_EPILOGUE_DEFAULT || d.epilogue == CUBLASLT_EPILOGUE_BIAS
                 ? CUBLAS_STATUS_SUCCESS
                 : CUBLAS_STATUS_NOT_SUPPORTED;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      if (size != sizeof(void*)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d.bias, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (!known(type) || ld < static_cast<std::int64_t>(rows) || ld < 1) return CUBLAS_STATUS_INVALID_VALUE;
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new Layout{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete &layout_of(layout);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t{};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void*,
                                                    size_t size) {
  // The workspace size is a uint64_t, the alignments uint32_t: cuBLASLt rejects other sizes.
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES)
    return size == 8 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
  return size == 4 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* found) {
  if (requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  ++refusals().queries;
  if (refusals().all || (refusals().bias_epilogue && desc_of(desc).epilogue == CUBLASLT_EPILOGUE_BIAS)) {
    *found = 0;
    return refusals().answer;
  }
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t computeDesc, const void* alpha, const void* A,
                              cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc,
                              const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t*, void*, size_t,
                              cudaStream_t stream) {
  const Desc& d = desc_of(computeDesc);
  const Layout &a = layout_of(Adesc), &b = layout_of(Bdesc), &c = layout_of(Cdesc), &o = layout_of(Ddesc);
  const bool ta = d.trans_a == CUBLAS_OP_T, tb = d.trans_b == CUBLAS_OP_T;
  const auto m = static_cast<std::int64_t>(o.rows), n = static_cast<std::int64_t>(o.cols);
  const auto k = static_cast<std::int64_t>(ta ? a.rows : a.cols);
  const bool shapes_agree = static_cast<std::int64_t>(ta ? a.cols : a.rows) == m &&
                            static_cast<std::int64_t>(tb ? b.rows : b.cols) == n &&
                            static_cast<std::int64_t>(tb ? b.cols : b.rows) == k && c.rows == o.rows &&
                            c.cols == o.cols && c.ld == o.ld && c.type == o.type && a.type == b.type;
  if (!shapes_agree || C != D) return CUBLAS_STATUS_INVALID_VALUE;
  const float scale = *static_cast<const float*>(alpha), accumulate = *static_cast<const float*>(beta);
  const void* bias = d.bias;
  const bool with_bias = d.epilogue == CUBLASLT_EPILOGUE_BIAS;
  stream_of(stream).pending.push_back([=] {
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < m; ++i) {
        double acc = 0;
        for (std::int64_t p = 0; p < k; ++p)
          acc += element(A, a.type, ta ? p + i * a.ld : i + p * a.ld) *
                 element(B, b.type, tb ? j + p * b.ld : p + j * b.ld);
        double v = scale * acc;
        if (accumulate != 0) v += accumulate * element(D, o.type, i + j * o.ld);
        if (with_bias) v += element(bias, o.type, i);
        store(D, o.type, i + j * o.ld, v);
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
