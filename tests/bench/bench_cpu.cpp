// CPU throughput figures: the machine's best sgemm rate, the tiny config's tokens/s, and a GPT-2
// 124M training step at B=4, T=64 with its achieved GFLOP/s against that sgemm rate.
//   bench_cpu [--steps N] [--profile]   (--profile adds the time per op of the 124M step)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/half_float.h"
#include "core/model/flops.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cpu/matmul.h"
#include "core/ops/cpu/matmul_bf16.h"
#include "dist/communicator.h"
#include "tests/bench/timed_backend.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/test_data.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Best of `reps` timings of C(M,N) = A(M,K)·B(N,K)ᵀ, the layout of our linear layers.
double sgemm_gflops(int threads, std::int64_t M, std::int64_t N, std::int64_t K, int reps) {
  std::vector<float> a(static_cast<std::size_t>(M * K), 0.5f), b(static_cast<std::size_t>(N * K), 0.25f),
      c(static_cast<std::size_t>(M * N));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    gpt::cpu::gemm<float>(threads, false, true, M, N, K, 1.0f, a.data(), K, b.data(), K, 0.0f, c.data(), N);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) / best / 1e9;
}

// The same products with bf16 operands and fp32 results (core/ops/cpu/matmul_bf16.h).
double bf16_gemm_gflops(int threads, std::int64_t M, std::int64_t N, std::int64_t K, int reps) {
  std::vector<std::uint16_t> a(static_cast<std::size_t>(M * K), gpt::float_to_bf16_bits(0.5f)),
      b(static_cast<std::size_t>(N * K), gpt::float_to_bf16_bits(0.25f));
  std::vector<float> c(static_cast<std::size_t>(M * N));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    gpt::cpu::gemm_bf16(threads, false, true, M, N, K, 1.0f, a.data(), K, b.data(), K, 0.0f, c.data(), N);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) / best / 1e9;
}

struct StepTimes {
  double forward = 0, backward = 0, optimizer = 0;
  double total() const { return forward + backward + optimizer; }
};

StepTimes time_gpt2_step(int threads, std::int64_t B, std::int64_t T, int steps) {
  gpt::CpuBackend<float> backend(threads);
  gpt::bench::Gpt2Step step(backend, B, T);
  StepTimes best{1e30, 1e30, 1e30};
  for (int s = 0; s <= steps; ++s) {  // step 0 warms up (allocation, first touch)
    StepTimes t;
    auto t0 = Clock::now();
    step.forward();
    t.forward = seconds_since(t0);
    t0 = Clock::now();
    step.backward();
    t.backward = seconds_since(t0);
    t0 = Clock::now();
    step.update();
    t.optimizer = seconds_since(t0);
    if (s > 0 && t.total() < best.total()) best = t;
  }
  return best;
}

double tiny_tokens_per_second(int threads, int steps) {
  const std::string data = (gpt::test::data_dir() / "tinystories").string() + "/";
  const gpt::RunConfig config = gpt::load_run_config(
      GPT_SOURCE_DIR "/configs/tiny.toml",
      {"--data.train=" + data + "TinyStories-train-sample.bin", "--data.val=" + data + "TinyStories-valid-sample.bin"});
  gpt::CpuBackend<float> backend(threads);
  gpt::SingleRank comm;
  gpt::Trainer trainer(config, backend, comm);
  trainer.train_step(0);  // warm-up
  const auto t0 = Clock::now();
  for (int s = 1; s <= steps; ++s) trainer.train_step(s);
  return static_cast<double>(config.train.batch_tokens) * steps / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 3;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = std::stoi(argv[++i]);
    if (std::strcmp(argv[i], "--profile") == 0) profile = true;
  }
  // One count for every figure, chosen as the train binary chooses it with train.threads = 0.
  const int threads = gpt::test::cpu_threads();
  std::printf("threads: %d, matmul: %s\n", threads, gpt::cpu::have_onednn() ? "oneDNN sgemm" : "plain loops");

  const double square = sgemm_gflops(threads, 2048, 2048, 2048, 5);
  const double qkv = sgemm_gflops(threads, 256, 2304, 768, 20);
  const double head = sgemm_gflops(threads, 256, 50304, 768, 5);
  const double best = std::max({square, qkv, head});
  std::printf("sgemm GFLOP/s: 2048^3 %.1f | 256x2304x768 (c_attn) %.1f | 256x50304x768 (lm_head) %.1f\n", square, qkv,
              head);
  const gpt::cpu::Bf16MatmulSupport bf16 = gpt::cpu::bf16_matmul_support();
  const double square16 = bf16_gemm_gflops(threads, 2048, 2048, 2048, 5);
  const double qkv16 = bf16_gemm_gflops(threads, 256, 2304, 768, 20);
  const double head16 = bf16_gemm_gflops(threads, 256, 50304, 768, 5);
  std::printf(
      "bf16 gemm GFLOP/s (oneDNN isa %s, %s): 2048^3 %.1f (%.2fx sgemm) | c_attn %.1f (%.2fx) | lm_head %.1f "
      "(%.2fx)\n",
      bf16.isa.c_str(), bf16.implementation.c_str(), square16, square16 / square, qkv16, qkv16 / qkv, head16,
      head16 / head);

  std::printf("tiny config: %.0f tokens/s\n", tiny_tokens_per_second(threads, 10 * steps));

  const std::int64_t B = 4, T = 64;
  const StepTimes t = time_gpt2_step(threads, B, T, steps);
  const double flops = gpt::training_flops_per_token(gpt::ModelConfig{}, T) * static_cast<double>(B * T);
  const double achieved = flops / t.total() / 1e9;
  std::printf("gpt2-124m step B=%lld T=%lld: %.3f s (forward %.3f, backward %.3f, adamw %.3f), %.0f tokens/s\n",
              static_cast<long long>(B), static_cast<long long>(T), t.total(), t.forward, t.backward, t.optimizer,
              static_cast<double>(B * T) / t.total());
  std::printf("gpt2-124m step: %.1f GFLOP/s achieved = %.0f%% of the best sgemm rate (%.1f GFLOP/s)\n", achieved,
              100.0 * achieved / best, best);
  if (profile) {
    gpt::CpuBackend<float> cpu(threads);
    gpt::bench::print_op_profile(cpu, B, T, steps);
  }
  return 0;
}
