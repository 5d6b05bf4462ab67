#include "dist/zero.h"

#include <chrono>
#include <stdexcept>
#include <string>

namespace gpt {

namespace {

bool sharded_stage(std::int64_t stage) {
  if (stage != 0 && stage != 1) throw std::invalid_argument("ZeRO stage " + std::to_string(stage) + ": 0 or 1");
  return stage == 1;
}

// Each bucket's collective: sharded, rank r ends up with slice r summed (what it owns); else every
// rank with all of it. Captures no ZeroSharding, so it does not depend on where the object lives.
GradientSync::StartFn bucket_collective(Communicator& comm, bool sharded) {
  Communicator* c = &comm;
  if (sharded) return [c](const Tensor& bucket) { c->reduce_scatter(bucket, ReduceOp::sum); };
  return [c](const Tensor& bucket) { c->all_reduce(bucket, ReduceOp::sum); };
}

// Rank r holds slice r of every bucket of `flat`; afterwards every rank holds all of it.
void all_gather_buckets(Communicator& comm, const BucketPlan& plan, const Tensor& flat) {
  for (const FlatRange& b : plan.buckets()) comm.all_gather(flat_slice(flat, b));
  comm.wait();
}

}  // namespace

ZeroSharding::ZeroSharding(Communicator& comm, const GPT& model, std::int64_t bucket_elems, std::int64_t stage)
    : comm_(&comm),
      sharded_(sharded_stage(stage)),
      flat_numel_(model.flat_numel()),
      sync_(comm, model, bucket_elems, bucket_collective(comm, sharded_)) {}

std::vector<FlatRange> ZeroSharding::owned_ranges() const {
  if (!sharded_) return {{0, flat_numel_}};
  std::vector<FlatRange> owned;
  for (std::size_t b = 0; b < plan().buckets().size(); ++b) owned.push_back(plan().slice(b, comm_->rank()));
  return owned;
}

GradReadyFn ZeroSharding::gradient_listener() {
  return comm_->world_size() > 1 ? sync_.listener() : GradReadyFn();
}

double ZeroSharding::finish_gradients() {
  sync_.finish();
  return sync_.blocked_ms();
}

double ZeroSharding::global_sum_squares(double owned_sum_squares) {
  return sharded_ ? comm_->all_reduce_sum(owned_sum_squares) : owned_sum_squares;
}

double ZeroSharding::gather_parameters(GPT& model) {
  if (!sharded_ || comm_->world_size() == 1) return 0;
  const auto start = std::chrono::steady_clock::now();
  all_gather_buckets(*comm_, plan(), model.params());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void ZeroSharding::gather_moments(const GPT& model, std::vector<float>& m, std::vector<float>& v) {
  const std::size_t n = static_cast<std::size_t>(flat_numel_);
  if (m.size() != n || v.size() != n) throw std::logic_error("gather_moments: m and v must hold the flat buffer");
  if (!sharded_ || comm_->world_size() == 1) return;
  // The collectives run on backend buffers (device memory under NCCL): up, gather, down.
  Backend& be = model.backend();
  for (std::vector<float>* moments : {&m, &v}) {
    Buffer full(be, n * dtype_size(be.param_dtype()));
    const Tensor t(full.get(), be.param_dtype(), {flat_numel_});
    be.upload(t, moments->data());
    all_gather_buckets(*comm_, plan(), t);
    be.download(t, moments->data());
  }
}

}  // namespace gpt
