#pragma once
// The SIMT primitives flash_attention.h is written against, as the CUDA device provides them.
// tests/emulated/simt_emulator.h implements the same interface on the host.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace gpt::cuda {

struct DeviceSimt {
  char* smem;

  __device__ __forceinline__ int thread() const { return static_cast<int>(threadIdx.x); }
  __device__ __forceinline__ int block_x() const { return static_cast<int>(blockIdx.x); }
  __device__ __forceinline__ int block_y() const { return static_cast<int>(blockIdx.y); }
  __device__ __forceinline__ char* shared() const { return smem; }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
  __device__ __forceinline__ float shfl_xor(float v, int mask) const { return __shfl_xor_sync(0xffffffffu, v, mask); }

  // d += A·B on the tensor cores: A 16×16 and B 16×8 in bf16, d 16×8 in fp32.
  __device__ __forceinline__ void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) const {
#if __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();  // bf16 mma needs sm_80; the launcher never picks these kernels below it
#endif
  }

  __device__ __forceinline__ std::uint32_t load_u32(const std::uint16_t* p) const {
    return *reinterpret_cast<const std::uint32_t*>(p);
  }
  __device__ __forceinline__ void store_u32(std::uint16_t* p, std::uint32_t v) const {
    *reinterpret_cast<std::uint32_t*>(p) = v;
  }
  __device__ __forceinline__ void copy16(std::uint16_t* dst, const std::uint16_t* src) const {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
  }
  __device__ __forceinline__ void zero16(std::uint16_t* dst) const {
    *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
  }
  // Asynchronous 16-byte global-to-shared copy (sm_80+): lands when this thread waits for its
  // group; other threads see it after a __syncthreads that follows the wait.
  __device__ __forceinline__ void cp_async16(std::uint16_t* dst, const std::uint16_t* src) const {
#if __CUDA_ARCH__ >= 800
    const unsigned shared_address = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared_address), "l"(src) : "memory");
#else
    __trap();
#endif
  }
  __device__ __forceinline__ void cp_async_commit() const {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
  }
  // Waits until at most one committed group (the newest) is still in flight.
  __device__ __forceinline__ void cp_async_wait_one() const {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group 1;\n" ::: "memory");
#endif
  }

  // Two floats to bf16 (round to nearest even), `lo` in the low half.
  __device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) const {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&v);
  }
};

}  // namespace gpt::cuda
