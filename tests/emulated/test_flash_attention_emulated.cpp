// The tensor-core attention kernels (core/ops/cuda/flash_attention.h) run on the host under the
// SIMT emulator and are compared with the CPU backend's attention (fp64, same bf16-rounded
// inputs): outputs, log-sum-exps and all three input gradients, for one tile, partial tiles and
// several tiles, both supported head sizes. On a GPU the same code runs as CUDA kernels, which
// tests/gpu checks against the CPU too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cuda/flash_attention.h"
#include "core/rng.h"
#include "tests/emulated/simt_emulator.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/op_harness.h"

namespace gpt::test {
namespace {

using flash::u16;

struct AttentionShape {
  std::int64_t B, T;
  int NH, HD;
};

void PrintTo(const AttentionShape& s, std::ostream* os) {
  *os << "B" << s.B << "_T" << s.T << "_NH" << s.NH << "_HD" << s.HD;
}

// Random values rounded to bf16: the bits for the emulated kernel, the values for the reference.
struct Bf16Data {
  std::vector<u16> bits;
  std::vector<double> values;
  Bf16Data(std::size_t n, std::uint64_t key) : bits(n), values(n) {
    for (std::size_t i = 0; i < n; ++i) {
      bits[i] = static_cast<u16>(SimtEmulator::Thread::bf16_bits(static_cast<float>(rng::normal(key, i))));
      values[i] = to_double(bits[i]);
    }
  }
  static double to_double(u16 b) {
    const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

std::vector<double> to_doubles(const std::vector<u16>& bits) {
  std::vector<double> v(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) v[i] = Bf16Data::to_double(bits[i]);
  return v;
}

// Runs one of the kernel bodies over its grid under the emulator.
template <class Body>
void emulate(const flash::Problem& p, SimtEmulator::Schedule schedule, std::size_t smem,
             std::vector<std::pair<const void*, std::size_t>> buffers, Body body) {
  SimtEmulator em(flash::kThreads, smem, schedule);
  for (const auto& [ptr, bytes] : buffers) em.allow(ptr, bytes);
  em.run(static_cast<int>(p.tiles()), static_cast<int>(p.B * p.NH), [&](SimtEmulator::Thread& s) { body(s); });
}

class FlashAttentionEmulated : public ::testing::TestWithParam<AttentionShape> {};

template <int HD>
void check_against_cpu(const AttentionShape& shape, std::uint64_t seed, SimtEmulator::Schedule schedule) {
  const std::int64_t B = shape.B, T = shape.T, NH = shape.NH, C = NH * HD;
  const flash::Problem p = flash::make_problem(B, T, C, shape.NH);
  const auto n_qkv = static_cast<std::size_t>(B * T * 3 * C), n_out = static_cast<std::size_t>(B * T * C),
             n_rows = static_cast<std::size_t>(B * NH * T);
  const Bf16Data qkv(n_qkv, rng::derive(seed, 1)), dout(n_out, rng::derive(seed, 2));

  // ---- forward on the emulated device ----
  std::vector<u16> out(n_out, 0xffffu);  // NaN: every element must be written
  std::vector<float> lse(n_rows, NAN);
  emulate(p, schedule, flash::forward_smem_bytes<HD>(), {{qkv.bits.data(), n_qkv * 2}, {out.data(), n_out * 2}},
          [&](SimtEmulator::Thread& s) { flash::forward_block<HD>(s, out.data(), lse.data(), qkv.bits.data(), p); });

  // ---- the CPU reference, fp64 on the same values ----
  CpuBackend<double> cpu(cpu_threads());
  std::vector<double> qkv_ref = qkv.values, dout_ref = dout.values, out_ref(n_out), dqkv_ref(n_qkv);
  std::vector<double> saved(static_cast<std::size_t>(cpu.attention_saved_numel(B, T, NH)));
  const Tensor t_qkv(qkv_ref.data(), DType::f64, {B, T, 3 * C}), t_out(out_ref.data(), DType::f64, {B, T, C}),
      t_dout(dout_ref.data(), DType::f64, {B, T, C}), t_dqkv(dqkv_ref.data(), DType::f64, {B, T, 3 * C}),
      t_saved(saved.data(), DType::f64, {static_cast<std::int64_t>(saved.size())});
  cpu.attention_forward(t_out, t_saved, t_qkv, shape.NH);
  cpu.attention_backward(t_dqkv, t_dout, t_qkv, t_out, t_saved, shape.NH);

  EXPECT_LT(relative_error(to_doubles(out), out_ref), 2e-2) << "output";
  // log Σ_keys exp(scale · q·k), directly.
  std::vector<double> lse_got(lse.begin(), lse.end()), lse_ref(n_rows);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < NH; ++h)
      for (std::int64_t t = 0; t < T; ++t) {
        std::vector<double> scores;
        for (std::int64_t k = 0; k <= t; ++k) {
          double dot = 0;
          for (int d = 0; d < HD; ++d)
            dot += qkv.values[static_cast<std::size_t>((b * T + t) * 3 * C + h * HD + d)] *
                   qkv.values[static_cast<std::size_t>((b * T + k) * 3 * C + C + h * HD + d)];
          scores.push_back(dot * p.scale);
        }
        double mx = scores[0], sum = 0;
        for (double v : scores) mx = std::max(mx, v);
        for (double v : scores) sum += std::exp(v - mx);
        lse_ref[static_cast<std::size_t>((b * NH + h) * T + t)] = mx + std::log(sum);
      }
  EXPECT_LT(relative_error(lse_got, lse_ref), 1e-5) << "log-sum-exp";

  // ---- backward: delta from the bf16 output, as the device's delta kernel computes it ----
  std::vector<float> delta(n_rows);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < NH; ++h)
      for (std::int64_t t = 0; t < T; ++t) {
        double acc = 0;
        for (int d = 0; d < HD; ++d) {
          const auto at = static_cast<std::size_t>((b * T + t) * C + h * HD + d);
          acc += Bf16Data::to_double(out[at]) * dout.values[at];
        }
        delta[static_cast<std::size_t>((b * NH + h) * T + t)] = static_cast<float>(acc);
      }
  std::vector<u16> dqkv(n_qkv, 0xffffu);
  const std::vector<std::pair<const void*, std::size_t>> buffers = {
      {qkv.bits.data(), n_qkv * 2}, {dout.bits.data(), n_out * 2}, {dqkv.data(), n_qkv * 2}};
  emulate(p, schedule, flash::dq_smem_bytes<HD>(), buffers, [&](SimtEmulator::Thread& s) {
    flash::dq_block<HD>(s, dqkv.data(), dout.bits.data(), qkv.bits.data(), lse.data(), delta.data(), p);
  });
  emulate(p, schedule, flash::dkv_smem_bytes<HD>(), buffers, [&](SimtEmulator::Thread& s) {
    flash::dkv_block<HD>(s, dqkv.data(), dout.bits.data(), qkv.bits.data(), lse.data(), delta.data(), p);
  });

