#pragma once
// The thread count tests and benchmarks give a CPU backend: what the train binary would pick with
// train.threads = 0 (cpu::choose_threads), so under ctest, which sets OMP_NUM_THREADS, that value.

#include <omp.h>

#include <cstdlib>

#include "core/cpu_count.h"

namespace gpt::test {

inline int cpu_threads() {
  return cpu::choose_threads(0, std::getenv("OMP_NUM_THREADS"), omp_get_max_threads());
}

}  // namespace gpt::test
