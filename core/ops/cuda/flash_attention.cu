// Launchers of the tensor-core attention kernels; the kernels themselves are in flash_attention.h.
#include <stdexcept>
#include <type_traits>

#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/device_simt.cuh"
#include "core/ops/cuda/flash_attention.h"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

using flash::u16;

template <int HD>
__global__ void __launch_bounds__(flash::kThreads)
    forward_kernel(bf16* out, float* lse, const bf16* qkv, flash::Problem p) {
  extern __shared__ __align__(16) char smem[];
  DeviceSimt s{smem};
  flash::forward_block<HD>(s, reinterpret_cast<u16*>(out), lse, reinterpret_cast<const u16*>(qkv), p);
}

template <int HD>
__global__ void __launch_bounds__(flash::kThreads)
    dq_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta, flash::Problem p) {
  extern __shared__ __align__(16) char smem[];
  DeviceSimt s{smem};
  flash::dq_block<HD>(s, reinterpret_cast<u16*>(dqkv), reinterpret_cast<const u16*>(dout),
                      reinterpret_cast<const u16*>(qkv), lse, delta, p);
}

template <int HD>
__global__ void __launch_bounds__(flash::kThreads)
    dkv_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta, flash::Problem p) {
  extern __shared__ __align__(16) char smem[];
  DeviceSimt s{smem};
  flash::dkv_block<HD>(s, reinterpret_cast<u16*>(dqkv), reinterpret_cast<const u16*>(dout),
                       reinterpret_cast<const u16*>(qkv), lse, delta, p);
}

// Past the default 48 KiB of dynamic shared memory a kernel must opt in; H100 and A100 allow far
// more than these (at most 56 KiB) per block.
template <class Kernel>
void allow_shared(Kernel kernel, std::size_t bytes) {
  GPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

dim3 grid(const flash::Problem& p) {
  return dim3(static_cast<unsigned>(p.tiles()), static_cast<unsigned>(p.B * p.NH));
}

}  // namespace

bool flash_attention_applies(i64 B, i64 C, int NH, std::initializer_list<const void*> buffers) {
  int device = 0;
  GPT_CUDA_CHECK(cudaGetDevice(&device));
  int cc_major = 0;
  GPT_CUDA_CHECK(cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, device));
  return cc_major >= 8 && flash::shapes_supported(B, C, NH, buffers);  // bf16 mma needs sm_80
}

void flash_attention_forward(bf16* out, float* lse, const bf16* qkv, i64 B, i64 T_, i64 C, int NH,
                             cudaStream_t stream) {
  const flash::Problem p = flash::make_problem(B, T_, C, NH);
  flash::with_head_dim(C / NH, [&](auto head_dim) {
    constexpr int HD = decltype(head_dim)::value;
    allow_shared(forward_kernel<HD>, flash::forward_smem_bytes<HD>());
    launch(forward_kernel<HD>, grid(p), flash::kThreads, flash::forward_smem_bytes<HD>(), stream, out, lse, qkv, p);
  });
}

void flash_attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta,
                              i64 B, i64 T_, i64 C, int NH, cudaStream_t stream) {
  const flash::Problem p = flash::make_problem(B, T_, C, NH);
  flash::with_head_dim(C / NH, [&](auto head_dim) {
    constexpr int HD = decltype(head_dim)::value;
    allow_shared(dq_kernel<HD>, flash::dq_smem_bytes<HD>());
    launch(dq_kernel<HD>, grid(p), flash::kThreads, flash::dq_smem_bytes<HD>(), stream, dqkv, dout, qkv, lse, delta, p);
    allow_shared(dkv_kernel<HD>, flash::dkv_smem_bytes<HD>());
    launch(dkv_kernel<HD>, grid(p), flash::kThreads, flash::dkv_smem_bytes<HD>(), stream, dqkv, dout, qkv, lse, delta,
           p);
  });
}

}  // namespace gpt::cuda
