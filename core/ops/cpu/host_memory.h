#pragma once
// Host memory for the CPU backends: how much this process may still allocate on the host, the kernel's MemAvailable,
// capped by a cgroup memory limit (what is left of it), so a container limited to 8 GiB on a
// 1 TiB host does not plan for the host.
#include <cstddef>

namespace gpt::cpu {

// Bytes; 0 when nothing can be read (no /proc: then nobody knows).
std::size_t available_host_memory();

// The CPU backends' buffers: zero-filled, 256-byte aligned (Backend::allocate); std::bad_alloc
// when the host has no room. Freed by release_allocation.
void* allocate_zeroed(std::size_t bytes);
void release_allocation(void* ptr) noexcept;

}  // namespace gpt::cpu
