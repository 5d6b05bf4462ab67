#pragma once
// Shared pieces of the CUDA kernels: error checks, fp32 <-> activation-type conversion, and
// warp/block reductions. Kernels compute in fp32 whatever the activation type.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace gpt::cuda {

using bf16 = __nv_bfloat16;

inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + " at " + file + ":" + std::to_string(line) + ": " +
                             cudaGetErrorString(status));
}
#define GPT_CUDA_CHECK(call) ::gpt::cuda::check((call), #call, __FILE__, __LINE__)
// After a launch: catches bad configurations at once (asynchronous faults surface at the next sync).
#define GPT_CUDA_LAUNCHED() ::gpt::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

#ifndef GPT_CUDA_ON_HOST
// Launches a kernel and checks the launch. The kernel files launch through this one spelling so
// that tests/emulated can compile them as host code, with a launch() of its own that runs every
// thread of the grid under the SIMT emulator.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            Args... args) {
  kernel<<<grid, block, shared_bytes, stream>>>(args...);
  GPT_CUDA_LAUNCHED();
}
#endif

__device__ __forceinline__ float to_float(float x) {
  return x;
}
__device__ __forceinline__ float to_float(bf16 x) {
  return __bfloat162float(x);
}
template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float x) {
  return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum (or max) over a block of blockDim.x threads (a multiple of 32, at most 1024); every
// thread gets the result. `scratch` holds 32 values. The order is fixed, so results repeat.
template <class V, class Op>
__device__ V block_reduce(V v, V* scratch, Op op, V identity) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

struct Add {
  template <class V>
  __device__ V operator()(V a, V b) const {
    return a + b;
  }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// N elements moved as one aligned load or store (16 bytes for 8 bf16 or 4 floats).
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T x[N];
};
template <class T>
constexpr int kPack16 = 16 / static_cast<int>(sizeof(T));  // elements in 16 bytes

inline bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

inline unsigned blocks_for(std::int64_t n, int threads) {
  const std::int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535LL * 1024 ? 65535LL * 1024 : b));
}

}  // namespace gpt::cuda
