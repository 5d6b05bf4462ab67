// The CUDA backend against the CPU reference: every op on fresh random inputs (fp32 ≤ 1e-5,
// bf16 ≤ 2e-2 relative, odd shapes included), a whole training step, the bf16 loss curve
// against fp32, and bitwise determinism. Every test skips, saying why, where no GPU is visible.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cuda/cuda_backend.h"
#include "core/rng.h"
#include "tests/unit/model_test_util.h"
#include "tests/unit/op_comparison.h"
#include "tests/unit/training_steps.h"
#include "train/optimizer.h"

namespace gpt::test {
namespace {

#define GPT_REQUIRE_GPU()       \
  if (cuda_device_count() == 0) \
  GTEST_SKIP() << "no CUDA device visible (cudaGetDeviceCount failed or found none): GPU tests need a GPU"

std::uint64_t fresh_seed() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

struct Precision {
  DType act;
  double tolerance;
};

void PrintTo(const Precision& p, std::ostream* os) {
  *os << (p.act == DType::bf16 ? "bf16" : "fp32");
}

class CudaOps : public ::testing::TestWithParam<std::tuple<OpCase, Precision>> {};

TEST_P(CudaOps, MatchCpuReference) {
  GPT_REQUIRE_GPU();
  const auto& [c, precision] = GetParam();
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  CudaBackend gpu(precision.act);
  CpuBackend<double> cpu;
  expect_op_matches(gpu, cpu, c, seed, precision.tolerance);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOps,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases()),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// GPT-2's widths: the vectorised and tensor-core paths the small odd shapes above do not reach.
INSTANTIATE_TEST_SUITE_P(Gpt2Widths, CudaOps,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases(gpt2_widths())),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// The tensor-core attention (bf16, head size 32 or 64; the op cases above use other sizes, so they
// exercise the CUDA-core kernels) against the fp64 CPU reference, with partial tiles, GPT-2's
// head size at T = 512, and bitwise-equal repeats.
OpCase attention_case(std::int64_t B, std::int64_t T, std::int64_t C, int NH) {
  return {.name = "attention",
          .inputs = {{B, T, 3 * C}},
          .outputs = {{B, T, C}},
          .aux = {{B * NH * T * T}},
          .forward = [NH](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], a.aux[0], a.in[0], NH); },
          .backward = [NH](Backend& be,
                           OpArgs& a) { be.attention_backward(a.din[0], a.dout[0], a.in[0], a.out[0], a.aux[0], NH); }};
}

TEST(CudaAttention, TensorCoreKernelsMatchCpuAndRepeat) {
  GPT_REQUIRE_GPU();
  struct Dims {
    std::int64_t B, T, C;
    int NH;
  };
  for (const Dims d : {Dims{2, 200, 128, 2}, Dims{1, 77, 96, 3}, Dims{3, 64, 64, 1}, Dims{1, 512, 768, 12}}) {
    const OpCase c = attention_case(d.B, d.T, d.C, d.NH);
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("T " + std::to_string(d.T) + ", C " + std::to_string(d.C) + ", seed " + std::to_string(seed));
    CudaBackend gpu(DType::bf16);
    CpuBackend<double> cpu;
    OpHarness a(gpu, c, seed), again(gpu, c, seed), ref(cpu, c, seed, true);
    for (OpHarness* h : {&a, &again, &ref}) {
      h->forward();
      h->backward();
    }
    EXPECT_LT(relative_error(a.read(a.args.out[0]), ref.read(ref.args.out[0])), 2e-2) << "output";
    EXPECT_LT(relative_error(a.read(a.args.din[0]), ref.read(ref.args.din[0])), 2e-2) << "gradient";
    EXPECT_EQ(a.read(a.args.out[0]), again.read(again.args.out[0])) << "output not bitwise repeatable";
    EXPECT_EQ(a.read(a.args.din[0]), again.read(again.args.din[0])) << "gradient not bitwise repeatable";
  }
}

