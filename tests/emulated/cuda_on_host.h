#pragma once
// Compiles a kernel file of the CUDA backend (core/ops/cuda/*.cu, all but the cuBLASLt glue and
// flash_attention.cu, whose kernel bodies run here directly) as host code that runs under the
// SIMT emulator (tests/emulated/simt_emulator.h). CUDA's keywords and built-ins are defined on top of the
// emulator, and launch() runs every thread of the grid; each kernel file is compiled on its own
// (tests/emulated/CMakeLists generates one wrapper per file).
//
// The kernels land in namespace gpt::cuda_on_host (a macro renames `cuda` for the file), so they
// never clash with the device build of the same functions in gpt_core. A test reaches them
// through emulated_backend.h.
#define GPT_CUDA_ON_HOST 1
// Before CUDA's headers, which would otherwise define these as attributes g++ warns about.
#define __global__
#define __device__
#define __host__
#define __launch_bounds__(...)
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/ops/cuda/flash_attention.h"
#include "tests/emulated/simt_emulator.h"

// Every thread of a block runs in this one OS thread, one block at a time: a function-local
// static is exactly the block's shared memory.
#undef __shared__
#define __shared__ static

namespace gpt::test::cuda_host {

// The emulator running the current launch; launches do not nest.
inline SimtEmulator*& active() {
  thread_local SimtEmulator* emulator = nullptr;
  return emulator;
}
inline SimtEmulator::Thread& running() {
  if (!active()) throw std::logic_error("CUDA built-in used outside an emulated launch");
  return active()->running();
}
// Which order the emulator runs threads in for the launches that follow.
inline SimtEmulator::Schedule& schedule() {
  thread_local SimtEmulator::Schedule s = SimtEmulator::Schedule::round_robin;
  return s;
}

struct Index3 {
  unsigned x, y, z;
};
inline Index3 thread_index() {
  return {static_cast<unsigned>(running().thread()), 0, 0};
}
inline Index3 block_index() {
  return {static_cast<unsigned>(running().block_x()), static_cast<unsigned>(running().block_y()), 0};
}
inline Index3 block_dim() {
  return {static_cast<unsigned>(running().block_threads()), 1, 1};
}
inline Index3 grid_dim() {
  return {static_cast<unsigned>(running().grid_x()), static_cast<unsigned>(running().grid_y()), 1};
}

}  // namespace gpt::test::cuda_host

#define threadIdx (::gpt::test::cuda_host::thread_index())
#define blockIdx (::gpt::test::cuda_host::block_index())
#define blockDim (::gpt::test::cuda_host::block_dim())
#define gridDim (::gpt::test::cuda_host::grid_dim())

inline void __syncthreads() {
  ::gpt::test::cuda_host::running().sync();
}
template <class V>
V __shfl_xor_sync(unsigned /*mask: always the full warp here*/, V v, int lane_mask) {
  return ::gpt::test::cuda_host::running().shfl_xor(v, lane_mask);
}
inline float __expf(float x) {
  return std::exp(x);
}
inline float rsqrtf(float x) {
  return 1.0f / std::sqrt(x);
}
[[noreturn]] inline void __trap() {
  throw std::runtime_error("kernel trapped");
}

// Queues device work on a stream (defined in tests/emulated/fake_cuda_runtime.cpp).
void gpt_fake_cuda_enqueue(cudaStream_t stream, std::function<void()> work);

// The kernel file's namespace gpt::cuda becomes gpt::cuda_on_host.
#define cuda cuda_on_host

namespace gpt::cuda {

inline std::int64_t min(std::int64_t a, std::int64_t b) {
  return a < b ? a : b;
}

// Queues kernel(args...) on the stream (tests/emulated/fake_cuda_runtime.cpp runs a stream's
// queue when the host waits for it); it then runs on every thread of the grid (2-D grids, 1-D
// blocks, as the kernels use).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            Args... args) {
  if (grid.z != 1 || block.y != 1 || block.z != 1) throw std::logic_error("emulated launch: 2-D grid, 1-D block");
  if (block.x == 0 || block.x > 1024 || block.x % 32 != 0) throw std::logic_error("emulated launch: bad block size");
  const auto schedule = ::gpt::test::cuda_host::schedule();
  gpt_fake_cuda_enqueue(stream, [=] {
    ::gpt::test::SimtEmulator emulator(static_cast<int>(block.x), shared_bytes, schedule);
    ::gpt::test::cuda_host::active() = &emulator;
    try {
      emulator.run(static_cast<int>(grid.x), static_cast<int>(grid.y),
                   [&](::gpt::test::SimtEmulator::Thread&) { kernel(args...); });
    } catch (...) {
      ::gpt::test::cuda_host::active() = nullptr;
      throw;
    }
    ::gpt::test::cuda_host::active() = nullptr;
  });
}

