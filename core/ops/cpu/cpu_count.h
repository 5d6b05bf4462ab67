#pragma once
// How many CPUs this process may really use: the affinity mask, capped by a cgroup CPU quota.
// OpenMP's default counts only the mask, so in a container limited to 2 CPUs of a 64-CPU host
// it starts 64 threads, and every parallel region then waits on descheduled threads.
namespace gpt::cpu {

int available_cpus();

}  // namespace gpt::cpu
