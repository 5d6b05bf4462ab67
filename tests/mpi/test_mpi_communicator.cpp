// MpiCommunicator's collectives on host buffers, with values that differ per rank, so a wrong
// slice, a missed reduction or a mean taken twice shows up.
#include <gtest/gtest.h>

#include <vector>

#include "dist/mpi_communicator.h"

namespace gpt {
namespace {

// Element i of rank r's input.
float value(int r, std::int64_t i) {
  return static_cast<float>(r + 1) * 0.5f + static_cast<float>(i % 7);
}

std::vector<float> inputs(int rank, std::int64_t n) {
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = value(rank, i);
  return x;
}

float sum_over_ranks(int world, std::int64_t i) {
  float s = 0;
  for (int r = 0; r < world; ++r) s += value(r, i);
  return s;
}

class MpiCollectives : public ::testing::Test {
 protected:
  MpiCommunicator comm;
  int W = comm.world_size(), R = comm.rank();
  std::int64_t n = 1024 * W;  // divides into W slices
};

TEST_F(MpiCollectives, AllReduceSumsAndAverages) {
  std::vector<float> sum = inputs(R, n), mean = inputs(R, n);
  comm.all_reduce(Tensor(sum.data(), DType::f32, {n}), ReduceOp::sum);
  comm.all_reduce(Tensor(mean.data(), DType::f32, {n}), ReduceOp::mean);
  comm.wait();
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_FLOAT_EQ(sum[static_cast<std::size_t>(i)], sum_over_ranks(W, i)) << i;
    ASSERT_FLOAT_EQ(mean[static_cast<std::size_t>(i)], sum_over_ranks(W, i) / static_cast<float>(W)) << i;
  }
}

TEST_F(MpiCollectives, ReduceScatterLeavesThisRanksSliceReduced) {
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean}) {
    std::vector<float> x = inputs(R, n);
    comm.reduce_scatter(Tensor(x.data(), DType::f32, {n}), op);
    comm.wait();
    const std::int64_t slice = n / W;
    for (std::int64_t i = R * slice; i < (R + 1) * slice; ++i) {
      const float expected = sum_over_ranks(W, i) / (op == ReduceOp::mean ? static_cast<float>(W) : 1.0f);
      ASSERT_FLOAT_EQ(x[static_cast<std::size_t>(i)], expected) << i;
    }
  }
}

TEST_F(MpiCollectives, AllGatherAndBroadcast) {
  const std::int64_t slice = n / W;
  std::vector<float> x(static_cast<std::size_t>(n), -1.0f);
  for (std::int64_t i = R * slice; i < (R + 1) * slice; ++i) x[static_cast<std::size_t>(i)] = value(R, i);
  std::vector<double> b(5, R == W - 1 ? 3.25 : 0.0);
  comm.all_gather(Tensor(x.data(), DType::f32, {n}));
  comm.broadcast(Tensor(b.data(), DType::f64, {5}), W - 1);
  comm.wait();
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(x[static_cast<std::size_t>(i)], value(static_cast<int>(i / slice), i)) << i;
  for (double v : b) EXPECT_EQ(v, 3.25);
}

TEST_F(MpiCollectives, HostValuesAndRefusals) {
  EXPECT_DOUBLE_EQ(comm.all_reduce_sum(R + 1.0), W * (W + 1) / 2.0);
  const std::vector<std::uint64_t> all = comm.all_gather_u64(100 + static_cast<std::uint64_t>(R));
  ASSERT_EQ(all.size(), static_cast<std::size_t>(W));
  for (int r = 0; r < W; ++r) EXPECT_EQ(all[static_cast<std::size_t>(r)], 100u + static_cast<std::uint64_t>(r));
  std::vector<float> odd(static_cast<std::size_t>(W) + 1);
  EXPECT_THROW(comm.all_gather(Tensor(odd.data(), DType::f32, {W + 1})), std::invalid_argument);
  std::vector<std::uint16_t> half(4);
  EXPECT_THROW(comm.all_reduce(Tensor(half.data(), DType::bf16, {4}), ReduceOp::sum), std::invalid_argument);
  EXPECT_GE(comm.local_size(), 1);
  EXPECT_LT(comm.local_rank(), comm.local_size());
}

}  // namespace
}  // namespace gpt
