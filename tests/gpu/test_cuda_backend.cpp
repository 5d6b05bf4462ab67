// The CUDA backend against the CPU reference: every op on fresh random inputs (fp32 ≤ 1e-5,
// bf16 ≤ 2e-2 relative, odd shapes included), a whole training step, the bf16 loss curve
// against fp32, and bitwise determinism. Every test skips, saying why, where no GPU is visible
// (and fails instead under GPT_EXPECT_GPU=1: tests/gpu/require_gpu.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/model/kv_cache.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cuda/cuda_backend.h"
#include "core/rng.h"
#include "tests/gpu/require_gpu.h"
#include "tests/support/cpu_threads.h"
#include "tests/support/model_test_util.h"
#include "tests/support/op_comparison.h"
#include "tests/support/op_refusals.h"
#include "tests/support/training_steps.h"
#include "train/optimizer.h"

namespace gpt::test {
namespace {

std::uint64_t fresh_seed() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

struct Precision {
  DType act;
  double tolerance;
};

void PrintTo(const Precision& p, std::ostream* os) {
  *os << (p.act == DType::bf16 ? "bf16" : "fp32");
}

class CudaOps : public ::testing::TestWithParam<std::tuple<OpCase, Precision>> {};

TEST_P(CudaOps, MatchCpuReference) {
  GPT_REQUIRE_GPU("GPU tests");
  const auto& [c, precision] = GetParam();
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  CudaBackend gpu(precision.act);
  CpuBackend<double> cpu(cpu_threads());
  expect_op_matches(gpu, cpu, c, seed, precision.tolerance);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOps,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases()),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// GPT-2's widths: the vectorised and tensor-core paths the small odd shapes above do not reach.
INSTANTIATE_TEST_SUITE_P(Gpt2Widths, CudaOps,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases(gpt2_widths())),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// The argument checks every backend shares refuse the same calls here as on the CPU
// (tests/unit/test_backend_ops.cpp), with the same messages.
class CudaRefusals : public ::testing::TestWithParam<std::tuple<OpRefusals, Precision>> {};

TEST_P(CudaRefusals, BadArgumentsAreRefused) {
  GPT_REQUIRE_GPU("GPU tests");
  const auto& [refusals, precision] = GetParam();
  CudaBackend gpu(precision.act);
  expect_refusals(gpu, "cuda", refusals);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaRefusals,
                         ::testing::Combine(::testing::ValuesIn(all_op_refusals()),
                                            ::testing::Values(Precision{DType::f32, 0}, Precision{DType::bf16, 0})),
                         [](const auto& info) {
                           return std::get<0>(info.param).op_case +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// The tensor-core attention (bf16, head size 32 or 64; the op cases above use other sizes, so they
// exercise the CUDA-core kernels) against the fp64 CPU reference, with partial tiles, GPT-2's
// head size at T = 512, and bitwise-equal repeats.
OpCase attention_case(std::int64_t B, std::int64_t T, std::int64_t C, int NH) {
  return {.name = "attention",
          .inputs = {{B, T, 3 * C}},
          .outputs = {{B, T, C}},
          .aux = {{B * NH * T * T}},
          .forward = [NH](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], a.aux[0], a.in[0], NH); },
          .backward = [NH](Backend& be,
                           OpArgs& a) { be.attention_backward(a.din[0], a.dout[0], a.in[0], a.out[0], a.aux[0], NH); }};
}

TEST(CudaAttention, TensorCoreKernelsMatchCpuAndRepeat) {
  GPT_REQUIRE_GPU("GPU tests");
  struct Dims {
    std::int64_t B, T, C;
    int NH;
  };
  for (const Dims d : {Dims{2, 200, 128, 2}, Dims{1, 77, 96, 3}, Dims{3, 64, 64, 1}, Dims{1, 512, 768, 12}}) {
    const OpCase c = attention_case(d.B, d.T, d.C, d.NH);
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("T " + std::to_string(d.T) + ", C " + std::to_string(d.C) + ", seed " + std::to_string(seed));
    CudaBackend gpu(DType::bf16);
    CpuBackend<double> cpu(cpu_threads());
    OpHarness a(gpu, c, seed), again(gpu, c, seed), ref(cpu, c, seed, true);
    for (OpHarness* h : {&a, &again, &ref}) {
      h->forward();
      h->backward();
    }
    EXPECT_LT(relative_error(a.read(a.args.out[0]), ref.read(ref.args.out[0])), 2e-2) << "output";
    EXPECT_LT(relative_error(a.read(a.args.din[0]), ref.read(ref.args.din[0])), 2e-2) << "gradient";
    EXPECT_EQ(a.read(a.args.out[0]), again.read(again.args.out[0])) << "output not bitwise repeatable";
    EXPECT_EQ(a.read(a.args.din[0]), again.read(again.args.din[0])) << "gradient not bitwise repeatable";
  }
}

// GPT-2's padded vocabulary (50304, a multiple of 8) takes the cross-entropy's 16-byte path, which
// the small op case above (V = 11) does not.
TEST(CudaCrossEntropy, Gpt2VocabularyMatchesCpu) {
  GPT_REQUIRE_GPU("GPU tests");
  const OpCase c = cross_entropy_case(33, 50304, 50257);
  for (const Precision precision : {Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}}) {
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    CudaBackend gpu(precision.act);
    CpuBackend<double> cpu(cpu_threads());
    OpHarness a(gpu, c, seed), ref(cpu, c, seed, precision.act == DType::bf16);
    for (OpHarness* h : {&a, &ref}) {
      h->forward();
      h->backward();
    }
    EXPECT_LT(relative_error(a.read(a.args.out[0]), ref.read(ref.args.out[0])), precision.tolerance) << "losses";
    EXPECT_LT(relative_error(a.read(a.args.din[0]), ref.read(ref.args.din[0])), precision.tolerance) << "gradient";
  }
}

// The fused residual add + LayerNorm promises bitwise what add() then layernorm_forward() give.
TEST(CudaResidualLayerNorm, FusedEqualsUnfusedBitwise) {
  GPT_REQUIRE_GPU("GPU tests");
  for (DType act : {DType::bf16, DType::f32}) {
    CudaBackend gpu(act);
    const std::int64_t N = 300, C = 768;
    Buffer mem(gpu, 16 * N * C * 4);
    std::size_t at = 0;
    auto take = [&](std::initializer_list<std::int64_t> dims, DType t) {
      Tensor x = mem.tensor(at, t, dims);
      at += (x.bytes() + 255) / 256 * 256;
      return x;
    };
    const Tensor a = take({N, C}, act), b = take({N, C}, act), w = take({C}, act), bias = take({C}, act);
    for (const Tensor& t : {a, b, w, bias}) {
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      const std::uint64_t key = rng::derive(fresh_seed(), at);
      for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(rng::normal(key, i));
      gpu.upload(t, host.data());
    }
    const Tensor r1 = take({N, C}, act), o1 = take({N, C}, act), m1 = take({N}, DType::f32), s1 = take({N}, DType::f32);
    const Tensor r2 = take({N, C}, act), o2 = take({N, C}, act), m2 = take({N}, DType::f32), s2 = take({N}, DType::f32);
    gpu.residual_layernorm_forward(r1, o1, m1, s1, a, b, w, bias);
    gpu.add(r2, a, b);
    gpu.layernorm_forward(o2, m2, s2, r2, w, bias);
    auto bytes = [&](const Tensor& t) {
      std::vector<unsigned char> host(t.bytes());
      gpu.download_bytes(host.data(), t.ptr, host.size());
      return host;
    };
    EXPECT_EQ(bytes(r1), bytes(r2)) << "residual";
    EXPECT_EQ(bytes(o1), bytes(o2)) << "output";
    EXPECT_EQ(bytes(m1), bytes(m2)) << "mean";
    EXPECT_EQ(bytes(s1), bytes(s2)) << "rstd";
  }
}

// Prefill in two chunks through the cache equals attention over the whole sequence: positions
// 0..4 written and attended, then 5..8 over all nine. The cache starts as NaN, so a read past the
// visible positions (or a write past the chunk) shows as NaN. Heads of 12 (the CUDA-core paths of
// both attentions) and GPT-2's heads of 64 (the full attention's tensor-core path in bf16).
TEST(CudaKVCache, CachedAttentionOverWrittenCacheEqualsFullAttention) {
  GPT_REQUIRE_GPU("GPU tests");
  struct Dims {
    std::int64_t C;
    int NH;
  };
  const std::int64_t B = 2, T = 9, S = T + 3, split = 5;
  for (const Precision precision : {Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}}) {
    for (const Dims dims : {Dims{48, 4}, Dims{768, 12}}) {
      const std::int64_t C = dims.C;
      const std::uint64_t seed = fresh_seed();
      SCOPED_TRACE(std::string(precision.act == DType::bf16 ? "bf16" : "fp32") + ", C " + std::to_string(C) +
                   ", seed " + std::to_string(seed));
      CudaBackend gpu(precision.act);
      const DType act = gpu.act_dtype();
      std::vector<Buffer> buffers;
      auto make = [&](std::initializer_list<std::int64_t> dims, DType type) {
        Tensor t(nullptr, type, dims);
        buffers.emplace_back(gpu, t.bytes());
        t.ptr = buffers.back().get();
        return t;
      };
      const Tensor qkv = make({B, T, 3 * C}, act), full = make({B, T, C}, act),
                   saved = make({gpu.attention_saved_numel(B, T, dims.NH)}, DType::f32);
      const Tensor k_cache = make({B, S, C}, act), v_cache = make({B, S, C}, act);
      const Tensor chunk_qkv[2] = {make({B, split, 3 * C}, act), make({B, T - split, 3 * C}, act)};
      const Tensor chunk_out[2] = {make({B, split, C}, act), make({B, T - split, C}, act)};

      std::vector<float> x(static_cast<std::size_t>(qkv.numel()));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng::normal(seed, i));
      gpu.upload(qkv, x.data());
      // Rows t in [begin, end) of every batch row of a (B, T, width) host array.
      auto rows = [&](const std::vector<float>& a, std::int64_t width, std::int64_t begin, std::int64_t end) {
        std::vector<float> r;
        for (std::int64_t b = 0; b < B; ++b)
          r.insert(r.end(), a.begin() + (b * T + begin) * width, a.begin() + (b * T + end) * width);
        return r;
      };
      gpu.upload(chunk_qkv[0], rows(x, 3 * C, 0, split).data());
      gpu.upload(chunk_qkv[1], rows(x, 3 * C, split, T).data());
      const std::vector<float> nan(static_cast<std::size_t>(k_cache.numel()), std::numeric_limits<float>::quiet_NaN());
      gpu.upload(k_cache, nan.data());
      gpu.upload(v_cache, nan.data());

      gpu.attention_forward(full, saved, qkv, dims.NH);
      for (int c = 0; c < 2; ++c) {
        const std::int64_t position = c == 0 ? 0 : split;
        gpu.kv_cache_write(k_cache, v_cache, chunk_qkv[c], position);
        gpu.cached_attention_forward(chunk_out[c], chunk_qkv[c], k_cache, v_cache, position, dims.NH);
      }

      auto read = [&](const Tensor& t) {
        std::vector<float> host(static_cast<std::size_t>(t.numel()));
        gpu.download(t, host.data());
        return host;
      };
      const std::vector<float> want = read(full), first = read(chunk_out[0]), second = read(chunk_out[1]);
      std::vector<double> got, expected(want.begin(), want.end());
      for (std::int64_t b = 0; b < B; ++b) {  // the chunks' rows back in (B, T, C) order
        got.insert(got.end(), first.begin() + b * split * C, first.begin() + (b + 1) * split * C);
        got.insert(got.end(), second.begin() + b * (T - split) * C, second.begin() + (b + 1) * (T - split) * C);
      }
      EXPECT_EQ(std::count_if(got.begin(), got.end(), [](double v) { return std::isnan(v); }), 0)
          << "a query read a cache position it may not see";
      EXPECT_LT(relative_error(got, expected), precision.tolerance);
      // Positions T.. of the cache were never written: still NaN.
      for (const Tensor& cache : {k_cache, v_cache}) {
        const std::vector<float> host = read(cache);
        for (std::int64_t b = 0; b < B; ++b)
          for (std::int64_t i = (b * S + T) * C; i < (b + 1) * S * C; ++i)
            ASSERT_TRUE(std::isnan(host[static_cast<std::size_t>(i)])) << "cache element " << i << " overwritten";
      }
    }
  }
}

