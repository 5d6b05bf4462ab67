#pragma once
// Gradient exchange across ranks, once per optimizer step, in fixed buckets that start as soon
// as the backward has finished their layers. Which collective a bucket gets (all-reduce, or
// ZeRO-1's reduce-scatter) is the caller's: dist/zero.h decides.
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/model/gpt.h"
#include "dist/communicator.h"

namespace gpt {

// The flat buffer cut into consecutive buckets of about bucket_elems. Every bucket's length
// divides by world·ParamTable::kAlign, so rank r's slice (for ZeRO) is equal-sized and aligned.
class BucketPlan {
 public:
  // flat_numel must be a multiple of unit(world).
  BucketPlan(std::int64_t flat_numel, std::int64_t bucket_elems, int world);
  static std::int64_t unit(int world) { return static_cast<std::int64_t>(world) * ParamTable::kAlign; }

  const std::vector<FlatRange>& buckets() const { return buckets_; }
  // Rank's share of one bucket: the slice a reduce-scatter or all-gather of it assigns to rank.
  FlatRange slice(std::size_t bucket, int rank) const;

 private:
  std::vector<FlatRange> buckets_;
  int world_;
};

class GradientSync {
 public:
  // Starts (does not wait for) the collective on one bucket's view of the gradients.
  using StartFn = std::function<void(const Tensor& bucket)>;

  // Exchanges model.grads() bucket by bucket; start_bucket issues each bucket's collective.
  GradientSync(Communicator& comm, const GPT& model, std::int64_t bucket_elems, StartFn start_bucket);

  const BucketPlan& plan() const { return plan_; }

  // Give this to the backward of a step's last micro-batch: buckets start as they complete.
  GradReadyFn listener();
  // Starts whatever has not started (all of it when no listener ran) and waits for everything.
  void finish();
  // Milliseconds this step spent blocked on communication (in finish()).
  double blocked_ms() const { return blocked_ms_; }

 private:
  void mark_ready(std::int64_t begin, std::int64_t end);
  void start(std::size_t bucket);

  Communicator* comm_;
  Tensor grads_;
  BucketPlan plan_;
  StartFn start_bucket_;
  std::vector<std::int64_t> ready_;  // elements of each bucket with final gradients
  std::vector<bool> started_;
  double blocked_ms_ = 0;
};

}  // namespace gpt
