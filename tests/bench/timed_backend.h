#pragma once
// A Backend decorator that times every op it forwards, to show where a training step's time goes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/ops/backend.h"
#include "tests/bench/gpt2_step.h"

namespace gpt::bench {

class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(Backend& inner) : in_(inner) {}
  std::map<std::string, double> seconds;  // per op name

  std::string name() const override { return in_.name(); }
  std::string device_name() const override { return in_.device_name(); }
  DType param_dtype() const override { return in_.param_dtype(); }
  DType act_dtype() const override { return in_.act_dtype(); }
  void* allocate(std::size_t bytes) override { return in_.allocate(bytes); }
  void release(void* p) noexcept override { in_.release(p); }
  void upload(Tensor d, const float* s) override { in_.upload(d, s); }
  void download(Tensor s, float* d) override { in_.download(s, d); }
  void upload_bytes(void* d, const void* s, std::size_t n) override { in_.upload_bytes(d, s, n); }
  void download_bytes(void* d, const void* s, std::size_t n) override { in_.download_bytes(d, s, n); }
  void synchronize() override { in_.synchronize(); }
  std::int64_t attention_saved_numel(std::int64_t B, std::int64_t T, std::int64_t nh) const override {
    return in_.attention_saved_numel(B, T, nh);
  }

#define GPT_TIMED(op, ...)                          \
  const auto t0 = std::chrono::steady_clock::now(); \
  in_.op(__VA_ARGS__);                              \
  in_.synchronize();                                \
  seconds[#op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  void zero(Tensor t) override {
    GPT_TIMED(zero, t)
  }

