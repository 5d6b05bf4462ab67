#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "dist/bounded_exit.h"

namespace gpt {
namespace {

MPI_Datatype mpi_type(DType dtype, bool reducing) {
  switch (dtype) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::i32:
      return MPI_INT;
    case DType::bf16:
      // MPI has no bf16 arithmetic; moving the bits is fine.
      if (!reducing) return MPI_UINT16_T;
      break;
  }
  throw std::invalid_argument(std::string("MPI cannot reduce ") + dtype_name(dtype) + " buffers");
}

int mpi_count(std::int64_t n) {
  if (n > INT_MAX) throw std::invalid_argument("MPI collective of " + std::to_string(n) + " elements (limit INT_MAX)");
  return static_cast<int>(n);
}

void check(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw std::runtime_error(std::string(what) + ": " + std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
void scale(T* x, std::int64_t n, double factor) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(x[i] * factor);
}

// Divides a reduced range by the world size (ReduceOp::mean: MPI has only sums).
void scale_range(Tensor t, std::int64_t begin, std::int64_t count, int world) {
  const double f = 1.0 / world;
  switch (t.dtype) {
    case DType::f32:
      return scale(t.data<float>() + begin, count, f);
    case DType::f64:
      return scale(t.data<double>() + begin, count, f);
    default:
      throw std::invalid_argument("mean over ranks of a non-float buffer");
  }
}

std::int64_t slice_of(Tensor t, int world) {
  if (t.numel() % world != 0)
    throw std::invalid_argument("buffer of " + std::to_string(t.numel()) + " elements does not split into " +
                                std::to_string(world) + " equal slices");
  return t.numel() / world;
}

}  // namespace

using Clock = std::chrono::steady_clock;

struct MpiCommunicator::State {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<MPI_Request> requests;
  std::vector<std::function<void()>> after_wait;  // finishing touches, in issue order

  // The watchdog's view of the main thread: since when (steady-clock ticks; 0: not) it has been
  // blocked in which MPI call.
  std::atomic<Clock::rep> blocked_since{0};
  std::atomic<const char*> blocked_in{""};
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mutex
  std::thread watchdog;

  ~State() {
    if (!watchdog.joinable()) return;
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    watchdog.join();
  }
};

namespace {

// Marks the calling (main) thread as blocked in `what` while it lives, for the watchdog.
class Blocked {
 public:
  template <class State>
  Blocked(State& state, const char* what) : since_(state.blocked_since) {
    state.blocked_in.store(what);
    since_.store(Clock::now().time_since_epoch().count());
  }
  ~Blocked() { since_.store(0); }
  Blocked(const Blocked&) = delete;
  Blocked& operator=(const Blocked&) = delete;

 private:
  std::atomic<Clock::rep>& since_;
};

// "1 on node2, 2 on node3": the ranks other than `self` and where they run.
std::string other_ranks(const std::vector<std::string>& hosts, int self) {
  std::string out;
  int listed = 0;
  for (int r = 0; r < static_cast<int>(hosts.size()); ++r) {
    if (r == self) continue;
    if (listed == 16) {
      out += ", ...";
      break;
    }
    out += (listed++ ? ", " : "") + std::to_string(r) + " on " + hosts[static_cast<std::size_t>(r)];
  }
  return out;
}

}  // namespace

MpiCommunicator::MpiCommunicator() : state_(std::make_unique<State>()) {
  check(MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm), "MPI_Comm_dup");
  MPI_Comm_rank(state_->comm, &rank_);
  MPI_Comm_size(state_->comm, &world_);
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(state_->comm, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  std::vector<char> names(static_cast<std::size_t>(world_) * MPI_MAX_PROCESSOR_NAME);
  check(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                      state_->comm),
        "MPI_Allgather");
  for (int r = 0; r < world_; ++r) {
    const char* at = names.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    hosts_.emplace_back(at, strnlen(at, MPI_MAX_PROCESSOR_NAME));
  }
}