// GPT-2's padded vocabulary (50304, a multiple of 8) takes the cross-entropy's 16-byte path, which
// the small op case above (V = 11) does not.
TEST(CudaCrossEntropy, Gpt2VocabularyMatchesCpu) {
  GPT_REQUIRE_GPU();
  const OpCase c = cross_entropy_case(33, 50304, 50257);
  for (const Precision precision : {Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}}) {
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    CudaBackend gpu(precision.act);
    CpuBackend<double> cpu;
    OpHarness a(gpu, c, seed), ref(cpu, c, seed, precision.act == DType::bf16);
    for (OpHarness* h : {&a, &ref}) {
      h->forward();
      h->backward();
    }
    EXPECT_LT(relative_error(a.read(a.args.out[0]), ref.read(ref.args.out[0])), precision.tolerance) << "losses";
    EXPECT_LT(relative_error(a.read(a.args.din[0]), ref.read(ref.args.din[0])), precision.tolerance) << "gradient";
  }
}

// The fused residual add + LayerNorm promises bitwise what add() then layernorm_forward() give.
TEST(CudaResidualLayerNorm, FusedEqualsUnfusedBitwise) {
  GPT_REQUIRE_GPU();
  for (DType act : {DType::bf16, DType::f32}) {
    CudaBackend gpu(act);
    const std::int64_t N = 300, C = 768;
    Buffer mem(gpu, 16 * N * C * 4);
    std::size_t at = 0;
    auto take = [&](std::initializer_list<std::int64_t> dims, DType t) {
      Tensor x = mem.tensor(at, t, dims);
      at += (x.bytes() + 255) / 256 * 256;
      return x;
    };
    const Tensor a = take({N, C}, act), b = take({N, C}, act), w = take({C}, act), bias = take({C}, act);
    for (const Tensor& t : {a, b, w, bias}) {
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      const std::uint64_t key = rng::derive(fresh_seed(), at);
      for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(rng::normal(key, i));
      gpu.upload(t, host.data());
    }
    const Tensor r1 = take({N, C}, act), o1 = take({N, C}, act), m1 = take({N}, DType::f32), s1 = take({N}, DType::f32);
    const Tensor r2 = take({N, C}, act), o2 = take({N, C}, act), m2 = take({N}, DType::f32), s2 = take({N}, DType::f32);
    gpu.residual_layernorm_forward(r1, o1, m1, s1, a, b, w, bias);
    gpu.add(r2, a, b);
    gpu.layernorm_forward(o2, m2, s2, r2, w, bias);
    auto bytes = [&](const Tensor& t) {
      std::vector<unsigned char> host(t.bytes());
      gpu.download_bytes(host.data(), t.ptr, host.size());
      return host;
    };
    EXPECT_EQ(bytes(r1), bytes(r2)) << "residual";
    EXPECT_EQ(bytes(o1), bytes(o2)) << "output";
    EXPECT_EQ(bytes(m1), bytes(m2)) << "mean";
    EXPECT_EQ(bytes(s1), bytes(s2)) << "rstd";
  }
}

TEST(CudaTraining, Fp32StepMatchesCpu) {
  GPT_REQUIRE_GPU();
  CudaBackend gpu(DType::f32);
  CpuBackend<float> cpu;
  std::vector<float> p_gpu, p_cpu;
  const std::vector<double> l_gpu = train_losses(gpu, 1, &p_gpu), l_cpu = train_losses(cpu, 1, &p_cpu);
  EXPECT_NEAR(l_gpu[0], l_cpu[0], 1e-4 * l_cpu[0]);
  EXPECT_LT(
      relative_error(std::vector<double>(p_gpu.begin(), p_gpu.end()), std::vector<double>(p_cpu.begin(), p_cpu.end())),
      1e-4);
}

// tests/emulated runs this file against a host build of the backend, where a step of the CUDA-core
// attention takes a second: the same checks, fewer steps.
#ifdef GPT_CUDA_EMULATED
constexpr int kCurveSteps = 6, kRepeatSteps = 2;
#else
constexpr int kCurveSteps = 20, kRepeatSteps = 5;
#endif

TEST(CudaTraining, Bf16FollowsTheFp32LossCurve) {
  GPT_REQUIRE_GPU();
  CudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, kCurveSteps, nullptr), b = train_losses(bf16, kCurveSteps, nullptr);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

TEST(CudaTraining, TwoRunsAreBitwiseEqual) {
  GPT_REQUIRE_GPU();
  CudaBackend gpu(DType::bf16);
  std::vector<float> p1, p2;
  EXPECT_EQ(train_losses(gpu, kRepeatSteps, &p1), train_losses(gpu, kRepeatSteps, &p2));
  EXPECT_EQ(p1, p2);
}

}  // namespace
}  // namespace gpt::test