// A cache longer than the kernel's chunk of scores in shared memory (1024 positions): the online
// softmax across chunks, against the CPU.
// The model's KV-cached path on the GPU (and emulated): a prefill and then one token per step give
// at every position the logits of the training forward over the same tokens, and so does a window
// that starts again in the used cache, as after a slide (its stale positions must not be read).
// GPT-2's architecture, and the modern recipe's (RoPE at the cache's positions, QK-norm, RMSNorm,
// ReLU², soft-capped logits).
class CudaKVCacheModels : public ::testing::TestWithParam<bool> {};

TEST_P(CudaKVCacheModels, ModelLogitsWithTheCacheEqualTheFullForward) {
  GPT_REQUIRE_GPU("GPU tests");
  ModelConfig config = GetParam() ? tiny_modern_model(true, true) : tiny_model(Activation::gelu, true, true);
  config.vocab_size = 128;
  config.real_vocab_size = 120;
  config.block_size = 16;
  config.n_head = 4;
  config.n_embd = 64;
  for (const Precision precision : {Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}}) {
    SCOPED_TRACE(precision.act == DType::bf16 ? "bf16" : "fp32");
    CudaBackend gpu(precision.act);
    GPT model(config, gpu);
    model.init_weights(5);
    const std::int64_t B = 2, length = 20, V = config.vocab_size, T = config.block_size;
    const HostBatch tokens = random_batch(B, length, config.real_vocab_size, 9);
    auto read = [&](const Tensor& t) {
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      gpu.download(t, host.data());
      return std::vector<double>(host.begin(), host.end());
    };
    // Rows [start, start + T) of every sequence.
    auto window = [&](std::int64_t start, std::int64_t n) {
      std::vector<std::int32_t> w;
      for (std::int64_t b = 0; b < B; ++b)
        w.insert(w.end(), tokens.inputs.begin() + b * length + start, tokens.inputs.begin() + b * length + start + n);
      return w;
    };
    auto row = [&](const std::vector<double>& logits, std::int64_t rows_per_sequence, std::int64_t b, std::int64_t t) {
      const auto at = logits.begin() + (b * rows_per_sequence + t) * V;
      return std::vector<double>(at, at + V);
    };
    KVCache cache(model, B, T);
    for (const std::int64_t start : {0, 4}) {  // 4: the window after a slide, in the used cache
      const std::vector<std::int32_t> all = window(start, T);
      model.forward({all.data(), nullptr, B, T}, {});
      const std::vector<double> want = read(model.logits());
      cache.clear();
      const std::int64_t prefill = 6;
      const std::vector<std::int32_t> head = window(start, prefill);
      const std::vector<double> first = read(model.forward_cached(head.data(), prefill, cache, true));
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < prefill; ++t)
          EXPECT_LT(relative_error(row(first, prefill, b, t), row(want, T, b, t)), precision.tolerance)
              << "window at " << start << ", prefill row " << b << " position " << t;
      for (std::int64_t t = prefill; t < T; ++t) {
        const std::vector<std::int32_t> step = window(start + t, 1);
        const std::vector<double> got = read(model.forward_cached(step.data(), 1, cache));
        for (std::int64_t b = 0; b < B; ++b)
          EXPECT_LT(relative_error(row(got, 1, b, 0), row(want, T, b, t)), precision.tolerance)
              << "window at " << start << ", row " << b << " position " << t;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaKVCacheModels, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "modern" : "gpt2"; });

