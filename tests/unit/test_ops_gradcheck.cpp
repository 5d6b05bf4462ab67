// Every op's backward against central finite differences, computed in double precision on the
// fp64 CPU backend (the same kernels the fp32 backend runs, instantiated for double).
#include <gtest/gtest.h>

#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/op_harness.h"

namespace gpt::test {
namespace {

class OpGradCheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpGradCheck, BackwardMatchesFiniteDifferences) {
  const OpCase& c = GetParam();
  CpuBackend<double> be(cpu_threads());
  OpHarness h(be, c, 2024);
  h.forward();
  h.backward();
  const double step = 1e-5;
  for (std::size_t k = 0; k < c.inputs.size(); ++k) {
    Tensor input = h.args.in[k];
    double* x = input.data<double>();
    std::vector<double> numeric(static_cast<std::size_t>(input.numel()));
    for (std::int64_t i = 0; i < input.numel(); ++i) {
      const double saved = x[i];
      x[i] = saved + step;
      h.forward();
      const double plus = h.objective();
      x[i] = saved - step;
      h.forward();
      const double minus = h.objective();
      x[i] = saved;
      numeric[static_cast<std::size_t>(i)] = (plus - minus) / (2 * step);
    }
    const std::vector<double> analytic = h.read(h.args.din[k]);
    const double err = relative_error(analytic, numeric);
    EXPECT_LT(err, 1e-7) << c.name << " input " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradCheck, ::testing::ValuesIn(with_backward(all_op_cases())),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gpt::test
