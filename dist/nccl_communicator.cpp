// NcclCommunicator: NCCL collectives on a stream of their own, ordered against the compute
// stream with events, and a watchdog thread that turns a failed or stalled collective into a
// prompt exit: under mpirun one rank exiting brings the job down, a rank hanging does not.
#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "dist/bounded_exit.h"

namespace gpt {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// Blocking NCCL calls (initialisation, a collective's launch with its lazy connection setup,
// shutdown) get at least this long: connecting many ranks can take a while even where a short
// collective timeout is right.
constexpr double kMinBlockingSeconds = 60;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

void check_nccl(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  std::string message = std::string("NCCL ") + what + ": " + ncclGetErrorString(r);
  // The error code alone says little ("invalid usage"); NCCL keeps the reason for this thread.
  const char* detail = ncclGetLastError(nullptr);
  if (detail != nullptr && *detail != '\0') message += std::string(" (") + detail + ")";
  throw std::runtime_error(message);
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32:
      return ncclFloat;
    case DType::bf16:
      return ncclBfloat16;
    case DType::f64:
      return ncclDouble;
    case DType::i32:
      return ncclInt32;
  }
  throw std::invalid_argument("NCCL: unsupported element type");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  return op == ReduceOp::mean ? ncclAvg : ncclSum;
}

double seconds_since(Clock::time_point t, Clock::time_point now) {
  return std::chrono::duration<double>(now - t).count();
}

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", s);
  return text;
}

}  // namespace

struct NcclCommunicator::Impl {
  int rank = 0;
  int world = 1;
  int device = 0;
  double timeout_s = 300;           // device work of a collective
  double blocking_timeout_s = 300;  // a blocking NCCL call
  cudaStream_t compute = nullptr;   // the compute stream; not ours to destroy
  cudaStream_t stream = nullptr;    // collectives only, so they overlap with compute
  cudaEvent_t ready = nullptr;      // compute work issued before a collective
  cudaEvent_t done = nullptr;       // recorded after the latest collective
  ncclComm_t comm = nullptr;

  // Shared with the watchdog thread.
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  ncclComm_t watched = nullptr;  // comm once initialised: what to poll and abort
  bool pending = false;          // `done` not yet seen complete
  std::uint64_t issued = 0;      // collectives issued so far
  Clock::time_point issued_at;   // when the latest one was
  const char* phase = nullptr;   // a blocking NCCL call in progress
  Clock::time_point phase_since;
  std::thread watchdog;

  ~Impl() {
    // Unwinding from an error: peers may never join the collectives still queued, so abort
    // rather than wait for them.
    bool clean = std::uncaught_exceptions() == 0;
    if (comm != nullptr && clean) {
      // Both wait on peers, so they run under the watchdog's eye.
      enter_phase("shutdown");
      clean = cudaStreamSynchronize(stream) == cudaSuccess && ncclCommFinalize(comm) == ncclSuccess;
    }
    stop_watchdog();
    if (comm != nullptr) {
      if (clean)
        ncclCommDestroy(comm);
      else
        ncclCommAbort(comm);
    }
    if (done != nullptr) cudaEventDestroy(done);
    if (ready != nullptr) cudaEventDestroy(ready);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  void enter_phase(const char* what) {
    std::lock_guard lock(mutex);
    phase = what;
    phase_since = Clock::now();
  }

  void leave_phase() {
    std::lock_guard lock(mutex);
    phase = nullptr;
  }

  void start_watchdog() {
    watchdog = std::thread([this] { watch(); });
  }

  void stop_watchdog() {
    if (!watchdog.joinable()) return;
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_one();
    watchdog.join();
  }

  // One line for the job's log, then out: mpirun ends the other ranks once this one exits.
  [[noreturn]] void fail(const std::string& what, ncclComm_t c) const {
    std::fprintf(stderr, "error: rank %d: NCCL %s\n", rank, what.c_str());
    std::fflush(stderr);
    // The abort stops our kernels and closes connections so peers see an error, but it may wait
    // on the very work that is stuck: past the limit the process ends regardless.
    bounded_exit(
        [c] {
          if (c != nullptr) ncclCommAbort(c);
        },
        kWatchdogAbortLimit, 1);
  }

  void watch() {
    cudaSetDevice(device);  // a new thread starts on device 0; the events live on ours
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, kPollInterval, [this] { return stopping; })) {
      // Snapshot, then query without the lock: a CUDA or NCCL call may block for a while and the
      // issuing thread must never wait on us.
      const ncclComm_t c = watched;
      const bool was_pending = pending;
      const std::uint64_t count = issued;
      const Clock::time_point at = issued_at;
      const char* blocking = phase;
      const Clock::time_point blocking_since = phase_since;
      lock.unlock();

      const Clock::time_point now = Clock::now();
      if (blocking != nullptr && seconds_since(blocking_since, now) > blocking_timeout_s)
        fail(std::string(blocking) + " did not finish within " + seconds_text(blocking_timeout_s), c);
      if (c != nullptr) {
        ncclResult_t async = ncclSuccess;
        const ncclResult_t r = ncclCommGetAsyncError(c, &async);
        if (r != ncclSuccess) fail(std::string("error query failed: ") + ncclGetErrorString(r), c);
        if (async != ncclSuccess && async != ncclInProgress)
          fail(std::string("asynchronous error: ") + ncclGetErrorString(async), c);
      }
      bool completed = false;
      if (was_pending) {
        // `done` follows the latest collective on our stream, so it completes only when all have.
        const cudaError_t q = cudaEventQuery(done);
        if (q == cudaSuccess) {
          completed = true;
        } else if (q != cudaErrorNotReady) {
          fail(std::string("communication stream failed: ") + cudaGetErrorString(q), c);
        } else if (seconds_since(at, now) > timeout_s) {
          fail("collective still pending after " + seconds_text(timeout_s) +
                   ": a rank failed or stopped calling collectives",
               c);
        }
      }
      lock.lock();
      // A collective issued since the snapshot re-recorded `done`; it stays pending.
      if (completed && issued == count) pending = false;
    }
  }

  // Queues one collective: `call` issues it on `stream`. The call itself may block (NCCL sets
  // up connections lazily), so it runs as a watched phase.
  template <class Call>
  void issue(const char* what, Call&& call) {
    enter_phase("launch of a collective");
    struct Leave {
      Impl& m;
      ~Leave() { m.leave_phase(); }  // also when a check below throws
    } leave{*this};
    // Our stream waits for the compute work issued so far, which produced the buffer.
    check_cuda(cudaEventRecord(ready, compute), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream, ready, 0), "cudaStreamWaitEvent");
    check_nccl(call(), what);
    // Mark it for wait() and the watchdog. Recorded outside the lock: with a full launch queue
    // the record blocks, and the watchdog must keep running meanwhile.
    check_cuda(cudaEventRecord(done, stream), "cudaEventRecord");
    std::lock_guard lock(mutex);
    pending = true;
    ++issued;
    issued_at = Clock::now();
  }

  // Elements per rank's slice: reduce_scatter and all_gather need equal slices.
  std::size_t slice(Tensor buffer, const char* what) const {
    const std::int64_t n = buffer.numel();
    if (n % world != 0)
      throw std::invalid_argument(std::string(what) + ": a buffer of " + std::to_string(n) +
                                  " elements does not split into " + std::to_string(world) + " equal slices");
    return static_cast<std::size_t>(n / world);
  }

  // Rank r's slice, the in-place position NCCL expects for its own part.
  void* own_slice(Tensor buffer, std::size_t count) const {
    return static_cast<char*>(buffer.ptr) + static_cast<std::size_t>(rank) * count * dtype_size(buffer.dtype);
  }
};

