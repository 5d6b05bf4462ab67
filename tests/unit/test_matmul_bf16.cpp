// The CPU's bf16 products (core/ops/cpu/matmul_bf16.h) against a double-precision reference,
// for every transpose, alpha, beta and padded leading dimensions. Bounds, for one element
// c = Σ_k a_k·b_k with the sum of magnitudes S = Σ_k |a_k·b_k|:
//   * of the same bf16 values: fp32 accumulation, at most K·2^-24·S (a first-order bound on any
//     summation order), plus fp32's own rounding of alpha, beta·C and the result;
//   * of the fp32 values before rounding to bf16: each operand moves by at most 2^-8 relative
//     (8 significant bits, round to nearest), so a product by at most (2·2^-8 + 2^-16), on top.
#include "core/ops/cpu/matmul_bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/half_float.h"

namespace gpt::cpu {
namespace {

struct Case {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  float alpha, beta;
};

class GemmBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(GemmBf16, MatchesDoublePrecisionWithinBf16Bounds) {
  const Case c = GetParam();
  const std::int64_t pad = 3;  // leading dimensions wider than the rows
  const std::int64_t a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
  const std::int64_t b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
  const std::int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = c.N + pad;
  std::mt19937 rng(static_cast<unsigned>(c.M * 131 + c.N * 17 + c.K));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> a32(static_cast<std::size_t>(a_rows * lda)), b32(static_cast<std::size_t>(b_rows * ldb));
  for (float& x : a32) x = normal(rng);
  for (float& x : b32) x = normal(rng);
  std::vector<std::uint16_t> a(a32.size()), b(b32.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = float_to_bf16_bits(a32[i]);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = float_to_bf16_bits(b32[i]);
  std::vector<float> out(static_cast<std::size_t>(c.M * ldc));
  for (float& x : out) x = normal(rng);
  const std::vector<float> before = out;

  gemm_bf16(2, c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data(), lda, b.data(), ldb, c.beta, out.data(), ldc);

  const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);
  auto at_a = [&](const auto& m, std::int64_t i, std::int64_t k) {
    return static_cast<double>(c.trans_a ? m[k * lda + i] : m[i * lda + k]);
  };
  auto at_b = [&](const auto& m, std::int64_t k, std::int64_t j) {
    return static_cast<double>(c.trans_b ? m[j * ldb + k] : m[k * ldb + j]);
  };
  std::vector<double> a_rounded(a.size()), b_rounded(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a_rounded[i] = bf16_bits_to_float(a[i]);
  for (std::size_t i = 0; i < b.size(); ++i) b_rounded[i] = bf16_bits_to_float(b[i]);
  int checked = 0;
  for (std::int64_t i = 0; i < c.M; ++i)
    for (std::int64_t j = 0; j < c.N; ++j) {
      double same = 0, unrounded = 0, magnitude = 0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        same += at_a(a_rounded, i, k) * at_b(b_rounded, k, j);
        unrounded += at_a(a32, i, k) * at_b(b32, k, j);
        magnitude += std::abs(at_a(a_rounded, i, k) * at_b(b_rounded, k, j));
      }
      const double old = before[static_cast<std::size_t>(i * ldc + j)];
      const double got = out[static_cast<std::size_t>(i * ldc + j)];
      const double alpha = std::abs(static_cast<double>(c.alpha)), tail = std::abs(c.beta * old);
      // Three fp32 roundings after the sum (alpha, beta·C, the addition), each at most u32 relative.
      const double result = alpha * std::abs(same) + tail;
      const double same_bound = alpha * (c.K * u32 * magnitude) + 3 * u32 * (result + alpha * magnitude);
      EXPECT_LE(std::abs(got - (c.alpha * same + c.beta * old)), same_bound) << "row " << i << " col " << j;
      const double rounding_bound = same_bound + alpha * (2 * u16 + u16 * u16) * magnitude * 1.01;
      EXPECT_LE(std::abs(got - (c.alpha * unrounded + c.beta * old)), rounding_bound) << "row " << i << " col " << j;
      ++checked;
    }
  EXPECT_EQ(checked, c.M * c.N);
  // The padding between rows is never written.
  for (std::int64_t i = 0; i < c.M; ++i)
    for (std::int64_t j = c.N; j < ldc; ++j)
      EXPECT_EQ(out[static_cast<std::size_t>(i * ldc + j)], before[static_cast<std::size_t>(i * ldc + j)]);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmBf16,
                         ::testing::Values(Case{false, true, 37, 29, 64, 1.0f, 0.0f},    // forward: x · wᵀ
                                           Case{false, false, 37, 64, 29, 1.0f, 0.0f},   // dx = dout · w
                                           Case{true, false, 29, 64, 37, 1.0f, 1.0f},    // dw += doutᵀ · x
                                           Case{true, true, 16, 24, 300, 0.5f, -2.0f},   // both, long sum
                                           Case{false, true, 1, 50, 768, 1.0f, 0.0f},    // one row (a KV step)
                                           Case{false, false, 128, 96, 768, 1.0f, 1.0f}  // GPT-2's width
                                           ));

// The linear layer's products: out and dx rounded once to bf16 (at most 2^-8 relative more than
// the fp32 result's own error), dw and dbias accumulated in fp32 onto what was there.
std::vector<std::uint16_t> random_bf16(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = float_to_bf16_bits(normal(rng));
  return v;
}
double value(std::uint16_t b) {
  return bf16_bits_to_float(b);
}

TEST(MatmulBf16, ForwardAndBackwardWithinBf16Bounds) {
  const std::int64_t N = 19, IC = 40, OC = 24;
  std::mt19937 rng(5);
  const auto x = random_bf16(N * IC, rng), w = random_bf16(OC * IC, rng), bias = random_bf16(OC, rng),
             dout = random_bf16(N * OC, rng);
  const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);
  // An fp32 sum of K terms whose magnitudes add to S, then rounded to bf16 or not.
  auto bound = [&](double exact, double S, double K, bool to_bf16) {
    const double fp32 = K * u32 * S + 2 * u32 * (std::abs(exact) + S);
    return to_bf16 ? fp32 + u16 * (std::abs(exact) + fp32) : fp32;
  };

