#pragma once
// ZeRO-1, all of it: how the optimizer's work is split over data-parallel ranks. Stage 0 (plain
// data parallelism): gradients are all-reduced and every rank updates the whole flat buffer with
// moments for all of it. Stage 1: each bucket of gradients is reduce-scattered, rank r owns slice
// r of every bucket (BucketPlan::slice) and holds AdamW moments for those slices alone (1/N of
// the memory), the gradient norm is summed over ranks, and the updated parameters and, for a
// checkpoint, the moments are all-gathered. The trainer and its checkpoints call the operations
// below the same way for either stage.
#include <cstdint>
#include <vector>

#include "core/model/gpt.h"
#include "dist/communicator.h"
#include "dist/grad_sync.h"

namespace gpt {

class ZeroSharding {
 public:
  // stage: 0 or 1 (dist.zero_stage). The model's flat buffer must be a multiple of
  // BucketPlan::unit(comm.world_size()).
  ZeroSharding(Communicator& comm, const GPT& model, std::int64_t bucket_elems, std::int64_t stage);
  ZeroSharding(const ZeroSharding&) = delete;
  ZeroSharding& operator=(const ZeroSharding&) = delete;

  bool sharded() const { return sharded_; }
  const BucketPlan& plan() const { return sync_.plan(); }
  // The flat ranges this rank updates and holds moments for: give them to AdamW.
  std::vector<FlatRange> owned_ranges() const;

  // For the backward of a step's last micro-batch (empty on one rank: nothing to overlap).
  GradReadyFn gradient_listener();
  // Completes the step's gradient exchange: afterwards the owned ranges hold gradients summed
  // over ranks (the loss scale already divides by the global batch). Returns the milliseconds
  // spent blocked on it.
  double finish_gradients();
  // Σ g² over the whole buffer from this rank's Σ g² over its owned ranges. Collective when
  // sharded.
  double global_sum_squares(double owned_sum_squares);
  // After the optimizer updated the owned ranges: every rank holds every updated parameter.
  // Returns the milliseconds it took (0 when there is nothing to gather). Collective when sharded.
  double gather_parameters(GPT& model);
  // For a checkpoint: m and v (fp32 host arrays of flat_numel elements) hold this rank's moments
  // in its owned ranges (AdamW::export_moments); afterwards every rank holds the moments of the
  // whole flat buffer. Collective when sharded.
  void gather_moments(const GPT& model, std::vector<float>& m, std::vector<float>& v);

 private:
  Communicator* comm_;
  bool sharded_;
  std::int64_t flat_numel_;
  GradientSync sync_;
};

}  // namespace gpt