TEST(CudaKVCache, CacheLongerThanOneChunkMatchesCpu) {
  GPT_REQUIRE_GPU("GPU tests");
  const std::int64_t B = 1, T = 3, C = 64, position = 2100, S = position + T + 1;
  const int NH = 2;
  const OpCase c{.name = "cached_attention_long",
                 .inputs = {{B, T, 3 * C}, {B, S, C}, {B, S, C}},
                 .outputs = {{B, T, C}},
                 .forward = [](Backend& be, OpArgs& a) {
                   be.cached_attention_forward(a.out[0], a.in[0], a.in[1], a.in[2], position, NH);
                 }};
  for (const Precision precision : {Precision{DType::f32, 1e-5}, Precision{DType::bf16, 2e-2}}) {
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    CudaBackend gpu(precision.act);
    CpuBackend<double> cpu(cpu_threads());
    expect_op_matches(gpu, cpu, c, seed, precision.tolerance);
  }
}

// Heads above kMaxHeadDim (128) are a kernel limit of this backend, refused like a bad shape.
TEST(CudaKVCache, HeadsAbove128AreRefused) {
  GPT_REQUIRE_GPU("GPU tests");
  CudaBackend gpu(DType::f32);
  const std::int64_t C = 256;
  Buffer mem(gpu, 16 * C * 4);
  const Tensor qkv = mem.tensor(0, DType::f32, {1, 1, 3 * C}), out = mem.tensor(3 * C * 4, DType::f32, {1, 1, C}),
               k = mem.tensor(4 * C * 4, DType::f32, {1, 1, C}), v = mem.tensor(5 * C * 4, DType::f32, {1, 1, C});
  try {
    gpu.cached_attention_forward(out, qkv, k, v, 0, 1);
    ADD_FAILURE() << "a head of 256 accepted";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "cuda backend: cached_attention_forward: head size above 128");
  }
  gpu.cached_attention_forward(out, qkv, k, v, 0, 2);  // heads of 128 are fine
  gpu.synchronize();
}