void MpiCommunicator::watch(double timeout_s) {
  if (!(timeout_s > 0)) throw std::invalid_argument("MPI timeout must be positive");
  if (state_->watchdog.joinable()) throw std::logic_error("MpiCommunicator::watch called twice");
  const auto limit = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  const std::string who = "rank " + std::to_string(rank_) + " on " + hosts_[static_cast<std::size_t>(rank_)];
  const std::string others = other_ranks(hosts_, rank_);
  state_->watchdog = std::thread([state = state_.get(), limit, timeout_s, who, others] {
    std::unique_lock lock(state->mutex);
    while (!state->wake.wait_for(lock, std::chrono::milliseconds(250), [state] { return state->stopping; })) {
      const Clock::rep since = state->blocked_since.load();
      if (since == 0 || Clock::now() - Clock::time_point(Clock::duration(since)) < limit) continue;
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
      const std::string line = "error: " + who + ": " + state->blocked_in.load() + " has waited " + seconds +
                               " s (dist.timeout_s) for the other ranks (" + others +
                               "): one of them, its node, or the network to it is lost or stalled; ending the "
                               "job (resume it with --checkpoint.resume=auto)\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
      // The main thread is inside MPI; MPI_Abort from here is outside MPI_THREAD_FUNNELED's
      // promise, hence the time limit on it.
      bounded_exit([] { MPI_Abort(MPI_COMM_WORLD, 1); }, std::chrono::seconds(10), 1);
    }
  });
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (!state_->requests.empty())
    MPI_Waitall(static_cast<int>(state_->requests.size()), state_->requests.data(), MPI_STATUSES_IGNORE);
  MPI_Comm_free(&state_->comm);
}

void MpiCommunicator::all_reduce(Tensor buffer, ReduceOp op) {
  MPI_Request request;
  check(MPI_Iallreduce(MPI_IN_PLACE, buffer.ptr, mpi_count(buffer.numel()), mpi_type(buffer.dtype, true), MPI_SUM,
                       state_->comm, &request),
        "MPI_Iallreduce");
  state_->requests.push_back(request);
  if (op == ReduceOp::mean)
    state_->after_wait.push_back([buffer, world = world_] { scale_range(buffer, 0, buffer.numel(), world); });
}

void MpiCommunicator::reduce_scatter(Tensor buffer, ReduceOp op) {
  // OpenMPI's nonblocking reduce-scatter (libnbc) reduces everything on rank 0 and scatters:
  // rank 0 did all the arithmetic, 130-160 ms of a 250 ms tiny-config step on 2 ranks. A
  // nonblocking all-reduce moves twice the data but shares the work, and leaves this rank's
  // slice reduced, which is all reduce_scatter promises.
  slice_of(buffer, world_);
  all_reduce(buffer, op);
}

void MpiCommunicator::all_gather(Tensor buffer) {
  const std::int64_t slice = slice_of(buffer, world_);
  MPI_Request request;
  check(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer.ptr, mpi_count(slice), mpi_type(buffer.dtype, false),
                       state_->comm, &request),
        "MPI_Iallgather");
  state_->requests.push_back(request);
}

void MpiCommunicator::broadcast(Tensor buffer, int root) {
  MPI_Request request;
  check(MPI_Ibcast(buffer.ptr, mpi_count(buffer.numel()), mpi_type(buffer.dtype, false), root, state_->comm, &request),
        "MPI_Ibcast");
  state_->requests.push_back(request);
}

void MpiCommunicator::progress() {
  if (state_->requests.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(state_->requests.size()), state_->requests.data(), &done, MPI_STATUSES_IGNORE),
        "MPI_Testall");
}

void MpiCommunicator::wait() {
  const Blocked blocked(*state_, "a collective (MPI_Waitall)");
  if (!state_->requests.empty())
    check(MPI_Waitall(static_cast<int>(state_->requests.size()), state_->requests.data(), MPI_STATUSES_IGNORE),
          "MPI_Waitall");
  state_->requests.clear();
  for (const auto& finish : state_->after_wait) finish();
  state_->after_wait.clear();
}

double MpiCommunicator::all_reduce_sum(double value) {
  double total = 0;
  const Blocked blocked(*state_, "MPI_Allreduce");
  check(MPI_Allreduce(&value, &total, 1, MPI_DOUBLE, MPI_SUM, state_->comm), "MPI_Allreduce");
  return total;
}

std::vector<std::uint64_t> MpiCommunicator::all_gather_u64(std::uint64_t value) {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world_));
  const Blocked blocked(*state_, "MPI_Allgather");
  check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, state_->comm), "MPI_Allgather");
  return all;
}

void MpiCommunicator::broadcast_bytes(void* data, std::size_t bytes, int root) {
  const Blocked blocked(*state_, "MPI_Bcast");
  check(MPI_Bcast(data, mpi_count(static_cast<std::int64_t>(bytes)), MPI_BYTE, root, state_->comm), "MPI_Bcast");
}

void MpiCommunicator::barrier() {
  const Blocked blocked(*state_, "MPI_Barrier");
  check(MPI_Barrier(state_->comm), "MPI_Barrier");
}

}  // namespace gpt
