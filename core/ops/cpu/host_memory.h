#pragma once
// How much memory this process may still allocate on the host: the kernel's MemAvailable,
// capped by a cgroup memory limit (what is left of it), so a container limited to 8 GiB on a
// 1 TiB host does not plan for the host.
#include <cstddef>

namespace gpt::cpu {

// Bytes; 0 when nothing can be read (no /proc: then nobody knows).
std::size_t available_host_memory();

}  // namespace gpt::cpu