// The tensor-core attention: the same kernel bodies (core/ops/cuda/flash_attention.h) that
// flash_attention.cu launches on the device, run here with the emulator's threads as their SIMT
// primitives, so attention.cu's choice between them and the CUDA-core kernels is the device's.
inline bool flash_attention_applies(std::int64_t B, std::int64_t C, int NH,
                                    std::initializer_list<const void*> buffers) {
  return flash::shapes_supported(B, C, NH, buffers);
}

namespace flash_on_host {
// Runs a kernel body over the grid flash_attention.cu would launch, every buffer the kernel may
// move 16 bytes at a time declared to the emulator (so stray accesses are caught).
// Queued on the stream like a kernel launch.
template <class Body>
void run(cudaStream_t stream, const flash::Problem& p, std::size_t smem,
         std::initializer_list<std::pair<const void*, std::size_t>> buffers, Body body) {
  const std::vector<std::pair<const void*, std::size_t>> declared(buffers);
  const auto schedule = ::gpt::test::cuda_host::schedule();
  gpt_fake_cuda_enqueue(stream, [=] {
    ::gpt::test::SimtEmulator emulator(flash::kThreads, smem, schedule);
    for (const auto& [ptr, bytes] : declared) emulator.allow(ptr, bytes);
    emulator.run(static_cast<int>(p.tiles()), static_cast<int>(p.B * p.NH), body);
  });
}
}  // namespace flash_on_host

inline void flash_attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, std::int64_t B,
                                    std::int64_t T, std::int64_t C, int NH, cudaStream_t stream) {
  const flash::Problem p = flash::make_problem(B, T, C, NH);
  auto* o = reinterpret_cast<flash::u16*>(out);
  const auto* x = reinterpret_cast<const flash::u16*>(qkv);
  const auto qkv_bytes = static_cast<std::size_t>(B * T * 3 * C) * 2,
             out_bytes = static_cast<std::size_t>(B * T * C) * 2;
  flash::with_head_dim(C / NH, [=](auto head_dim) {  // everything by value: the work runs later
    constexpr int HD = decltype(head_dim)::value;
    flash_on_host::run(stream, p, flash::forward_smem_bytes<HD>(), {{x, qkv_bytes}, {o, out_bytes}},
                       [=](::gpt::test::SimtEmulator::Thread& s) { flash::forward_block<HD>(s, o, lse, x, p); });
  });
}

inline void flash_attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                                     const float* lse, const float* delta, std::int64_t B, std::int64_t T,
                                     std::int64_t C, int NH, cudaStream_t stream) {
  const flash::Problem p = flash::make_problem(B, T, C, NH);
  auto* dx = reinterpret_cast<flash::u16*>(dqkv);
  const auto* d = reinterpret_cast<const flash::u16*>(dout);
  const auto* x = reinterpret_cast<const flash::u16*>(qkv);
  const auto qkv_bytes = static_cast<std::size_t>(B * T * 3 * C) * 2,
             out_bytes = static_cast<std::size_t>(B * T * C) * 2;
  flash::with_head_dim(C / NH, [=](auto head_dim) {
    constexpr int HD = decltype(head_dim)::value;
    flash_on_host::run(stream, p, flash::dq_smem_bytes<HD>(), {{x, qkv_bytes}, {d, out_bytes}, {dx, qkv_bytes}},
                       [=](::gpt::test::SimtEmulator::Thread& s) { flash::dq_block<HD>(s, dx, d, x, lse, delta, p); });
    flash_on_host::run(stream, p, flash::dkv_smem_bytes<HD>(), {{x, qkv_bytes}, {d, out_bytes}, {dx, qkv_bytes}},
                       [=](::gpt::test::SimtEmulator::Thread& s) { flash::dkv_block<HD>(s, dx, d, x, lse, delta, p); });
  });
}

}  // namespace gpt::cuda
