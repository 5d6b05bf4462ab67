#pragma once
// Collectives on device buffers with NCCL, one GPU per rank. A host communicator (MPI, or
// SingleRank for one process) supplies rank and world, carries NCCL's unique id from rank 0 to
// the others, and serves the host-value operations. This header needs no CUDA or NCCL headers.
#include <chrono>
#include <memory>

#include "dist/communicator.h"

namespace gpt {

class NcclCommunicator final : public Communicator {
 public:
  // Collective: every rank constructs one, in the same order relative to host collectives.
  // `device`: this rank's GPU; `compute_stream`: the cudaStream_t (as void*) its compute work is
  // issued on, e.g. CudaBackend's device() and stream(). Collectives run on a stream of their
  // own, ordered after the work already issued on compute_stream, and wait() orders that stream
  // after them. `host` and the stream must outlive this object.
  // A collective whose device work is pending longer than timeout_s, a blocking NCCL call
  // (initialisation, a launch, shutdown) taking longer than max(timeout_s, 60 s), or an
  // asynchronous NCCL error prints `error: rank R: NCCL ...` and ends the process with exit
  // code 1, so that mpirun brings the other ranks down instead of letting them hang: after
  // ncclCommAbort, or kWatchdogAbortLimit into it if the abort blocks. Errors returned by NCCL
  // or CUDA calls throw std::runtime_error; bad arguments std::invalid_argument.
  NcclCommunicator(Communicator& host, int device, void* compute_stream, double timeout_s = 300);
  ~NcclCommunicator() override;
  static constexpr std::chrono::seconds kWatchdogAbortLimit{5};
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  std::string name() const override { return "nccl"; }
  int rank() const override { return host_.rank(); }
  int world_size() const override { return host_.world_size(); }
  int local_rank() const override { return host_.local_rank(); }
  int local_size() const override { return host_.local_size(); }

  // f32, bf16, f64 and i32 device buffers. These return once the work is queued; wait() orders
  // the compute stream after it without blocking the host.
  void all_reduce(Tensor buffer, ReduceOp op) override;
  void reduce_scatter(Tensor buffer, ReduceOp op) override;
  void all_gather(Tensor buffer) override;
  void broadcast(Tensor buffer, int root) override;
  void wait() override;

  double all_reduce_sum(double value) override { return host_.all_reduce_sum(value); }
  std::vector<std::uint64_t> all_gather_u64(std::uint64_t value) override { return host_.all_gather_u64(value); }
  void broadcast_bytes(void* data, std::size_t bytes, int root) override { host_.broadcast_bytes(data, bytes, root); }
  void barrier() override { host_.barrier(); }

 private:
  struct Impl;
  Communicator& host_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpt
