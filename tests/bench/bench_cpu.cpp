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
#include "core/ops/cpu/cpu_bf16_backend.h"
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

// The median step of `steps` (after one warm-up step: allocation, first touch, oneDNN's JIT).
StepTimes time_step(gpt::Backend& backend, const gpt::ModelConfig& model, std::int64_t B, std::int64_t T, int steps) {
  gpt::bench::Gpt2Step step(backend, B, T, model);
  std::vector<StepTimes> times;
  for (int s = 0; s <= steps; ++s) {
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
    if (s > 0) times.push_back(t);
  }
  std::sort(times.begin(), times.end(), [](const StepTimes& x, const StepTimes& y) { return x.total() < y.total(); });
  return times[times.size() / 2];
}

gpt::RunConfig tiny_config() {
  const std::string data = (gpt::test::data_dir() / "tinystories").string() + "/";
  return gpt::load_run_config(
      GPT_SOURCE_DIR "/configs/tiny.toml",
      {"--data.train=" + data + "TinyStories-train-sample.bin", "--data.val=" + data + "TinyStories-valid-sample.bin"});
}

double tiny_tokens_per_second(int threads, int steps) {
  const gpt::RunConfig config = tiny_config();
  gpt::CpuBackend<float> backend(threads);
  gpt::SingleRank comm;
  gpt::Trainer trainer(config, backend, comm);
  trainer.train_step(0);  // warm-up
  const auto t0 = Clock::now();
  for (int s = 1; s <= steps; ++s) trainer.train_step(s);
  return static_cast<double>(config.train.batch_tokens) * steps / seconds_since(t0);
}

// One line per precision: "ours fp32 gpt2-124m 4 64: 1234.5 ms/step, 207 tok/s, 150.1 GFLOP/s = 71% of
// the fp32 matmul peak (211.5 GFLOP/s)" (bench_cpu_vs_torch.sh reads these).
void print_steps(int threads, const std::string& name, const gpt::ModelConfig& model, std::int64_t B, std::int64_t T,
                 int steps, double fp32_peak, double bf16_peak, bool profile) {
  const double flops = gpt::training_flops_per_token(model, T) * static_cast<double>(B * T);
  gpt::CpuBackend<float> fp32(threads);
  gpt::CpuBf16Backend bf16(threads);
  const bool have_bf16 = gpt::cpu::bf16_matmul_support().native;
  for (int precision = 0; precision < (have_bf16 ? 2 : 1); ++precision) {
    gpt::Backend& backend = precision == 0 ? static_cast<gpt::Backend&>(fp32) : bf16;
    const double peak = precision == 0 ? fp32_peak : bf16_peak;
    const StepTimes t = time_step(backend, model, B, T, steps);
    const double achieved = flops / t.total() / 1e9;
    std::printf(
        "ours %s %s %lld %lld: %.1f ms/step, %.0f tok/s, %.1f GFLOP/s = %.0f%% of the %s matmul peak (%.1f GFLOP/s); "
        "forward %.0f ms, backward %.0f ms, optimizer %.0f ms\n",
        precision == 0 ? "fp32" : "bf16", name.c_str(), static_cast<long long>(B), static_cast<long long>(T),
        1e3 * t.total(), static_cast<double>(B * T) / t.total(), achieved, 100.0 * achieved / peak,
        precision == 0 ? "fp32" : "bf16", peak, 1e3 * t.forward, 1e3 * t.backward, 1e3 * t.optimizer);
    if (profile) gpt::bench::print_op_profile(backend, B, T, steps, model);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 3;
  bool profile = false;
  std::string model_name;  // empty: every figure; else just this model's steps at --batch/--seq
  std::int64_t B = 4, T = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--steps" && has_value)
      steps = std::stoi(argv[++i]);
    else if (arg == "--profile")
      profile = true;
    else if (arg == "--model" && has_value)
      model_name = argv[++i];
    else if (arg == "--batch" && has_value)
      B = std::stoll(argv[++i]);
    else if (arg == "--seq" && has_value)
      T = std::stoll(argv[++i]);
    else {
      std::fprintf(stderr, "error: bench_cpu: unknown argument %s (see the header of tests/bench/bench_cpu.cpp)\n",
                   arg.c_str());
      return 2;
    }
  }
  if (!model_name.empty() && model_name != "tiny" && model_name != "gpt2-124m") {
    std::fprintf(stderr, "error: bench_cpu: --model is tiny or gpt2-124m, not %s\n", model_name.c_str());
    return 2;
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
  double best16 = 0;
  if (bf16.native) {
    const double square16 = bf16_gemm_gflops(threads, 2048, 2048, 2048, 5);
    const double qkv16 = bf16_gemm_gflops(threads, 256, 2304, 768, 20);
    const double head16 = bf16_gemm_gflops(threads, 256, 50304, 768, 5);
    best16 = std::max({square16, qkv16, head16});
    std::printf(
        "bf16 gemm GFLOP/s (oneDNN isa %s, %s): 2048^3 %.1f (%.2fx sgemm) | c_attn %.1f (%.2fx) | lm_head %.1f "
        "(%.2fx)\n",
        bf16.isa.c_str(), bf16.implementation.c_str(), square16, square16 / square, qkv16, qkv16 / qkv, head16,
        head16 / head);
  } else {
    std::printf("bf16 gemm: not native here (oneDNN isa %s): no bf16 figures\n", bf16.isa.c_str());
  }

  if (!model_name.empty()) {
    print_steps(threads, model_name, model_name == "tiny" ? tiny_config().model : gpt::ModelConfig{}, B, T, steps, best,
                best16, profile);
    return 0;
  }
  std::printf("tiny config: %.0f tokens/s\n", tiny_tokens_per_second(threads, 10 * steps));
  print_steps(threads, "gpt2-124m", gpt::ModelConfig{}, B, T, steps, best, best16, profile);
  return 0;
}
