#pragma once
// CPU ranks: collectives on host buffers through MPI's nonblocking calls, so gradient buckets
// can travel while the backward computes the next layers. Needs an MpiRuntime alive.
#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace gpt {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();  // a private duplicate of MPI_COMM_WORLD
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void all_reduce(Tensor buffer, ReduceOp op) override;
  void reduce_scatter(Tensor buffer, ReduceOp op) override;
  void all_gather(Tensor buffer) override;
  void broadcast(Tensor buffer, int root) override;
  void progress() override;
  void wait() override;

  double all_reduce_sum(double value) override;
  std::vector<std::uint64_t> all_gather_u64(std::uint64_t value) override;
  void broadcast_bytes(void* data, std::size_t bytes, int root) override;
  void barrier() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace gpt
