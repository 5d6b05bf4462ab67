#include "core/cpu_count.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace gpt::cpu {
namespace {

// cgroup v2: "max 100000" (no limit) or "200000 100000" (2 CPUs).
int cgroup_v2_limit() {
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (!(file >> quota >> period) || quota == "max" || period <= 0) return 0;
  return static_cast<int>(std::ceil(std::stod(quota) / period));
}

// cgroup v1: quota -1 means no limit.
int cgroup_v1_limit() {
  std::ifstream quota_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream period_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (!(quota_file >> quota) || !(period_file >> period) || quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::ceil(quota / period));
}

}  // namespace

int available_cpus() {
  int cpus = 0;
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) cpus = CPU_COUNT(&mask);
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  for (int limit : {cgroup_v2_limit(), cgroup_v1_limit()})
    if (limit > 0) cpus = std::min(cpus, limit);
  return std::max(cpus, 1);
}

int choose_threads(int configured, const char* omp_num_threads, int openmp_default) {
  if (configured > 0) return configured;
  if (omp_num_threads != nullptr) return std::max(openmp_default, 1);
  return available_cpus();
}

}  // namespace gpt::cpu

namespace gpt::cpu {

std::string model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    // x86: "model name\t: Intel(R) ..."; some Arm kernels say only "CPU part".
    if (line.rfind("model name", 0) != 0) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const std::size_t start = line.find_first_not_of(" \t", colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return "CPU";
}

}  // namespace gpt::cpu
