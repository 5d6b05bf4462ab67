#pragma once
// How ranks talk. The trainer sees only this interface. Implementations: SingleRank (one
// process), MpiCommunicator (CPU ranks, host buffers) and NcclCommunicator (device buffers).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gpt {

enum class ReduceOp { sum, mean };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Rank among the ranks on this node (picks the GPU) and how many share the node.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;

  // Collectives on backend buffers (host memory for CPU ranks, device memory for NCCL), all in
  // place. They start in the order called, which must be the same on every rank, and have
  // completed once wait() returns; until then nobody may touch the buffer. reduce_scatter and
  // all_gather split the buffer into world_size equal slices, rank r owning slice r: its length
  // must divide by world_size.
  virtual void all_reduce(Tensor buffer, ReduceOp op) = 0;
  // Afterwards slice rank() holds the reduction of that slice over ranks; other slices are
  // unspecified.
  virtual void reduce_scatter(Tensor buffer, ReduceOp op) = 0;
  // Slice r of rank r is the input; afterwards every rank holds every slice.
  virtual void all_gather(Tensor buffer) = 0;
  virtual void broadcast(Tensor buffer, int root) = 0;
  // Lets started collectives progress while the caller computes (MPI moves data only inside
  // MPI calls); cheap, never blocks.
  virtual void progress() {}
  // Every started collective has completed, and backend work issued afterwards sees the results.
  virtual void wait() = 0;

  // Host values; these block until every rank has called them.
  virtual double all_reduce_sum(double value) = 0;
  virtual std::vector<std::uint64_t> all_gather_u64(std::uint64_t value) = 0;
  virtual void broadcast_bytes(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

class SingleRank final : public Communicator {
 public:
  std::string name() const override { return "single"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void all_reduce(Tensor, ReduceOp) override {}
  void reduce_scatter(Tensor, ReduceOp) override {}
  void all_gather(Tensor) override {}
  void broadcast(Tensor, int) override {}
  void wait() override {}
  double all_reduce_sum(double value) override { return value; }
  std::vector<std::uint64_t> all_gather_u64(std::uint64_t value) override { return {value}; }
  void broadcast_bytes(void*, std::size_t, int) override {}
  void barrier() override {}
};

}  // namespace gpt
