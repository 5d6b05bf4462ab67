// NcclCommunicator on one GPU (NCCL cannot put two ranks on one device, so a one-GPU machine
// tests one rank): every collective on every element type leaves its random input in place and
// writes nothing outside the buffer; collectives follow earlier compute work and later work
// follows wait(); host-value calls go to the host communicator; and the watchdog ends a process
// whose collective stalls, within a bound even when the stall outlasts NCCL's abort, but stays
// quiet otherwise. Skips, saying why, where no GPU is visible.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/ops/cuda/cuda_backend.h"
#include "dist/nccl_communicator.h"
#include "tests/gpu/require_gpu.h"

namespace gpt::test {
namespace {

std::uint64_t fresh_seed() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Device memory from the backend, released at scope exit.
struct DeviceBuffer {
  CudaBackend& backend;
  void* ptr;
  DeviceBuffer(CudaBackend& b, std::size_t bytes) : backend(b), ptr(b.allocate(bytes)) {}
  ~DeviceBuffer() { backend.release(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Raw bytes of n random, finite elements of type t (bf16: the upper half of a float).
std::vector<unsigned char> random_elements(DType t, std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<std::int32_t> integer(-1000000, 1000000);
  std::vector<unsigned char> bytes(n * dtype_size(t));
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char* at = bytes.data() + i * dtype_size(t);
    if (t == DType::f32) {
      const auto v = static_cast<float>(real(rng));
      std::memcpy(at, &v, sizeof v);
    } else if (t == DType::f64) {
      const double v = real(rng);
      std::memcpy(at, &v, sizeof v);
    } else if (t == DType::i32) {
      const std::int32_t v = integer(rng);
      std::memcpy(at, &v, sizeof v);
    } else {
      const auto v = static_cast<float>(real(rng));
      std::uint32_t bits = 0;
      std::memcpy(&bits, &v, sizeof bits);
      const auto upper = static_cast<std::uint16_t>(bits >> 16);
      std::memcpy(at, &upper, sizeof upper);
    }
  }
  return bytes;
}

// A host communicator that counts what is forwarded to it.
class CountingHost final : public Communicator {
 public:
  int broadcasts = 0;
  std::size_t broadcast_bytes_seen = 0;
  int sums = 0, gathers = 0, barriers = 0;

  std::string name() const override { return "counting"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void all_reduce(Tensor, ReduceOp) override { ADD_FAILURE() << "device collective reached the host"; }
  void reduce_scatter(Tensor, ReduceOp) override { ADD_FAILURE() << "device collective reached the host"; }
  void all_gather(Tensor) override { ADD_FAILURE() << "device collective reached the host"; }
  void broadcast(Tensor, int) override { ADD_FAILURE() << "device collective reached the host"; }
  void wait() override {}
  double all_reduce_sum(double value) override {
    ++sums;
    return value;
  }
  std::vector<std::uint64_t> all_gather_u64(std::uint64_t value) override {
    ++gathers;
    return {value};
  }
  void broadcast_bytes(void*, std::size_t bytes, int root) override {
    ++broadcasts;
    broadcast_bytes_seen += bytes;
    EXPECT_EQ(root, 0);
  }
  void barrier() override { ++barriers; }
};

TEST(NcclCommunicator, HostSideAndArguments) {
  GPT_REQUIRE_GPU("NCCL tests");
  CudaBackend backend(DType::f32);
  CountingHost host;
  EXPECT_THROW(NcclCommunicator(host, backend.device(), backend.stream(), 0.0), std::invalid_argument);
  EXPECT_EQ(host.broadcasts, 0);

  NcclCommunicator comm(host, backend.device(), backend.stream());
  EXPECT_EQ(host.broadcasts, 1) << "rank 0 sends NCCL's unique id once";
  EXPECT_GT(host.broadcast_bytes_seen, 0u);
  EXPECT_EQ(comm.name(), "nccl");
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  EXPECT_EQ(comm.local_rank(), 0);
  EXPECT_EQ(comm.local_size(), 1);

  EXPECT_EQ(comm.all_reduce_sum(2.5), 2.5);
  EXPECT_EQ(comm.all_gather_u64(7), std::vector<std::uint64_t>{7});
  unsigned char byte = 42;
  comm.broadcast_bytes(&byte, 1, 0);
  comm.barrier();
  EXPECT_EQ(host.sums, 1);
  EXPECT_EQ(host.gathers, 1);
  EXPECT_EQ(host.broadcasts, 2);
  EXPECT_EQ(host.barriers, 1);

  DeviceBuffer buf(backend, 64 * sizeof(float));
  const Tensor t(buf.ptr, DType::f32, {64});
  EXPECT_THROW(comm.broadcast(t, 1), std::invalid_argument);
  EXPECT_THROW(comm.broadcast(t, -1), std::invalid_argument);
  comm.wait();  // nothing issued: must still be fine
  backend.synchronize();
}

class NcclCollectives : public ::testing::TestWithParam<DType> {};

// One rank: each collective is the identity on its buffer. The buffer sits between guard bands
// of random data that must come back untouched, so a wrong element size, count or in-place
// offset shows up as changed bytes.
TEST_P(NcclCollectives, InPlaceOnOneRankKeepTheInput) {
  GPT_REQUIRE_GPU("NCCL tests");
  const DType t = GetParam();
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CudaBackend backend(DType::bf16);
  SingleRank host;
  NcclCommunicator comm(host, backend.device(), backend.stream());

  struct Op {
    const char* name;
    std::function<void(Tensor)> run;
  };
  const std::vector<Op> ops = {
      {"all_reduce sum", [&](Tensor b) { comm.all_reduce(b, ReduceOp::sum); }},
      {"all_reduce mean", [&](Tensor b) { comm.all_reduce(b, ReduceOp::mean); }},
      {"reduce_scatter sum", [&](Tensor b) { comm.reduce_scatter(b, ReduceOp::sum); }},
      {"reduce_scatter mean", [&](Tensor b) { comm.reduce_scatter(b, ReduceOp::mean); }},
      {"all_gather", [&](Tensor b) { comm.all_gather(b); }},
      {"broadcast from 0", [&](Tensor b) { comm.broadcast(b, 0); }},
  };
  const std::size_t guard = 64, size = dtype_size(t);
  for (const std::int64_t n : {std::int64_t{4099}, std::int64_t{1}}) {  // odd, and a single element
    const std::size_t total = static_cast<std::size_t>(n) + 2 * guard;
    DeviceBuffer buf(backend, total * size);
    const Tensor body(static_cast<char*>(buf.ptr) + guard * size, t, {n});
    for (const Op& op : ops) {
      SCOPED_TRACE(std::string(op.name) + " on " + std::to_string(n) + " " + dtype_name(t));
      const std::vector<unsigned char> before = random_elements(t, total, rng);
      backend.upload_bytes(buf.ptr, before.data(), before.size());
      op.run(body);
      comm.wait();
      backend.synchronize();
      std::vector<unsigned char> after(before.size());
      backend.download_bytes(after.data(), buf.ptr, after.size());
      std::size_t first = total;
      for (std::size_t i = 0; i < total && first == total; ++i)
        if (std::memcmp(before.data() + i * size, after.data() + i * size, size) != 0) first = i;
      EXPECT_EQ(first, total) << "element " << first << " of " << total << " changed (the buffer starts at " << guard
                              << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, NcclCollectives, ::testing::Values(DType::f32, DType::bf16, DType::f64, DType::i32),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// The buffer is written by compute work still queued when the collective starts, and read by
// compute work issued after wait(): both orders hold without a host synchronisation between.
TEST(NcclCommunicator, OrderedWithTheComputeStream) {
  GPT_REQUIRE_GPU("NCCL tests");
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  CudaBackend backend(DType::f32);
  SingleRank host;
  NcclCommunicator comm(host, backend.device(), backend.stream());

  const std::int64_t n = 1 << 20;  // large enough that the kernels take a while
  std::vector<float> x(static_cast<std::size_t>(n));
  for (float& v : x) v = real(rng);
  DeviceBuffer src(backend, x.size() * sizeof(float)), buf(backend, x.size() * sizeof(float)),
      out(backend, x.size() * sizeof(float));
  const Tensor ts(src.ptr, DType::f32, {n}), tb(buf.ptr, DType::f32, {n}), to(out.ptr, DType::f32, {n});
  backend.upload(ts, x.data());
  for (int round = 0; round < 3; ++round) {
    backend.zero(tb);
    backend.add(tb, ts, ts);  // 2x, queued
    comm.all_reduce(tb, ReduceOp::mean);
    comm.reduce_scatter(tb, ReduceOp::sum);
    comm.all_gather(tb);
    comm.wait();
    backend.add(to, tb, ts);  // 3x, queued after the collectives
    std::vector<float> got(x.size());
    backend.download(to, got.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (got[i] != (x[i] + x[i]) + x[i]) ++bad;
    EXPECT_EQ(bad, 0u) << "round " << round;
  }
}

// Holds the backend's stream on the host for a while, so a collective ordered after it stays
// pending.
void stall_stream(CudaBackend& backend, int milliseconds) {
  static int stall_ms;
  stall_ms = milliseconds;
  const cudaError_t e = cudaLaunchHostFunc(
      static_cast<cudaStream_t>(backend.stream()),
      [](void*) { std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms)); }, nullptr);
  if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
}

// In a fresh process (re-executed, not forked: CUDA does not survive fork).
TEST(NcclCommunicatorDeathTest, StalledCollectiveEndsTheProcess) {
  GPT_REQUIRE_GPU("NCCL tests");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        CudaBackend backend(DType::f32);
        SingleRank host;
        NcclCommunicator comm(host, backend.device(), backend.stream(), 0.5);
        DeviceBuffer buf(backend, 256 * sizeof(float));
        stall_stream(backend, 4000);
        comm.all_reduce(Tensor(buf.ptr, DType::f32, {256}), ReduceOp::sum);
        std::this_thread::sleep_for(std::chrono::seconds(20));
        std::fprintf(stderr, "the watchdog did not fire\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(1), "error: rank 0: NCCL collective still pending after 0.5 s");
}

// The watchdog's way out is bounded too: the collective is stuck behind a host function that
// outlasts the timeout, the abort limit and the margin together, yet the process ends within
// timeout + abort limit (+ the child's CUDA and NCCL start-up), whatever ncclCommAbort does.
TEST(NcclCommunicatorDeathTest, StuckCollectiveEndsTheProcessWithinTheBound) {
  GPT_REQUIRE_GPU("NCCL tests");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  constexpr double timeout_s = 0.5;
  constexpr double startup_margin_s = 20;  // a fresh process initialising CUDA and NCCL
  constexpr int stall_ms = 60000;
  const double bound_s =
      timeout_s + std::chrono::duration<double>(NcclCommunicator::kWatchdogAbortLimit).count() + startup_margin_s;
  ASSERT_GT(stall_ms / 1000.0, 2 * bound_s) << "the stall must outlast the bound, or the test proves nothing";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EXIT(
      {
        CudaBackend backend(DType::f32);
        SingleRank host;
        NcclCommunicator comm(host, backend.device(), backend.stream(), timeout_s);
        DeviceBuffer buf(backend, 256 * sizeof(float));
        stall_stream(backend, stall_ms);
        comm.all_reduce(Tensor(buf.ptr, DType::f32, {256}), ReduceOp::sum);
        std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms + 10000));
        std::fprintf(stderr, "the watchdog did not fire\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(1), "error: rank 0: NCCL collective still pending after 0.5 s");
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed_s, bound_s) << "the watchdog's exit waited on the stuck work";
}

// A collective that is slow but within the timeout, and idle time longer than the timeout, must
// not trip the watchdog.
TEST(NcclCommunicatorDeathTest, WatchdogQuietWhenCollectivesFinish) {
  GPT_REQUIRE_GPU("NCCL tests");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        CudaBackend backend(DType::f32);
        SingleRank host;
        {
          NcclCommunicator comm(host, backend.device(), backend.stream(), 1.5);
          DeviceBuffer buf(backend, 256 * sizeof(float));
          const Tensor t(buf.ptr, DType::f32, {256});
          stall_stream(backend, 300);
          comm.all_reduce(t, ReduceOp::sum);
          comm.wait();
          backend.synchronize();
          std::this_thread::sleep_for(std::chrono::milliseconds(2000));
          comm.broadcast(t, 0);
          comm.wait();
          backend.synchronize();
        }
        std::fprintf(stderr, "finished quietly\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "finished quietly");
}

}  // namespace
}  // namespace gpt::test