  std::vector<std::uint16_t> out(N * OC);
  matmul_forward_bf16(2, out.data(), x.data(), w.data(), bias.data(), N, IC, OC);
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t o = 0; o < OC; ++o) {
      double exact = value(bias[o]), S = std::abs(exact);
      for (std::int64_t k = 0; k < IC; ++k) {
        exact += value(x[i * IC + k]) * value(w[o * IC + k]);
        S += std::abs(value(x[i * IC + k]) * value(w[o * IC + k]));
      }
      EXPECT_LE(std::abs(value(out[i * OC + o]) - exact), bound(exact, S, IC + 1, true)) << "out " << i << "," << o;
    }

  std::vector<std::uint16_t> dx(N * IC);
  std::vector<float> dw(OC * IC, 0.5f), dbias(OC, -1.0f);
  matmul_backward_bf16(2, dx.data(), dw.data(), dbias.data(), dout.data(), x.data(), w.data(), N, IC, OC);
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t k = 0; k < IC; ++k) {
      double exact = 0, S = 0;
      for (std::int64_t o = 0; o < OC; ++o) {
        exact += value(dout[i * OC + o]) * value(w[o * IC + k]);
        S += std::abs(value(dout[i * OC + o]) * value(w[o * IC + k]));
      }
      EXPECT_LE(std::abs(value(dx[i * IC + k]) - exact), bound(exact, S, OC, true)) << "dx " << i << "," << k;
    }
  for (std::int64_t o = 0; o < OC; ++o) {
    for (std::int64_t k = 0; k < IC; ++k) {
      double exact = 0.5, S = 0.5;
      for (std::int64_t i = 0; i < N; ++i) {
        exact += value(dout[i * OC + o]) * value(x[i * IC + k]);
        S += std::abs(value(dout[i * OC + o]) * value(x[i * IC + k]));
      }
      EXPECT_LE(std::abs(dw[o * IC + k] - exact), bound(exact, S, N + 1, false)) << "dw " << o << "," << k;
    }
    double exact = -1.0, S = 1.0;
    for (std::int64_t i = 0; i < N; ++i) {
      exact += value(dout[i * OC + o]);
      S += std::abs(value(dout[i * OC + o]));
    }
    EXPECT_LE(std::abs(dbias[o] - exact), bound(exact, S, N + 1, false)) << "dbias " << o;
  }
  // Without dx and dbias only dw moves, again by the same amount.
  const std::vector<float> dw_once = dw;
  matmul_backward_bf16(2, nullptr, dw.data(), nullptr, dout.data(), x.data(), w.data(), N, IC, OC);
  for (std::size_t i = 0; i < dw.size(); ++i)
    EXPECT_NEAR(dw[i] - dw_once[i], dw_once[i] - 0.5f, 1e-4 * (1 + std::abs(dw_once[i]))) << i;
}

TEST(GemmBf16, EmptyProductsLeaveCAsItIsOrScaleIt) {
  std::vector<float> out{1.0f, 2.0f};
  gemm_bf16(1, false, false, 0, 2, 3, 1.0f, nullptr, 3, nullptr, 2, 0.0f, out.data(), 2);
  EXPECT_EQ(out, (std::vector<float>{1.0f, 2.0f}));
  gemm_bf16(1, false, false, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 3.0f, out.data(), 2);
  EXPECT_EQ(out, (std::vector<float>{3.0f, 6.0f}));
  gemm_bf16(1, false, false, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, out.data(), 2);
  EXPECT_EQ(out, (std::vector<float>{0.0f, 0.0f}));
}

// oneDNN's answer agrees with the CPU's own flags: bf16 is native exactly where /proc/cpuinfo
// lists avx512_bf16 or amx_bf16 (with oneDNN; the loops never are).
TEST(Bf16MatmulSupport, AgreesWithTheCpuFlags) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const bool cpu_has =
      flags.find(" avx512_bf16 ") != std::string::npos || flags.find(" amx_bf16 ") != std::string::npos;
  const Bf16MatmulSupport s = bf16_matmul_support();
  EXPECT_FALSE(s.isa.empty());
  EXPECT_FALSE(s.implementation.empty());
  if (s.implementation == "loops")
    EXPECT_FALSE(s.native);
  else
    EXPECT_EQ(s.native, cpu_has) << "oneDNN's isa " << s.isa << ", the CPU's flags " << (cpu_has ? "have" : "lack")
                                 << " avx512_bf16/amx_bf16";
  std::printf("bf16 matmul here: oneDNN isa %s, implementation %s\n", s.isa.c_str(), s.implementation.c_str());
}

}  // namespace
}  // namespace gpt::cpu
