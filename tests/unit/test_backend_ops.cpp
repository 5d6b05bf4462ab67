// The test-backend-ops habit: every op of a backend against the reference on fresh random inputs.
// Here the fp32 CPU backend against the fp64 one, forward outputs and gradients, ≤ 1e-5 relative,
// and the bf16 one within a rounding.
#include <gtest/gtest.h>

#include <omp.h>

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "core/cpu_count.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cpu/cpu_bf16_backend.h"
#include "core/ops/cpu/matmul_bf16.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/op_comparison.h"
#include "tests/support/op_refusals.h"

namespace gpt::test {
namespace {

class BackendOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(BackendOps, Fp32MatchesFp64) {
  const OpCase& c = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  CpuBackend<float> f32(cpu_threads());
  CpuBackend<double> f64(cpu_threads());
  expect_op_matches(f32, f64, c, seed, 1e-5);
}

// The bf16 CPU backend against fp64 on the same bf16-rounded inputs. Each op computes in fp32
// and rounds its outputs to bf16 once, so its L2 relative error is at most bf16's unit roundoff
// 2^-8 (8 significant bits), plus fp32's over the longest sum an op case has (4096 terms at GPT-2's
// widths, 2^-24 each); fp32 parameter gradients only the latter. (Measured: about 0.0017, the
// RMS of one rounding, 2^-8/sqrt(3).) Attention rounds twice, its probabilities (or their
// gradients) for the bf16 products and then its outputs, as flash attention does; two
// independent roundings have an RMS of sqrt(2)·2^-8/sqrt(3) = 0.0032, still within the bound of
// one (measured: 0.0017 to 0.0023).
TEST_P(BackendOps, Bf16WithinOneRoundingOfFp64) {
  if (!cpu::bf16_matmul_support().native) GTEST_SKIP() << "this CPU has neither AMX-BF16 nor AVX512-BF16";
  const OpCase& c = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  CpuBf16Backend bf16(cpu_threads());
  CpuBackend<double> f64(cpu_threads());
  expect_op_matches(bf16, f64, c, seed, std::ldexp(1.0, -8) + 4096 * std::ldexp(1.0, -24));
}

INSTANTIATE_TEST_SUITE_P(AllOps, BackendOps, ::testing::ValuesIn(all_op_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Gpt2Widths, BackendOps, ::testing::ValuesIn(all_op_cases(gpt2_widths())),
                         [](const auto& info) { return info.param.name; });

// Bad shapes, types and scalars are refused by the checks every backend shares (tests/gpu runs
// the same list on the CUDA backend).
class BackendRefusals : public ::testing::TestWithParam<OpRefusals> {};

TEST_P(BackendRefusals, BadArgumentsAreRefused) {
  CpuBackend<float> f32(cpu_threads());
  CpuBackend<double> f64(cpu_threads());
  expect_refusals(f32, "cpu", GetParam());
  expect_refusals(f64, "cpu", GetParam());
  CpuBf16Backend bf16(cpu_threads());
  expect_refusals(bf16, "cpu", GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllOps, BackendRefusals, ::testing::ValuesIn(all_op_refusals()),
                         [](const auto& info) { return info.param.op_case; });

}  // namespace
}  // namespace gpt::test

namespace gpt::test {
namespace {

TEST(AdamWOp, MatchesTorchFormulaOverSeveralSteps) {
  CpuBackend<double> be(cpu_threads());
  const std::vector<double> g = {0.3, -1.5, 0.0, 2e-3};
  std::vector<double> p = {1.0, -2.0, 0.5, 0.25}, m(4, 0.0), v(4, 0.0);
  std::vector<double> ref_p = p, ref_m = m, ref_v = v;
  AdamWStep s{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .grad_scale = 0.5};
  auto t = [](std::vector<double>& x) { return Tensor(x.data(), DType::f64, {4}); };
  std::vector<double> grad = g;
  for (std::int64_t step = 1; step <= 3; ++step) {
    s.step = step;
    be.adamw(t(p), t(grad), t(m), t(v), s);
    for (std::size_t i = 0; i < 4; ++i) {
      const double gi = g[i] * s.grad_scale;
      ref_p[i] *= 1 - s.lr * s.weight_decay;
      ref_m[i] = s.beta1 * ref_m[i] + (1 - s.beta1) * gi;
      ref_v[i] = s.beta2 * ref_v[i] + (1 - s.beta2) * gi * gi;
      const double mhat = ref_m[i] / (1 - std::pow(s.beta1, step));
      const double vhat = ref_v[i] / (1 - std::pow(s.beta2, step));
      ref_p[i] -= s.lr * mhat / (std::sqrt(vhat) + s.eps);
    }
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(p[i], ref_p[i], 1e-14) << i;
}

TEST(DropoutOp, KeepsAboutOneMinusPScaledAndRepeatsPerKey) {
  CpuBackend<float> be(cpu_threads());
  const std::int64_t n = 100000;
  std::vector<float> x(n, 1.0f), a(n), b(n), c(n);
  auto t = [&](std::vector<float>& v) { return Tensor(v.data(), DType::f32, {n}); };
  be.dropout_forward(t(a), t(x), 0.25, 7);
  be.dropout_forward(t(b), t(x), 0.25, 7);
  be.dropout_forward(t(c), t(x), 0.25, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::int64_t kept = 0;
  for (float v : a) {
    ASSERT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f);
    kept += v != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.01);
}

TEST(Reductions, IndependentOfThreadCount) {
  CpuBackend<float> on_two(2), on_one(1);
  std::vector<float> x(1 << 20);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng::normal(3, i));
  const Tensor t(x.data(), DType::f32, {static_cast<std::int64_t>(x.size())});
  const double two = on_two.sum_squares(t);
  const double one = on_one.sum_squares(t);
  EXPECT_EQ(one, two);
  double naive = 0;
  for (float v : x) naive += static_cast<double>(v) * v;
  EXPECT_NEAR(two, naive, 1e-9 * naive);
}

TEST(CpuCount, WithinTheMachineAndFollowedByDefault) {
  const int cpus = cpu::available_cpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, static_cast<int>(std::thread::hardware_concurrency()));
  // The decision with the environment given, not read (ctest sets OMP_NUM_THREADS): without
  // OMP_NUM_THREADS and train.threads, every CPU the process may use, whatever OpenMP's default.
  const int threads = cpu::choose_threads(0, nullptr, 64);
  EXPECT_EQ(threads, cpus);
  // A set OMP_NUM_THREADS hands the choice to OpenMP's default; train.threads wins over both.
  EXPECT_EQ(cpu::choose_threads(0, "3", 3), 3);
  EXPECT_EQ(cpu::choose_threads(5, "3", 3), 5);
  EXPECT_EQ(cpu::choose_threads(5, nullptr, 64), 5);
}

TEST(CpuCount, BackendUsesItsCountAndLeavesOpenMpsDefault) {
  const int before = omp_get_max_threads();
  CpuBackend<float> be(before + 3);
  EXPECT_EQ(be.threads(), before + 3);
  EXPECT_EQ(be.host_threads(), before + 3);
  // Its ops, oneDNN's matmul included, leave OpenMP's default as it was.
  std::vector<float> x(64 * 64, 1.0f), w(64 * 64, 0.5f), out(64 * 64);
  const auto t = [](std::vector<float>& v) { return Tensor(v.data(), DType::f32, {64, 64}); };
  be.matmul_forward(t(out), t(x), t(w), Tensor());
  EXPECT_EQ(out[0], 32.0f);
  EXPECT_EQ(omp_get_max_threads(), before);
  EXPECT_THROW(CpuBackend<float>(0), std::invalid_argument);
}

}  // namespace
}  // namespace gpt::test
