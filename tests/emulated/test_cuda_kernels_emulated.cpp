// The CUDA backend's kernels, run on the host under the SIMT emulator, against the fp64 CPU
// backend: every op case (tests/unit/op_cases.h) at small odd sizes and at GPT-2's widths, in
// fp32 (≤ 1e-5) and bf16 (≤ 2e-2), the tolerances of the GPU tests; the small sizes under both
// of the emulator's thread orders. What the device adds (cuBLASLt, the real memory system, the
// tensor-core attention's device build) is for tests/gpu.
#include "tests/emulated/cuda_on_host.h"
// The line above must come first.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/ops/cpu/cpu_backend.h"
#include "core/rng.h"
#include "tests/emulated/emulated_backend.h"
#include "tests/unit/op_harness.h"
#include "tests/unit/training_steps.h"

namespace gpt::test {
namespace {

struct Precision {
  DType act;
  double tolerance;
};

using Param = std::tuple<OpCase, Precision, SimtEmulator::Schedule>;

class EmulatedCudaOps : public ::testing::TestWithParam<Param> {};

TEST_P(EmulatedCudaOps, MatchCpuReference) {
  const auto& [c, precision, schedule] = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  cuda_host::schedule() = schedule;
  EmulatedCudaBackend emulated(precision.act);
  CpuBackend<double> cpu;
  OpHarness a(emulated, c, seed), ref(cpu, c, seed, precision.act == DType::bf16);
  a.forward();
  ref.forward();
  for (std::size_t k = 0; k < c.outputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.out[k]), ref.read(ref.args.out[k])), precision.tolerance)
        << c.name << " output " << k;
  a.backward();
  ref.backward();
  for (std::size_t k = 0; k < c.inputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.din[k]), ref.read(ref.args.din[k])), precision.tolerance)
        << c.name << " grad " << k;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const auto& [c, precision, schedule] = info.param;
  return c.name + (precision.act == DType::bf16 ? "_bf16" : "_fp32") +
         (schedule == SimtEmulator::Schedule::round_robin ? "" : "_warp0_ahead");
}

INSTANTIATE_TEST_SUITE_P(
    AllOps, EmulatedCudaOps,
    ::testing::Combine(::testing::ValuesIn(all_op_cases()),
                       ::testing::Values(Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}),
                       ::testing::Values(SimtEmulator::Schedule::round_robin, SimtEmulator::Schedule::lowest_first)),
    param_name);

// At GPT-2's widths bf16 attention takes the tensor-core kernels (head size 64), as on the device.
INSTANTIATE_TEST_SUITE_P(Gpt2Widths, EmulatedCudaOps,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases(gpt2_widths())),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2}),
                                            ::testing::Values(SimtEmulator::Schedule::round_robin)),
                         param_name);

// As on the GPU (tests/gpu): the fused residual add + LayerNorm gives bitwise what add() then
// layernorm_forward() give.
TEST(EmulatedCudaKernels, FusedResidualLayerNormEqualsUnfusedBitwise) {
  for (DType act : {DType::bf16, DType::f32}) {
    EmulatedCudaBackend be(act);
    const std::int64_t N = 40, C = 768;
    std::vector<Buffer> buffers;
    auto make = [&](std::initializer_list<std::int64_t> dims, DType t) {
      std::int64_t n = 1;
      for (std::int64_t d : dims) n *= d;
      buffers.emplace_back(be, static_cast<std::size_t>(n) * dtype_size(t));
      return buffers.back().tensor(0, t, dims);
    };
    const Tensor a = make({N, C}, act), b = make({N, C}, act), w = make({C}, act), bias = make({C}, act);
    std::uint64_t stream = 0;
    for (const Tensor& t : {a, b, w, bias}) {
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(rng::normal(++stream, i));
      be.upload(t, host.data());
    }
    const Tensor r1 = make({N, C}, act), o1 = make({N, C}, act), m1 = make({N}, DType::f32), s1 = make({N}, DType::f32);
    const Tensor r2 = make({N, C}, act), o2 = make({N, C}, act), m2 = make({N}, DType::f32), s2 = make({N}, DType::f32);
    be.residual_layernorm_forward(r1, o1, m1, s1, a, b, w, bias);
    be.add(r2, a, b);
    be.layernorm_forward(o2, m2, s2, r2, w, bias);
    for (const auto& [x, y] : {std::pair{r1, r2}, std::pair{o1, o2}, std::pair{m1, m2}, std::pair{s1, s2}})
      EXPECT_EQ(std::memcmp(x.ptr, y.ptr, x.bytes()), 0) << dtype_name(act);
  }
}

TEST(EmulatedCudaKernels, CrossEntropyAtGpt2Vocabulary) {
  // 50304 columns, 16-byte vectors, the real vocabulary ending mid-vector.
  const OpCase c = cross_entropy_case(6, 50304, 50257);
  EmulatedCudaBackend emulated(DType::bf16);
  CpuBackend<double> cpu;
  OpHarness a(emulated, c, 7), ref(cpu, c, 7, true);
  for (OpHarness* h : {&a, &ref}) {
    h->forward();
    h->backward();
  }
  EXPECT_LT(relative_error(a.read(a.args.out[0]), ref.read(ref.args.out[0])), 2e-2);
  EXPECT_LT(relative_error(a.read(a.args.din[0]), ref.read(ref.args.din[0])), 2e-2);
}

// The training-level checks of tests/gpu, with the kernels emulated: a small GPT (2 layers, 4
// heads of 16, bias, tied embeddings) trained on one batch of 4 × 16 tokens (half the GPU test's
// length: the CUDA-core attention is slow to emulate). Everything the model calls runs through
// the CUDA kernel files except the matmuls.
TEST(EmulatedCudaTraining, Fp32StepsMatchCpu) {
  EmulatedCudaBackend emulated(DType::f32);
  CpuBackend<float> cpu;
  std::vector<float> p_emulated, p_cpu;
  const std::vector<double> a = train_losses(emulated, 3, &p_emulated, 16), b = train_losses(cpu, 3, &p_cpu, 16);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * b[i]) << "step " << i;
  EXPECT_LT(relative_error(std::vector<double>(p_emulated.begin(), p_emulated.end()),
                           std::vector<double>(p_cpu.begin(), p_cpu.end())),
            1e-4);
}

TEST(EmulatedCudaTraining, Bf16FollowsTheFp32LossCurve) {
  EmulatedCudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, 6, nullptr, 16), b = train_losses(bf16, 6, nullptr, 16);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

// Heads of 32: bf16 attention on the tensor-core kernels, inside the whole model.
TEST(EmulatedCudaTraining, Bf16WithTensorCoreAttentionFollowsFp32) {
  ModelConfig config = step_model();
  config.n_head = 2;
  EmulatedCudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, 4, nullptr, 16, config),
                            b = train_losses(bf16, 4, nullptr, 16, config);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

TEST(EmulatedCudaTraining, TwoRunsAreBitwiseEqual) {
  EmulatedCudaBackend first(DType::bf16), second(DType::bf16);
  std::vector<float> p1, p2;
  EXPECT_EQ(train_losses(first, 2, &p1, 16), train_losses(second, 2, &p2, 16));
  EXPECT_EQ(p1, p2);
}

}  // namespace
}  // namespace gpt::test
