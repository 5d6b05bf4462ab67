#pragma once
// How ranks talk. The trainer only sees this interface; the MPI and NCCL implementations come
// with the distributed-training work. SingleRank is the one-process case.
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace gpt {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In-place average of a (backend) buffer across ranks.
  virtual void all_reduce_mean(Tensor buffer) = 0;
  // Sum of a host scalar across ranks (losses, squared norms).
  virtual double all_reduce_sum(double value) = 0;
  virtual void barrier() = 0;
};

class SingleRank final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_mean(Tensor) override {}
  double all_reduce_sum(double value) override { return value; }
  void barrier() override {}
};

}  // namespace gpt
