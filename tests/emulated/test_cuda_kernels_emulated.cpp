// The CUDA backend built for the host (tests/emulated/cuda_on_host.h) beyond what the GPU suite
// checks: the op cases under the emulator's second thread order, and a whole-model bf16 run on
// the tensor-core attention. Tolerances are the GPU tests': fp32 ≤ 1e-5, bf16 ≤ 2e-2 relative.
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
#include "core/ops/cuda/cuda_backend.h"
#include "core/rng.h"
#include "tests/unit/op_harness.h"
#include "tests/unit/training_steps.h"

namespace gpt::test {
namespace {

// The GPU suite (gpu/test_cuda_backend.cpp, compiled into this executable too) runs every op case
// with the emulator's default order, warps in lockstep. Here the small cases again with warp 0
// running as far ahead as barriers allow, so a missing __syncthreads shows under one or the other.
struct Precision {
  DType act;
  double tolerance;
};

class CudaOpsWarp0Ahead : public ::testing::TestWithParam<std::tuple<OpCase, Precision>> {};

TEST_P(CudaOpsWarp0Ahead, MatchCpuReference) {
  const auto& [c, precision] = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  cuda_host::schedule() = SimtEmulator::Schedule::lowest_first;
  CudaBackend gpu(precision.act);
  CpuBackend<double> cpu;
  OpHarness a(gpu, c, seed), ref(cpu, c, seed, precision.act == DType::bf16);
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
  cuda_host::schedule() = SimtEmulator::Schedule::round_robin;
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOpsWarp0Ahead,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases()),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// Heads of 32: bf16 attention on the tensor-core kernels, inside the whole model (the GPU suite's
// training model has heads of 16, which take the CUDA-core kernels).
TEST(CudaTrainingEmulated, Bf16WithTensorCoreAttentionFollowsFp32) {
  ModelConfig config = step_model();
  config.n_head = 2;
  CudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, 4, nullptr, 16, config),
                            b = train_losses(bf16, 4, nullptr, 16, config);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

}  // namespace
}  // namespace gpt::test