 private:
  // The ops, forwarded to the inner backend's public ones (which check them again).
  void do_convert(Tensor d, Tensor s) override {
    in_.convert(d, s);
  }
  void do_embedding_forward(Tensor o, Tensor t, Tensor w, Tensor p, std::int64_t p0) override {
    GPT_TIMED(embedding_forward, o, t, w, p, p0)
  }
  void do_embedding_backward(Tensor dw, Tensor dp, Tensor d, Tensor t) override {
    GPT_TIMED(embedding_backward, dw, dp, d, t)
  }
  void do_layernorm_forward(Tensor o, Tensor m, Tensor r, Tensor x, Tensor w, Tensor b) override {
    GPT_TIMED(layernorm_forward, o, m, r, x, w, b)
  }
  void do_residual_layernorm_forward(Tensor res, Tensor o, Tensor m, Tensor r, Tensor a, Tensor b, Tensor w,
                                     Tensor bias) override {
    GPT_TIMED(residual_layernorm_forward, res, o, m, r, a, b, w, bias)
  }
  void do_layernorm_backward(Tensor dx, Tensor dw, Tensor db, Tensor d, Tensor x, Tensor w, Tensor m,
                             Tensor r) override {
    GPT_TIMED(layernorm_backward, dx, dw, db, d, x, w, m, r)
  }
  void do_rmsnorm_forward(Tensor o, Tensor r, Tensor x, Tensor w) override {
    GPT_TIMED(rmsnorm_forward, o, r, x, w)
  }
  void do_residual_rmsnorm_forward(Tensor res, Tensor o, Tensor r, Tensor a, Tensor b, Tensor w) override {
    GPT_TIMED(residual_rmsnorm_forward, res, o, r, a, b, w)
  }
  void do_rmsnorm_backward(Tensor dx, Tensor dw, Tensor d, Tensor x, Tensor w, Tensor r) override {
    GPT_TIMED(rmsnorm_backward, dx, dw, d, x, w, r)
  }
  void do_matmul_forward(Tensor o, Tensor x, Tensor w, Tensor b) override {
    GPT_TIMED(matmul_forward, o, x, w, b)
  }
  void do_matmul_backward(Tensor dx, Tensor dw, Tensor db, Tensor d, Tensor x, Tensor w) override {
    GPT_TIMED(matmul_backward, dx, dw, db, d, x, w)
  }
  void do_attention_forward(Tensor o, Tensor s, Tensor qkv, int nh) override {
    GPT_TIMED(attention_forward, o, s, qkv, nh)
  }
  void do_attention_backward(Tensor dqkv, Tensor d, Tensor qkv, Tensor o, Tensor s, int nh) override {
    GPT_TIMED(attention_backward, dqkv, d, qkv, o, s, nh)
  }
  void do_qk_norm_forward(Tensor qkv, Tensor r, int nh) override {
    GPT_TIMED(qk_norm_forward, qkv, r, nh)
  }
  void do_qk_norm_backward(Tensor dqkv, Tensor qkv, Tensor r, int nh) override {
    GPT_TIMED(qk_norm_backward, dqkv, qkv, r, nh)
  }
  void do_rope(Tensor qkv, int nh, std::int64_t p0, double base, bool inverse) override {
    if (inverse) {
      GPT_TIMED(rope_backward, qkv, nh, base)
    } else {
      GPT_TIMED(rope_forward, qkv, nh, p0, base)
    }
  }
  void do_kv_cache_write(Tensor k, Tensor v, Tensor qkv, std::int64_t pos) override {
    GPT_TIMED(kv_cache_write, k, v, qkv, pos)
  }
  void do_cached_attention_forward(Tensor o, Tensor qkv, Tensor k, Tensor v, std::int64_t pos, int nh) override {
    GPT_TIMED(cached_attention_forward, o, qkv, k, v, pos, nh)
  }
  void do_gather_rows(Tensor d, Tensor s, std::span<const std::int32_t> rows, std::int64_t prefix) override {
    GPT_TIMED(gather_rows, d, s, rows, prefix)
  }
  void do_gelu_forward(Tensor o, Tensor x) override {
    GPT_TIMED(gelu_forward, o, x)
  }
  void do_gelu_backward(Tensor dx, Tensor d, Tensor x) override {
    GPT_TIMED(gelu_backward, dx, d, x)
  }
  void do_relu2_forward(Tensor o, Tensor x) override {
    GPT_TIMED(relu2_forward, o, x)
  }
  void do_relu2_backward(Tensor dx, Tensor d, Tensor x) override {
    GPT_TIMED(relu2_backward, dx, d, x)
  }
  void do_swiglu_forward(Tensor o, Tensor x) override {
    GPT_TIMED(swiglu_forward, o, x)
  }
  void do_swiglu_backward(Tensor dx, Tensor d, Tensor x) override {
    GPT_TIMED(swiglu_backward, dx, d, x)
  }
  void do_add(Tensor o, Tensor a, Tensor b) override {
    GPT_TIMED(add, o, a, b)
  }
  void do_dropout_forward(Tensor o, Tensor x, double p, std::uint64_t k) override {
    GPT_TIMED(dropout_forward, o, x, p, k)
  }
  void do_dropout_backward(Tensor dx, Tensor d, double p, std::uint64_t k) override {
    GPT_TIMED(dropout_backward, dx, d, p, k)
  }
  void do_softcap_forward(Tensor o, Tensor x, double cap) override {
    GPT_TIMED(softcap_forward, o, x, cap)
  }
  void do_cross_entropy(Tensor l, Tensor dl, Tensor lg, Tensor t, std::int64_t rv, double s, double cap) override {
    GPT_TIMED(cross_entropy, l, dl, lg, t, rv, s, cap)
  }
  void do_adamw(Tensor p, Tensor g, Tensor m, Tensor v, const AdamWStep& s) override {
    GPT_TIMED(adamw, p, g, m, v, s)
  }
  double do_sum(Tensor x) override {
    const auto t0 = std::chrono::steady_clock::now();
    const double r = in_.sum(x);
    seconds["sum"] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  double do_sum_squares(Tensor x) override {
    const auto t0 = std::chrono::steady_clock::now();
    const double r = in_.sum_squares(x);
    seconds["sum_squares"] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
#undef GPT_TIMED

  Backend& in_;
};

// Runs `steps` training steps of `model` (GPT-2 124M unless told), after one warm-up, at (B, T)
// on a TimedBackend over `inner` and prints each op's time per step, largest first.
inline void print_op_profile(Backend& inner, std::int64_t B, std::int64_t T, int steps, const ModelConfig& model = {}) {
  TimedBackend timed(inner);
  {
    Gpt2Step step(timed, B, T, model);
    for (int s = 0; s <= steps; ++s) {
      if (s == 1) timed.seconds.clear();  // drop the warm-up step
      step.run();
    }
  }
  std::vector<std::pair<double, std::string>> rows;
  double total = 0;
  for (const auto& [op, sec] : timed.seconds) {
    rows.emplace_back(sec / steps, op);
    total += sec / steps;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::printf("time per op of one step (%.1f ms in ops, synchronised after each):\n", 1e3 * total);
  for (const auto& [sec, op] : rows)
    std::printf("  %-20s %8.2f ms  %5.1f%%\n", op.c_str(), 1e3 * sec, 100 * sec / total);
}

}  // namespace gpt::bench
