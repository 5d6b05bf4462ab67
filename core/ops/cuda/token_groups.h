#pragma once
// The embedding backward's grouping of positions by token, computed on the host: with it every
// vocabulary row is summed by one CUDA block in position order, deterministic without atomics.
// Plain C++ (no CUDA), shared by the CUDA backend and the host emulation of its kernels.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace gpt::cuda {

// From ids[0..n) (each in [0, V)), writes after them, in the same buffer of 4n + 1 ints:
// order (n positions, grouped by token, each group in position order), run_start (runs + 1:
// group r is order[run_start[r] .. run_start[r+1])) and run_token (runs). Returns the number of
// runs; order, run_start and run_token are contiguous, count + 2·runs + 1 ints from ids + n.
// `count` is scratch of V + 1 ints, reused between calls.
inline std::size_t group_positions_by_token(std::int32_t* ids, std::size_t n, std::int64_t V,
                                            std::vector<std::int64_t>& count) {
  count.assign(static_cast<std::size_t>(V) + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= V) throw std::logic_error("cuda backend: embedding_backward: token id out of range");
    ++count[static_cast<std::size_t>(ids[i]) + 1];
  }
  for (std::size_t v = 1; v <= static_cast<std::size_t>(V); ++v) count[v] += count[v - 1];
  std::int32_t* order = ids + n;
  for (std::size_t i = 0; i < n; ++i)  // a counting sort: stable, so each group is in position order
    order[count[static_cast<std::size_t>(ids[i])]++] = static_cast<std::int32_t>(i);
  std::int32_t* run_start = order + n;
  std::size_t runs = 0;
  for (std::size_t k = 0; k < n; ++k)
    if (k == 0 || ids[order[k]] != ids[order[k - 1]]) run_start[runs++] = static_cast<std::int32_t>(k);
  run_start[runs] = static_cast<std::int32_t>(n);
  std::int32_t* run_token = run_start + runs + 1;
  for (std::size_t r = 0; r < runs; ++r) run_token[r] = ids[order[run_start[r]]];
  return runs;
}

}  // namespace gpt::cuda
