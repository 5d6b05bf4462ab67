#pragma once
// One op case on a backend against a reference backend: the check the CPU (fp32 vs fp64), GPU
// and emulated-GPU op tests share.
#include <gtest/gtest.h>

#include <cstdint>

#include "tests/support/op_harness.h"

namespace gpt::test {

// Runs case c forward and (when it has one) backward on `be` and on `reference` from the same seed (the reference's
// inputs rounded to bf16 when `be` computes in bf16, so both see the same values) and expects
// every output and input gradient within `tolerance`, relative (L2).
inline void expect_op_matches(Backend& be, Backend& reference, const OpCase& c, std::uint64_t seed, double tolerance) {
  OpHarness a(be, c, seed), ref(reference, c, seed, be.act_dtype() == DType::bf16);
  a.forward();
  ref.forward();
  for (std::size_t k = 0; k < c.outputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.out[k]), ref.read(ref.args.out[k])), tolerance) << c.name << " output " << k;
  if (!c.backward) return;  // an inference op
  a.backward();
  ref.backward();
  for (std::size_t k = 0; k < c.inputs.size(); ++k)
    EXPECT_LT(relative_error(a.read(a.args.din[k]), ref.read(ref.args.din[k])), tolerance) << c.name << " grad " << k;
}

}  // namespace gpt::test
