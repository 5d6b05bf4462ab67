// GPU throughput: the card's measured bf16 matmul rate (cuBLASLt through the backend), then GPT-2
// 124M at T=1024 in bf16 at the largest micro-batch that fits: tokens/s, ms/step, memory, MFU
// against the measured rate, and the ops taking the most time.
//   bench_gpu [--steps N] [--seq T]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/model/flops.h"
#include "core/ops/cuda/cuda_backend.h"
#include "tests/bench/timed_backend.h"
#include "tests/gpu/expect_gpu.h"

namespace {

using Clock = std::chrono::steady_clock;

double bf16_matmul_tflops(gpt::Backend& be, std::int64_t n) {
  gpt::Buffer a(be, static_cast<std::size_t>(n * n * 2)), b(be, static_cast<std::size_t>(n * n * 2)),
      c(be, static_cast<std::size_t>(n * n * 2));
  const gpt::Tensor ta = a.tensor(0, gpt::DType::bf16, {n, n}), tb = b.tensor(0, gpt::DType::bf16, {n, n}),
                    tc = c.tensor(0, gpt::DType::bf16, {n, n});
  be.matmul_forward(tc, ta, tb, gpt::Tensor());  // warm-up, algorithm choice
  be.synchronize();
  const int reps = 20;
  const auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) be.matmul_forward(tc, ta, tb, gpt::Tensor());
  be.synchronize();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return 2.0 * static_cast<double>(n) * n * n * reps / s / 1e12;
}

// Causal attention alone (GPT-2 124M's heads: 12 of 64), forward and backward, in TFLOP/s of the
// work the causal mask leaves: forward 2 products of B·NH·T²/2·hd multiply-adds, backward 5
// (the usual count; ours does 7, recomputing the scores in both passes).
void attention_rates(gpt::Backend& be, std::int64_t B, std::int64_t T) {
  const std::int64_t NH = 12, C = 768;
  gpt::Buffer qkv(be, static_cast<std::size_t>(B * T * 3 * C * 2)),
      dqkv(be, static_cast<std::size_t>(B * T * 3 * C * 2)), out(be, static_cast<std::size_t>(B * T * C * 2)),
      dout(be, static_cast<std::size_t>(B * T * C * 2)),
      saved(be, static_cast<std::size_t>(be.attention_saved_numel(B, T, NH) * 4));
  const gpt::Tensor t_qkv = qkv.tensor(0, gpt::DType::bf16, {B, T, 3 * C}),
                    t_dqkv = dqkv.tensor(0, gpt::DType::bf16, {B, T, 3 * C}),
                    t_out = out.tensor(0, gpt::DType::bf16, {B, T, C}),
                    t_dout = dout.tensor(0, gpt::DType::bf16, {B, T, C}),
                    t_saved = saved.tensor(0, gpt::DType::f32, {be.attention_saved_numel(B, T, NH)});
  std::vector<float> host(static_cast<std::size_t>(B * T * 3 * C));
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  be.upload(t_qkv, host.data());
  host.resize(static_cast<std::size_t>(B * T * C));
  be.upload(t_dout, host.data());
  be.attention_forward(t_out, t_saved, t_qkv, static_cast<int>(NH));  // warm-up
  be.attention_backward(t_dqkv, t_dout, t_qkv, t_out, t_saved, static_cast<int>(NH));
  be.synchronize();
  const int reps = 10;
  auto time = [&](auto&& f) {
    const auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) f();
    be.synchronize();
    return std::chrono::duration<double>(Clock::now() - t0).count() / reps;
  };
  const double fwd = time([&] { be.attention_forward(t_out, t_saved, t_qkv, static_cast<int>(NH)); });
  const double bwd = time([&] { be.attention_backward(t_dqkv, t_dout, t_qkv, t_out, t_saved, static_cast<int>(NH)); });
  const double product = 2.0 * static_cast<double>(B * NH) * static_cast<double>(T) * static_cast<double>(T) / 2 * 64;
  std::printf("attention B=%lld T=%lld 12x64 bf16: forward %.2f ms (%.0f TFLOP/s), backward %.2f ms (%.0f TFLOP/s)\n",
              static_cast<long long>(B), static_cast<long long>(T), 1e3 * fwd, 2 * product / fwd / 1e12, 1e3 * bwd,
              5 * product / bwd / 1e12);
}

struct Run {
  double ms_per_step = 0, tokens_per_s = 0, used_gib = 0;
};

Run time_training(gpt::Backend& be, std::int64_t B, std::int64_t T, int steps) {
  gpt::bench::Gpt2Step step(be, B, T);
  step.run();  // warm-up: allocations, cuBLASLt plans
  be.synchronize();
  std::size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  const auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) step.run();
  be.synchronize();
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
  return {1e3 * sec, static_cast<double>(B * T) / sec, static_cast<double>(total_bytes - free_bytes) / (1 << 30)};
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 10;
  std::int64_t T = 1024;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0)
      steps = std::stoi(argv[++i]);
    else if (std::strcmp(argv[i], "--seq") == 0)
      T = std::stoll(argv[++i]);
  }
  if (const gpt::CudaDevices devices = gpt::cuda_devices(); devices.count == 0) {
    // Where a GPU must be (check.sh sets GPT_EXPECT_GPU=1) no device is a failure, not a pass.
    if (gpt::test::gpu_expected()) {
      std::fprintf(stderr, "error: bench_gpu: GPT_EXPECT_GPU=1, but no CUDA device: %s\n", devices.problem.c_str());
      return 1;
    }
    std::printf("bench_gpu: no CUDA device visible (%s); nothing to measure\n", devices.problem.c_str());
    return 0;
  }
  gpt::CudaBackend be(gpt::DType::bf16);
  std::printf("device: %s\n", be.name().c_str());
  const double peak = std::max(bf16_matmul_tflops(be, 4096), bf16_matmul_tflops(be, 8192));
  std::printf("measured bf16 matmul (cuBLASLt): %.1f TFLOP/s\n", peak);

  attention_rates(be, 16, T);

  const double flops_per_token = gpt::training_flops_per_token(gpt::ModelConfig{}, T);
  for (std::int64_t B : {64, 48, 32, 24, 16, 12, 8, 4, 2, 1}) {
    try {
      const Run r = time_training(be, B, T, steps);
      const double mfu = flops_per_token * r.tokens_per_s / (peak * 1e12);
      std::printf("gpt2-124m bf16 B=%lld T=%lld: %.1f ms/step, %.0f tokens/s, %.1f GiB in use, MFU %.1f%%\n",
                  static_cast<long long>(B), static_cast<long long>(T), r.ms_per_step, r.tokens_per_s, r.used_gib,
                  100 * mfu);
      gpt::bench::print_op_profile(be, B, T, 2);  // per-op shares at the same size
      return 0;
    } catch (const std::exception& e) {
      std::printf("B=%lld does not fit (%s); trying smaller\n", static_cast<long long>(B), e.what());
    }
  }
  return 1;
}
