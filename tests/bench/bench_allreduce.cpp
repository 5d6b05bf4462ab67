// The gradient all-reduce as training does it (MpiCommunicator, mean, in place, one buffer the
// size of the model's flat gradient), timed under whatever mpirun gives it: ranks on one host, or
// on several (tests/multinode/bench_allreduce.sh runs it across network namespaces).
//
//   mpirun -np N bench_allreduce [--reps R] CONFIG.toml...
//
// Rank 0 prints, per config: the buffer's size, the median time of R all-reduces, the algorithm
// bandwidth (bytes / time) and the bus bandwidth (bytes x 2(N-1)/N / time: what each rank's link
// carries in a ring all-reduce, the figure nccl-tests report and a network's line rate bounds).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/model/param_table.h"
#include "dist/mpi_communicator.h"
#include "dist/mpi_runtime.h"
#include "train/run_config.h"

int main(int argc, char** argv) {
  gpt::MpiRuntime mpi(&argc, &argv);
  gpt::MpiCommunicator comm;
  CLI::App app{"Times the gradient all-reduce of each config's model over the ranks mpirun started."};
  int reps = 10;
  std::vector<std::string> configs;
  app.add_option("--reps", reps, "timed all-reduces per buffer (median reported)")->check(CLI::PositiveNumber);
  app.add_option("configs", configs, "run configs whose model sizes the buffers")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (comm.rank() == 0) app.exit(e);
    return 2;
  }
  const int world = comm.world_size();
  if (comm.rank() == 0) {
    std::printf("%d ranks on:", world);
    for (const std::string& host : comm.hosts()) std::printf(" %s", host.c_str());
    std::printf("\n%-28s %12s %10s %12s %12s\n", "config", "buffer MB", "median ms", "algbw GB/s", "busbw GB/s");
  }
  for (const std::string& path : configs) {
    const gpt::RunConfig config = gpt::load_run_config(path, {});
    const std::int64_t numel = gpt::ParamTable(config.model).buffer_numel();
    std::vector<float> buffer(static_cast<std::size_t>(numel), 1.0f);
    const gpt::Tensor tensor(buffer.data(), gpt::DType::f32, {numel});
    std::vector<double> ms;
    for (int r = -1; r < reps; ++r) {  // one untimed: connections and pages warm up
      comm.barrier();
      const auto start = std::chrono::steady_clock::now();
      comm.all_reduce(tensor, gpt::ReduceOp::mean);
      comm.wait();
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (r >= 0) ms.push_back(comm.all_reduce_sum(t) / world);  // the ranks' mean
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    const double median = ms[ms.size() / 2], bytes = static_cast<double>(numel) * sizeof(float);
    const double algbw = bytes / (median / 1e3) / 1e9, busbw = algbw * 2.0 * (world - 1) / world;
    if (comm.rank() == 0)
      std::printf("%-28s %12.1f %10.1f %12.3f %12.3f\n", path.substr(path.find_last_of('/') + 1).c_str(), bytes / 1e6,
                  median, algbw, busbw);
  }
  return 0;
}