  // Compare dq, dk and dv separately: one of them wrong must not hide behind the others.
  const std::vector<double> got = to_doubles(dqkv);
  for (int part = 0; part < 3; ++part) {
    std::vector<double> a, r;
    for (std::int64_t row = 0; row < B * T; ++row)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto at = static_cast<std::size_t>(row * 3 * C + part * C + c);
        a.push_back(got[at]);
        r.push_back(dqkv_ref[at]);
      }
    EXPECT_LT(relative_error(a, r), 2e-2) << "gradient of "
                                          << "qkv"[part];
  }
}

TEST_P(FlashAttentionEmulated, MatchesCpuAttention) {
  const AttentionShape shape = GetParam();
  const std::uint64_t seed = 0x5eed0000u + static_cast<std::uint64_t>(shape.T * 131 + shape.HD);
  // Every thread order: warps in lockstep, warp 0 running ahead, the last warp running ahead.
  for (const auto schedule : {SimtEmulator::Schedule::round_robin, SimtEmulator::Schedule::lowest_first,
                              SimtEmulator::Schedule::highest_first}) {
    SCOPED_TRACE(schedule == SimtEmulator::Schedule::round_robin    ? "round-robin"
                 : schedule == SimtEmulator::Schedule::lowest_first ? "lowest thread first"
                                                                    : "highest thread first");
    if (shape.HD == 64) {
      check_against_cpu<64>(shape, seed, schedule);
    } else {
      check_against_cpu<32>(shape, seed, schedule);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FlashAttentionEmulated,
                         ::testing::Values(AttentionShape{1, 64, 1, 64},    // one full tile
                                           AttentionShape{2, 70, 2, 32},    // a partial second tile
                                           AttentionShape{1, 150, 2, 64},   // three tiles, the last partial
                                           AttentionShape{1, 5, 1, 32},     // shorter than a tile
                                           AttentionShape{2, 257, 2, 64}),  // five tiles: buffers reused
                         [](const auto& info) {
                           std::ostringstream os;
                           PrintTo(info.param, &os);
                           return os.str();
                         });

TEST(SimtEmulator, MmaFollowsTheFragmentLayout) {
  // A = row-major 16×16 with A[r][k] = r + k/16, B[k][n] = (k == n) (the identity's first 8
  // columns): D must be A's first 8 columns. Exact in bf16 for these small values? r + k/16 has
  // at most 8 significant bits, so yes.
  SimtEmulator em(32, 0);
  std::vector<float> d_all(32 * 4);
  em.run(1, 1, [&](SimtEmulator::Thread& s) {
    const int lane = s.thread(), g = lane / 4, q = lane % 4;
    auto a_val = [](int r, int k) { return static_cast<float>(r) + static_cast<float>(k) / 16.0f; };
    auto b_val = [](int k, int n) { return k == n ? 1.0f : 0.0f; };
    const std::uint32_t a[4] = {s.pack_bf16(a_val(g, 2 * q), a_val(g, 2 * q + 1)),
                                s.pack_bf16(a_val(g + 8, 2 * q), a_val(g + 8, 2 * q + 1)),
                                s.pack_bf16(a_val(g, 2 * q + 8), a_val(g, 2 * q + 9)),
                                s.pack_bf16(a_val(g + 8, 2 * q + 8), a_val(g + 8, 2 * q + 9))};
    const std::uint32_t b[2] = {s.pack_bf16(b_val(2 * q, g), b_val(2 * q + 1, g)),
                                s.pack_bf16(b_val(2 * q + 8, g), b_val(2 * q + 9, g))};
    float d[4] = {1, 1, 1, 1};
    s.mma(d, a, b);
    for (int i = 0; i < 4; ++i) d_all[static_cast<std::size_t>(lane * 4 + i)] = d[i];
  });
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const int row = lane / 4 + (i >= 2 ? 8 : 0), col = 2 * (lane % 4) + (i & 1);
      EXPECT_EQ(d_all[static_cast<std::size_t>(lane * 4 + i)], 1.0f + static_cast<float>(row) + col / 16.0f)
          << "lane " << lane << " element " << i;
    }
}

TEST(SimtEmulator, AsyncCopiesLandAtTheWait) {
  std::vector<u16> source(8 * 32);
  for (std::size_t i = 0; i < source.size(); ++i) source[i] = static_cast<u16>(0x3f80 + i);  // finite bf16s
  SimtEmulator em(32, 16 * 32);
  em.allow(source.data(), source.size() * 2);
  std::vector<int> before(32), after(32);
  em.run(1, 1, [&](SimtEmulator::Thread& s) {
    u16* dst = reinterpret_cast<u16*>(s.shared()) + 8 * s.thread();
    s.cp_async16(dst, source.data() + 8 * s.thread());
    s.cp_async_commit();
    s.cp_async_commit();  // an empty newer group: wait_one retires the first
    before[static_cast<std::size_t>(s.thread())] = dst[0] == source[8 * static_cast<std::size_t>(s.thread())];
    s.cp_async_wait_one();
    after[static_cast<std::size_t>(s.thread())] = std::memcmp(dst, source.data() + 8 * s.thread(), 16) == 0;
  });
  for (int t = 0; t < 32; ++t) {
    EXPECT_FALSE(before[static_cast<std::size_t>(t)]) << "thread " << t << " saw its copy before waiting";
    EXPECT_TRUE(after[static_cast<std::size_t>(t)]) << "thread " << t;
  }
}

TEST(SimtEmulator, DetectsDivergentBarriers) {
  SimtEmulator em(64, 16);
  EXPECT_THROW(em.run(1, 1,
                      [](SimtEmulator::Thread& s) {
                        if (s.thread() < 32) s.sync();  // half the block never arrives
                      }),
               std::runtime_error);
}

TEST(SimtEmulator, RejectsMisalignedAndStrayAccesses) {
  std::vector<u16> buffer(64);
  SimtEmulator em(32, 64);
  em.allow(buffer.data(), buffer.size() * 2);
  EXPECT_THROW(em.run(1, 1, [&](SimtEmulator::Thread& s) { s.load_u32(buffer.data() + 1); }), std::runtime_error);
  std::vector<u16> undeclared(64);
  EXPECT_THROW(em.run(1, 1, [&](SimtEmulator::Thread& s) { s.zero16(undeclared.data()); }), std::runtime_error);
}

}  // namespace
}  // namespace gpt::test
