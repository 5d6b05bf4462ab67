#pragma once
// Runs code written against the SIMT primitives of core/ops/cuda/flash_attention.h on the host,
// so CI (no GPU) tests the tensor-core attention's tiling, masking and fragment bookkeeping.
// Every CUDA thread of a block is a fiber (its own stack, switched in user space: a few
// instructions on x86-64, ucontext elsewhere) scheduled on this thread:
// __syncthreads is a barrier among the block's fibers, a shuffle or mma a barrier among a warp's
// 32, where each lane posts its registers and then reads what it needs. mma.m16n8k16 is computed
// from the PTX ISA's fragment layouts (the same table the kernels' header quotes). Memory moves
// check their alignment, and the 16-byte ones that they stay inside shared memory or a buffer
// the test declared, as the device would fault otherwise. Slow (thousands of context switches a
// block), exact enough for bf16 tolerances, and deterministic.
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gpt::test {

class SimtEmulator {
  struct Warp;
  struct Slots;

 public:
  class Thread;
  using Body = std::function<void(Thread&)>;

  // The order fibers run in. round_robin moves every thread one step at a time, so warps stay
  // within a collective of each other; lowest_first runs the lowest-numbered thread that can run,
  // so warp 0 gets as far ahead as barriers allow and a tile another warp still reads is refilled
  // early; highest_first lets the last warp run ahead instead. A missing __syncthreads shows up
  // under one order or another.
  enum class Schedule { round_robin, lowest_first, highest_first };

  SimtEmulator(int threads_per_block, std::size_t shared_bytes, Schedule schedule = Schedule::round_robin)
      : threads_(threads_per_block),
        schedule_(schedule),
        shared_(shared_bytes),
        warps_(static_cast<std::size_t>(threads_per_block / 32)) {
    if (threads_per_block % 32 != 0) throw std::invalid_argument("threads per block must be whole warps");
  }

  // The thread whose fiber is running (for code that reaches the emulator through globals, as
  // the CUDA dialect's threadIdx does in tests/emulated).
  Thread& running() { return threads_state_[static_cast<std::size_t>(current_)]; }

  // Declares [ptr, ptr+bytes) as device memory the kernel may move 16 bytes at a time.
  void allow(const void* ptr, std::size_t bytes) { allowed_.emplace_back(static_cast<const char*>(ptr), bytes); }

  // Runs `body` on every thread of a grid_x × grid_y grid, one block after another. Shared
  // memory is filled with a NaN pattern before each block, so reading what no thread wrote shows.
  void run(int grid_x, int grid_y, const Body& body);

  class Thread {
   public:
    int thread() const { return tid_; }
    int block_x() const { return em_->block_x_; }
    int block_y() const { return em_->block_y_; }
    char* shared() const { return em_->shared_.data(); }
    void sync() { em_->wait(em_->block_barrier_); }
    // __shfl_xor_sync over the whole warp, for any value of up to 8 bytes.
    template <class V>
    V shfl_xor(V v, int mask) {
      static_assert(sizeof(V) <= 8);
      Warp& w = warp();
      Slots& slots = w.slots[collectives_++ & 1];
      std::memcpy(&slots.f[lane()], &v, sizeof v);
      em_->wait(w.barrier);
      V r;
      std::memcpy(&r, &slots.f[lane() ^ mask], sizeof r);
      return r;
    }
    int grid_x() const { return em_->grid_x_; }
    int grid_y() const { return em_->grid_y_; }
    int block_threads() const { return em_->threads_; }
    // d += A·B for mma.m16n8k16.row.col.f32.bf16.bf16.f32.
    void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
      Warp& w = warp();
      Slots& slots = w.slots[collectives_++ & 1];
      std::memcpy(slots.a[lane()], a, sizeof a);
      std::memcpy(slots.b[lane()], b, sizeof b);
      em_->wait(w.barrier);
      const int g = lane() / 4, q = lane() % 4;
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), col = 2 * q + (i & 1);
        for (int k = 0; k < 16; ++k) d[i] += slots.a_at(row, k) * slots.b_at(k, col);
      }
    }
    std::uint32_t load_u32(const std::uint16_t* p) {
      em_->check(p, 4);
      std::uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    void store_u32(std::uint16_t* p, std::uint32_t v) {
      em_->check(p, 4);
      std::memcpy(p, &v, 4);
    }
    void copy16(std::uint16_t* dst, const std::uint16_t* src) {
      em_->check(dst, 16);
      em_->check(src, 16);
      std::memcpy(dst, src, 16);
    }
    void zero16(std::uint16_t* dst) {
      em_->check(dst, 16);
      std::memset(dst, 0, 16);
    }
    // cp.async: on the device the copy lands at some moment between issue and the wait. Here the
    // destination turns to NaNs at issue and gets the data when this thread's wait retires the
    // group, so a tile read before the wait, or without the sync after it, or still being read
    // by another warp when the next copy into it starts (a missing sync before reuse) gives NaNs.
    void cp_async16(std::uint16_t* dst, const std::uint16_t* src) {
      em_->check(dst, 16);
      em_->check(src, 16);
      PendingCopy copy{dst, {}};
      std::memcpy(copy.bytes, src, 16);
      for (int i = 0; i < 8; ++i) dst[i] = 0x7fc0;  // bf16 NaN
      em_->async_[static_cast<std::size_t>(tid_)].open.push_back(copy);
    }
    void cp_async_commit() {
      auto& a = em_->async_[static_cast<std::size_t>(tid_)];
      a.committed.push_back(std::move(a.open));
      a.open.clear();
    }
    void cp_async_wait_one() {
      auto& a = em_->async_[static_cast<std::size_t>(tid_)];
      while (a.committed.size() > 1) {
        for (const PendingCopy& c : a.committed.front()) std::memcpy(c.dst, c.bytes, 16);
        a.committed.erase(a.committed.begin());
      }
    }
    // Two floats to bf16 (round to nearest even), `lo` in the low half, as __floats2bfloat162_rn.
    static std::uint32_t pack_bf16(float lo, float hi) { return bf16_bits(lo) | bf16_bits(hi) << 16; }
    static std::uint32_t bf16_bits(float f) {
      std::uint32_t u;
      std::memcpy(&u, &f, 4);
      if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;  // NaN stays NaN
      return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    }

   private:
    friend class SimtEmulator;
    int lane() const { return tid_ % 32; }
    Warp& warp() { return em_->warps_[static_cast<std::size_t>(tid_ / 32)]; }
    SimtEmulator* em_ = nullptr;
    int tid_ = 0;
    unsigned collectives_ = 0;  // warp collectives so far: picks the slot set
  };

 private:
  struct PendingCopy {
    std::uint16_t* dst;
    unsigned char bytes[16];
  };
  struct AsyncCopies {
    std::vector<PendingCopy> open;                    // issued, not yet committed
    std::vector<std::vector<PendingCopy>> committed;  // groups, oldest first
  };
  struct Barrier {
    int count = 0, arrived = 0;
    unsigned generation = 0;
  };
  struct Fiber {
    void* context = nullptr;  // the saved stack pointer (or ucontext_t*) while switched out
    std::unique_ptr<char[]> stack;
    bool done = false;
    const Barrier* waiting = nullptr;  // blocked until this barrier's generation moves on
    unsigned waiting_generation = 0;
    void* asan_fake_stack = nullptr;  // AddressSanitizer's record of this stack while switched out
    bool runnable() const { return !done && (waiting == nullptr || waiting->generation != waiting_generation); }
  };

  static float bf16_to_float(std::uint32_t bits) {
    const std::uint32_t u = (bits & 0xffffu) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }

  void wait(Barrier& b) {
    if (++b.arrived == b.count) {
      b.arrived = 0;
      ++b.generation;
      return;
    }
    Fiber& self = fibers_[static_cast<std::size_t>(current_)];
    self.waiting = &b;
    self.waiting_generation = b.generation;
    yield();  // the scheduler resumes this fiber only once the generation has moved on
    self.waiting = nullptr;
  }
  void yield();  // back to the scheduler

  void check(const void* p, std::size_t bytes) const {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    if (address % bytes != 0) throw std::runtime_error("misaligned " + std::to_string(bytes) + "-byte access");
    const char* c = static_cast<const char*>(p);
    if (c >= shared_.data() && c + bytes <= shared_.data() + shared_.size()) return;
    for (const auto& [begin, size] : allowed_)
      if (c >= begin && c + bytes <= begin + size) return;
    throw std::runtime_error("access outside shared memory and the declared buffers");
  }

  static void fiber_main(SimtEmulator* self);  // runs body_ for the current fiber, then leaves for good

 public:
  static void enter_fiber(SimtEmulator* self);  // a new fiber's first call (internal)

 private:
  void start_fibers();
  void switch_to_fiber();

  void run_block();
  static constexpr std::size_t kStackBytes = 256 * 1024;

  int threads_;
  Schedule schedule_;
  std::vector<char> shared_;
  std::vector<std::pair<const char*, std::size_t>> allowed_;
  std::vector<Thread> threads_state_;
  std::vector<Fiber> fibers_;
  void* scheduler_ = nullptr;  // its saved context while a fiber runs
  // Under AddressSanitizer every switch is announced (see simt_emulator.cpp): the scheduler's
  // stack, as the first switch into a fiber reports it, and its record while a fiber runs.
  const void* asan_scheduler_bottom_ = nullptr;
  std::size_t asan_scheduler_size_ = 0;
  void* asan_scheduler_fake_stack_ = nullptr;
  std::vector<char> contexts_;  // ucontext storage where there is no native switch
  const Body* body_ = nullptr;
  int current_ = 0, block_x_ = 0, block_y_ = 0, grid_x_ = 0, grid_y_ = 0;
  std::exception_ptr error_;
  Barrier block_barrier_;

  // Where a warp's lanes post their values for a collective. Two sets, used alternately: a lane
  // reads the set of collective k before it arrives at collective k+1's barrier, and nobody
  // writes that set again before collective k+2, after that barrier, so one barrier per
  // collective is enough.
  struct Slots {
    std::uint64_t f[32] = {};  // a shuffled value's bytes
    std::uint32_t a[32][4] = {}, b[32][2] = {};
    // A(row, k) and B(k, col) from the posted registers, by the fragment layout.
    float a_at(int row, int k) const {
      const int owner = (row % 8) * 4 + (k % 8) / 2, reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
      return bf16_to_float(a[owner][reg] >> (16 * (k % 2)));
    }
    float b_at(int k, int col) const {
      const int owner = col * 4 + (k % 8) / 2, reg = k >= 8 ? 1 : 0;
      return bf16_to_float(b[owner][reg] >> (16 * (k % 2)));
    }
  };
  struct Warp {
    Barrier barrier{32, 0, 0};
    Slots slots[2];
  };
  std::vector<Warp> warps_;
  std::vector<AsyncCopies> async_;  // per thread
};

}  // namespace gpt::test
