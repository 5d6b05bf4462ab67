#include "core/ops/cpu/host_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

namespace gpt::cpu {
namespace {

// /proc/meminfo's "MemAvailable:  123456 kB".
std::size_t mem_available() {
  std::ifstream file("/proc/meminfo");
  std::string key, unit;
  std::size_t kib = 0;
  while (file >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

// The limit minus the usage of a cgroup's memory files; 0 without a limit.
std::size_t cgroup_left(const char* limit_path, const char* usage_path) {
  std::ifstream limit_file(limit_path), usage_file(usage_path);
  std::string limit_text;
  std::size_t usage = 0;
  if (!(limit_file >> limit_text) || limit_text == "max" || !(usage_file >> usage)) return 0;
  const std::size_t limit = std::stoull(limit_text);
  // cgroup v1 reports "no limit" as a huge number (a page-rounded LONG_MAX).
  if (limit >= (std::size_t{1} << 60)) return 0;
  return limit > usage ? limit - usage : 1;
}

}  // namespace

std::size_t available_host_memory() {
  std::size_t bytes = mem_available();
  for (std::size_t left :
       {cgroup_left("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        cgroup_left("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")})
    if (left > 0) bytes = bytes > 0 ? std::min(bytes, left) : left;
  return bytes;
}

void* allocate_zeroed(std::size_t bytes) {
  constexpr std::size_t kAlignment = 256;
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded == 0 ? kAlignment : rounded);
  return p;
}

void release_allocation(void* ptr) noexcept {
  std::free(ptr);
}

}  // namespace gpt::cpu
