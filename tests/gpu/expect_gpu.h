#pragma once
// GPT_EXPECT_GPU=1 (set by tests/gpu/check.sh, which runs where a GPU must be): a missing device is a
// failure, not a reason to skip. Read by the GPU tests (require_gpu.h) and bench_gpu.
#include <cstdlib>
#include <cstring>

namespace gpt::test {

inline bool gpu_expected() {
  const char* v = std::getenv("GPT_EXPECT_GPU");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace gpt::test
