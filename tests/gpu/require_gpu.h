#pragma once
// GPT_REQUIRE_GPU(what): the first line of every GPU test. Without a visible device the test
// skips, saying why (the CUDA runtime's own error); but where GPT_EXPECT_GPU=1 is set (as
// tests/gpu/check.sh does, where a GPU must be) a missing device fails the test instead, so a
// broken driver or toolkit cannot read as a passing run.
#include <gtest/gtest.h>

#include "core/ops/cuda/cuda_backend.h"
#include "tests/gpu/expect_gpu.h"

#define GPT_REQUIRE_GPU(what)                                                                                 \
  do {                                                                                                        \
    if (const ::gpt::CudaDevices devices = ::gpt::cuda_devices(); devices.count == 0) {                       \
      if (::gpt::test::gpu_expected()) FAIL() << "GPT_EXPECT_GPU=1, but no CUDA device: " << devices.problem; \
      GTEST_SKIP() << "no CUDA device visible (" << devices.problem << "): " what " need a GPU";              \
    }                                                                                                         \
  } while (false)
