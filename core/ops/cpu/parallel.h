#pragma once
// Parallel regions of the CPU kernels, and their deterministic reductions: results never depend
// on the thread count, because work is split into fixed chunks whose partial sums are combined in
// chunk order.
//
// Every kernel takes `threads`, its backend's thread count, and passes it to each of its parallel
// regions in a num_threads clause: the count belongs to the backend, so nothing sets OpenMP's
// process-wide default (omp_set_num_threads) and two backends may use different counts.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace gpt::cpu {

// Below this much work (elements times inner loop length) a parallel region costs more than it
// saves; with more threads than free cores far more, as each barrier waits for a thread that is
// not running. Small tensors (the gradient checks' models, the biases) therefore run serially.
constexpr std::int64_t kParallelMinWork = 1 << 15;
inline bool worth_parallel(std::int64_t work) {
  return work >= kParallelMinWork;
}

constexpr std::int64_t kReduceChunk = 1 << 14;

template <class T, class F>
double chunked_sum(int threads, const T* x, std::int64_t n, F term) {
  const std::int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) num_threads(threads) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t end = std::min(n, (c + 1) * kReduceChunk);
    double s = 0;
    // simd lets the compiler keep one partial sum per lane: a fixed order for a given binary.
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = c * kReduceChunk; i < end; ++i) s += term(static_cast<double>(x[i]));
    partial[static_cast<std::size_t>(c)] = s;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// Σ term(j) over [0, n) on one thread: blocks of 256 summed in Part lanes (float for the fp32
// kernels, double for the fp64 reference), the blocks added in double. A double reduction inside
// a vectorised float loop runs several times slower (the widening converts), and the blocks keep
// float's rounding to 16 terms a lane. term may also store (the
// softmaxes write each exponential as they sum it). Give term its pointers by value: GCC does
// not vectorise a loop that reads them through a closure held by reference.
template <class Part = float, class F>
double blocked_sum(std::int64_t n, F term) {
  constexpr std::int64_t kBlock = 256;
  double sum = 0;
  for (std::int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const std::int64_t j1 = std::min(n, j0 + kBlock);
    Part part = 0;
#pragma omp simd reduction(+ : part)
    for (std::int64_t j = j0; j < j1; ++j) part += term(j);
    sum += part;
  }
  return sum;
}

// Splits [0, n) columns into blocks so reductions over rows can run one block per thread:
// each column's sum is then accumulated by one thread in row order.
constexpr std::int64_t kColumnBlock = 64;

}  // namespace gpt::cpu