// A tensor's slice of a flat buffer, in double.
std::vector<double> slice(const std::vector<float>& flat, const ParamInfo& t) {
  const auto begin = flat.begin() + t.offset;
  return std::vector<double>(begin, begin + t.numel);
}

// One fp32 step against the CPU, compared where the comparison is well conditioned: the loss and
// every gradient at fp32 tolerance, and the parameters AdamW leaves only where the gradient's
// sign is beyond doubt. (Adam's first update is lr·g/(|g|+eps), about ±lr whatever |g| is, so an
// element whose gradient is within rounding noise of zero moves by a noise-decided ±lr; the key
// bias, a third of c_attn.bias, has an exactly zero gradient in exact arithmetic.)
TEST(CudaTraining, Fp32StepMatchesCpu) {
  GPT_REQUIRE_GPU("GPU tests");
  CudaBackend gpu(DType::f32);
  CpuBackend<float> cpu(cpu_threads());
  const OneStep got = one_step(gpu), want = one_step(cpu);
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss);
  double worst_grad = 0;
  for (const ParamInfo& t : want.tensors) {
    std::vector<double> g = slice(got.grads, t), w = slice(want.grads, t);
    if (t.name.ends_with("attn.c_attn.bias")) {  // the key bias: noise on both sides, compared as such
      const std::int64_t third = t.numel / 3;
      for (std::int64_t i = third; i < 2 * third; ++i) {
        EXPECT_LT(std::abs(g[i]), 1e-6) << t.name << " key bias " << i - third;
        EXPECT_LT(std::abs(w[i]), 1e-6) << t.name << " key bias " << i - third << " (CPU)";
        g[i] = w[i] = 0;
      }
    }
    const double grad_error = relative_error(g, w);
    worst_grad = std::max(worst_grad, grad_error);
    EXPECT_LT(grad_error, 1e-5) << t.name << " gradient";

    const std::vector<double> p = slice(got.params, t), q = slice(want.params, t);
    std::vector<double> p_sure, q_sure;
    for (std::int64_t i = 0; i < t.numel; ++i) {
      if (std::abs(w[i]) > 1e-6 && std::abs(w[i]) > 100 * std::abs(g[i] - w[i])) {
        p_sure.push_back(p[i]);
        q_sure.push_back(q[i]);
      }
    }
    // Most of every tensor has a clear sign (the padding rows of wte have exactly zero gradients).
    EXPECT_GE(p_sure.size(), static_cast<std::size_t>(t.numel) / 2) << t.name;
    EXPECT_LT(relative_error(p_sure, q_sure), 1e-5) << t.name << " after the step";
  }
  std::cout << "worst per-tensor gradient error against the CPU: " << worst_grad << " (limit 1e-5)\n";
}

// tests/emulated runs this file against a host build of the backend, where a step of the CUDA-core
// attention takes a second: the same checks, fewer steps.
#ifdef GPT_CUDA_EMULATED
constexpr int kCurveSteps = 6, kRepeatSteps = 2;
#else
constexpr int kCurveSteps = 20, kRepeatSteps = 5;
#endif

TEST(CudaTraining, Bf16FollowsTheFp32LossCurve) {
  GPT_REQUIRE_GPU("GPU tests");
  CudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, kCurveSteps, nullptr), b = train_losses(bf16, kCurveSteps, nullptr);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

TEST(CudaTraining, TwoRunsAreBitwiseEqual) {
  GPT_REQUIRE_GPU("GPU tests");
  CudaBackend gpu(DType::bf16);
  std::vector<float> p1, p2;
  EXPECT_EQ(train_losses(gpu, kRepeatSteps, &p1), train_losses(gpu, kRepeatSteps, &p2));
  EXPECT_EQ(p1, p2);
}

}  // namespace
}  // namespace gpt::test
