// The test-backend-ops habit: every op of a backend against the reference on fresh random inputs.
// Here the fp32 CPU backend against the fp64 one, forward outputs and gradients, ≤ 1e-5 relative.
#include <gtest/gtest.h>

#include <chrono>

#include "core/ops/cpu/cpu_backend.h"
#include "tests/unit/op_harness.h"

namespace gpt::test {
namespace {

class BackendOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(BackendOps, Fp32MatchesFp64) {
  const OpCase& c = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  CpuBackend<float> f32;
  CpuBackend<double> f64;
  OpHarness a(f32, c, seed), ref(f64, c, seed);
  a.forward();
  ref.forward();
  for (std::size_t k = 0; k < c.outputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.out[k]), ref.read(ref.args.out[k])), 1e-5) << c.name << " output " << k;
  a.backward();
  ref.backward();
  for (std::size_t k = 0; k < c.inputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.din[k]), ref.read(ref.args.din[k])), 1e-5) << c.name << " grad " << k;
}

INSTANTIATE_TEST_SUITE_P(AllOps, BackendOps, ::testing::ValuesIn(all_op_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gpt::test
