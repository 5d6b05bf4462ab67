#include "dist/grad_sync.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace gpt {

BucketPlan::BucketPlan(std::int64_t flat_numel, std::int64_t bucket_elems, int world) : world_(world) {
  const std::int64_t u = unit(world);
  if (flat_numel % u != 0)
    throw std::invalid_argument("flat buffer of " + std::to_string(flat_numel) + " elements is not a multiple of " +
                                std::to_string(u));
  const std::int64_t size = std::max<std::int64_t>(u, (bucket_elems + u - 1) / u * u);
  for (std::int64_t b = 0; b < flat_numel; b += size) buckets_.push_back({b, std::min(flat_numel, b + size)});
}

FlatRange BucketPlan::slice(std::size_t bucket, int rank) const {
  const FlatRange& b = buckets_.at(bucket);
  const std::int64_t share = b.size() / world_;
  return {b.begin + rank * share, b.begin + (rank + 1) * share};
}

GradientSync::GradientSync(Communicator& comm, const GPT& model, std::int64_t bucket_elems, StartFn start_bucket)
    : comm_(&comm),
      grads_(model.grads()),
      plan_(model.flat_numel(), bucket_elems, comm.world_size()),
      start_bucket_(std::move(start_bucket)),
      ready_(plan_.buckets().size(), 0),
      started_(plan_.buckets().size(), false) {}

GradReadyFn GradientSync::listener() {
  return [this](std::int64_t begin, std::int64_t end) { mark_ready(begin, end); };
}

void GradientSync::mark_ready(std::int64_t begin, std::int64_t end) {
  const auto& buckets = plan_.buckets();
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    const std::int64_t overlap = std::min(end, buckets[b].end) - std::max(begin, buckets[b].begin);
    if (overlap <= 0) continue;
    ready_[b] += overlap;
    if (ready_[b] == buckets[b].size() && !started_[b]) start(b);
  }
  comm_->progress();
}

void GradientSync::start(std::size_t bucket) {
  start_bucket_(flat_slice(grads_, plan_.buckets()[bucket]));
  started_[bucket] = true;
}

void GradientSync::finish() {
  // Same order on every rank: the listener's (backward) order, then the rest from the end.
  for (std::size_t b = plan_.buckets().size(); b-- > 0;)
    if (!started_[b]) start(b);
  const auto t0 = std::chrono::steady_clock::now();
  comm_->wait();
  blocked_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fill(ready_.begin(), ready_.end(), 0);
  std::fill(started_.begin(), started_.end(), false);
}

}  // namespace gpt
