#pragma once
// How many CPUs this process may really use: the affinity mask, capped by a cgroup CPU quota.
// OpenMP's default counts only the mask, so in a container limited to 2 CPUs of a 64-CPU host
// it starts 64 threads, and every parallel region then waits on descheduled threads.
#include <string>

namespace gpt::cpu {

// The CPU's model name from /proc/cpuinfo ("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz"), or
// "CPU" where there is none.
std::string model_name();

int available_cpus();

// How many threads a CPU backend should use; the first rule that applies decides:
//   1. `configured` > 0 (train.threads): that many;
//   2. OMP_NUM_THREADS is set (`omp_num_threads`, its value; nullptr when unset): OpenMP's own
//      default, `openmp_default` (omp_get_max_threads() before anything changed it), which
//      follows the variable as the OpenMP runtime read it;
//   3. otherwise every CPU the process may use, available_cpus().
// The caller reads the environment (a main, a test, a benchmark): the backend only uses the count.
int choose_threads(int configured, const char* omp_num_threads, int openmp_default);

}  // namespace gpt::cpu