NcclCommunicator::NcclCommunicator(Communicator& host, int device, void* compute_stream, double timeout_s)
    : host_(host), impl_(std::make_unique<Impl>()) {
  if (!(timeout_s > 0)) throw std::invalid_argument("NCCL timeout must be positive");
  Impl& m = *impl_;
  m.rank = host.rank();
  m.world = host.world_size();
  m.device = device;
  m.timeout_s = timeout_s;
  m.blocking_timeout_s = std::max(timeout_s, kMinBlockingSeconds);
  m.compute = static_cast<cudaStream_t>(compute_stream);
  check_cuda(cudaSetDevice(m.device), "cudaSetDevice");  // NCCL binds the communicator to the current device

  // Rank 0 makes the id; the host communicator carries it. If rank 0 throws here it exits and
  // mpirun ends the ranks waiting in the broadcast.
  ncclUniqueId id{};
  if (m.rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  host.broadcast_bytes(&id, sizeof id, 0);

  // Non-blocking: the legacy default stream must not serialise collectives with anything.
  check_cuda(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&m.ready, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&m.done, cudaEventDisableTiming), "cudaEventCreateWithFlags");

  // Initialisation waits for every rank: a rank that never arrives must not hang the others.
  m.enter_phase("initialisation");
  m.start_watchdog();
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, m.world, id, m.rank), "ncclCommInitRank");
  m.comm = comm;
  std::lock_guard lock(m.mutex);
  m.watched = comm;
  m.phase = nullptr;
}

NcclCommunicator::~NcclCommunicator() = default;

void NcclCommunicator::all_reduce(Tensor buffer, ReduceOp op) {
  Impl& m = *impl_;
  const auto n = static_cast<std::size_t>(buffer.numel());
  if (n == 0) return;
  m.issue("all_reduce", [&] {
    return ncclAllReduce(buffer.ptr, buffer.ptr, n, nccl_type(buffer.dtype), nccl_op(op), m.comm, m.stream);
  });
}

void NcclCommunicator::reduce_scatter(Tensor buffer, ReduceOp op) {
  Impl& m = *impl_;
  const std::size_t count = m.slice(buffer, "reduce_scatter");
  if (count == 0) return;
  // In place: the result lands in this rank's slice of the input.
  m.issue("reduce_scatter", [&] {
    return ncclReduceScatter(buffer.ptr, m.own_slice(buffer, count), count, nccl_type(buffer.dtype), nccl_op(op),
                             m.comm, m.stream);
  });
}

void NcclCommunicator::all_gather(Tensor buffer) {
  Impl& m = *impl_;
  const std::size_t count = m.slice(buffer, "all_gather");
  if (count == 0) return;
  // In place: this rank's input is its own slice of the output.
  m.issue("all_gather", [&] {
    return ncclAllGather(m.own_slice(buffer, count), buffer.ptr, count, nccl_type(buffer.dtype), m.comm, m.stream);
  });
}

void NcclCommunicator::broadcast(Tensor buffer, int root) {
  Impl& m = *impl_;
  if (root < 0 || root >= m.world)
    throw std::invalid_argument("broadcast: root " + std::to_string(root) + " is not a rank of " +
                                std::to_string(m.world));
  const auto n = static_cast<std::size_t>(buffer.numel());
  if (n == 0) return;
  m.issue("broadcast",
          [&] { return ncclBroadcast(buffer.ptr, buffer.ptr, n, nccl_type(buffer.dtype), root, m.comm, m.stream); });
}

void NcclCommunicator::wait() {
  // `done` follows every collective issued so far (a never-recorded event counts as complete).
  // The compute stream waits for it on the device; the host goes on.
  check_cuda(cudaStreamWaitEvent(impl_->compute, impl_->done, 0), "cudaStreamWaitEvent");
}

}  // namespace gpt
