#pragma once
// How many mutations a fuzz test runs: its fixed default (a few seconds, for CI), or
// $GPT_FUZZ_ITERATIONS for a longer run.
#include <cstdlib>

namespace gpt::test {

inline int fuzz_iterations(int fallback) {
  const char* env = std::getenv("GPT_FUZZ_ITERATIONS");
  return env != nullptr ? std::atoi(env) : fallback;
}

}  // namespace gpt::test
