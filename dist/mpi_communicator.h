#pragma once
// CPU ranks: collectives on host buffers through MPI's nonblocking calls, so gradient buckets
// can travel while the backward computes the next layers. Needs an MpiRuntime alive.
//
// MPI itself never gives up on a peer that went silent (a node lost, its link cut): a rank waits
// in the collective for ever. watch() starts a watchdog that ends the job instead, naming where
// the other ranks run.
#include <memory>
#include <string>
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

  // From now on, a rank blocked in an MPI call for longer than `timeout_s` prints one error line
  // (this rank and host, what it waited in, the hosts of the ranks it waits for) and ends the job
  // with exit code 1 (MPI_Abort, then _Exit if that does not return within 10 s). Call once.
  void watch(double timeout_s);
  // The host (MPI processor name) each rank runs on, by rank.
  const std::vector<std::string>& hosts() const { return hosts_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_size_ = 1;
  std::vector<std::string> hosts_;
};

}  // namespace gpt
