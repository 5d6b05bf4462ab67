#pragma once
// The CUDA backend's cache of cuBLASLt matmul plans, without cuBLASLt: what a plan is keyed by,
// that each is made once, the fallback from the bias epilogue to a plain matmul and a bias kernel,
// and the words of a refusal. cuda_backend.cu supplies the planner that calls cuBLASLt; the unit
// test (tests/unit/test_matmul_plan_cache.cpp) a fake one, so this logic runs without a GPU.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/tensor.h"

namespace gpt::cuda {

// Column-major D(m×n) = op(A)·op(B) + beta·D (+ bias over rows): the cuBLAS view of a row-major
// product. A plan's descriptors and algorithm depend on all of this, the operands' alignments
// included (the heuristic picks kernels that assume them).
struct MatmulKey {
  bool trans_a = false, trans_b = false, bias = false;
  std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
  DType ab = DType::f32, d = DType::f32;  // A and B, and D
  std::uint32_t align_a = 0, align_b = 0, align_d = 0;
  bool operator==(const MatmulKey&) const = default;
};

struct MatmulKeyHash {
  std::size_t operator()(const MatmulKey& key) const {
    const auto flags = static_cast<std::int64_t>(key.trans_a) | static_cast<std::int64_t>(key.trans_b) << 1 |
                       static_cast<std::int64_t>(key.bias) << 2 | static_cast<std::int64_t>(key.ab) << 8 |
                       static_cast<std::int64_t>(key.d) << 16;
    const auto aligns =
        static_cast<std::int64_t>(key.align_a) << 32 | static_cast<std::int64_t>(key.align_b) << 16 | key.align_d;
    std::size_t h = 0;
    for (std::int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldd, flags, aligns})
      h = h * 1000003u ^ std::hash<std::int64_t>{}(v);
    return h;
  }
};

// The largest power of two up to 256 that divides the address: the alignment cuBLASLt may assume.
inline std::uint32_t pointer_alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > 1 && address % align != 0) align /= 2;
  return align;
}

// What the cuBLASLt message names: the shape, transposes, leading dimensions, types, alignments.
inline std::string describe(const MatmulKey& key) {
  auto type_name = [](DType t) { return t == DType::f32 ? std::string("fp32") : std::string(dtype_name(t)); };
  return "m=" + std::to_string(key.m) + " n=" + std::to_string(key.n) + " k=" + std::to_string(key.k) +
         ", transa=" + (key.trans_a ? "T" : "N") + " transb=" + (key.trans_b ? "T" : "N") +
         ", lda=" + std::to_string(key.lda) + " ldb=" + std::to_string(key.ldb) + " ldd=" + std::to_string(key.ldd) +
         ", A and B " + type_name(key.ab) + ", D " + type_name(key.d) + ", alignments A/B/D " +
         std::to_string(key.align_a) + "/" + std::to_string(key.align_b) + "/" + std::to_string(key.align_d) + " bytes";
}

// Planner: a type with
//   using Plan = ...;  // default-constructible, movable
//   // Makes `plan` for `key`, with the bias epilogue or without it. Returns nullopt when made, or
//   // why none could be ("no results", "status 15"), leaving nothing allocated; throws for any
//   // other failure, leaving nothing allocated.
//   std::optional<std::string> try_make(const MatmulKey& key, bool bias_epilogue, Plan& plan);
//   void destroy(Plan& plan) noexcept;
template <class Planner>
class MatmulPlanCache {
 public:
  using Plan = typename Planner::Plan;
  struct Entry {
    Plan plan;
    bool bias_by_kernel = false;  // the bias epilogue was refused: the caller adds the bias after
  };

  explicit MatmulPlanCache(Planner planner) : planner_(std::move(planner)) {}
  ~MatmulPlanCache() {
    for (auto& [key, entry] : entries_) planner_.destroy(entry.plan);
  }
  MatmulPlanCache(const MatmulPlanCache&) = delete;
  MatmulPlanCache& operator=(const MatmulPlanCache&) = delete;

  // The plan for `key`, made on first use. std::runtime_error naming the matmul when there is
  // none; a refused or failed key is not remembered, so the next call asks again.
  Entry& get(const MatmulKey& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(key, make(key)).first;
    return it->second;
  }

  std::size_t size() const { return entries_.size(); }
  Planner& planner() { return planner_; }

 private:
  // Small odd bf16 shapes (leading dimensions of 20-24 bytes) can have algorithms only without the
  // bias epilogue, so a bias matmul falls back to the plain one and a bias kernel.
  Entry make(const MatmulKey& key) {
    Entry entry;
    std::optional<std::string> with_bias_refused;
    if (key.bias) {
      with_bias_refused = planner_.try_make(key, true, entry.plan);
      if (!with_bias_refused) return entry;
    }
    const std::optional<std::string> plain_refused = planner_.try_make(key, false, entry.plan);
    if (!plain_refused) {
      entry.bias_by_kernel = key.bias;
      return entry;
    }
    std::string what = "cuBLASLt has no algorithm for the column-major matmul D = op(A)·op(B): " + describe(key);
    if (key.bias)
      what += "; the bias epilogue was asked for and refused (" + *with_bias_refused + "), and the plain matmul too (" +
              *plain_refused + ")";
    else
      what += ", no bias epilogue (" + *plain_refused + ")";
    throw std::runtime_error(what);
  }

  Planner planner_;
  std::unordered_map<MatmulKey, Entry, MatmulKeyHash> entries_;
};

}  // namespace gpt::cuda
