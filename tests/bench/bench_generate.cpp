// Generation throughput, with and without the KV cache, on one backend:
//   bench_generate [--backend cpu|cuda] [--precision fp32|bf16] [--new-tokens N] [--uncached-124m-tokens N]
// Prints, for the tiny config and a GPT-2 124M-shaped model (random weights): tokens/s generating
// N (256) tokens after a 16-token prompt, batch 1 and 8, greedy, with the cache (Generator) and
// without (every step a full forward over the window, as nanoGPT's sample.py); the 124M cached
// cost per token at positions 16, 128 and 512; the backend's read bandwidth (a sum over 1 GiB)
// and the batch-1 124M rate against the bound it sets (every weight read once per token).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/generate/generator.h"
#include "core/model/gpt.h"
#include "core/model/kv_cache.h"
#include "core/ops/make_backend.h"
#include "core/rng.h"
#include "tests/support/cpu_threads.h"

namespace {

using Clock = std::chrono::steady_clock;
using Tokens = std::vector<std::int32_t>;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

gpt::ModelConfig tiny_config() {  // configs/tiny.toml's model
  gpt::ModelConfig c;
  c.block_size = 128;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_embd = 128;
  return c;
}

Tokens random_tokens(std::int64_t n, std::uint64_t seed) {
  Tokens t;
  for (std::int64_t i = 0; i < n; ++i) t.push_back(static_cast<std::int32_t>(gpt::rng::below(seed, i, 50257)));
  return t;
}

// Best of three: Σ x over `bytes` of the backend's memory, as GB/s read.
double read_bandwidth(gpt::Backend& be, std::size_t bytes) {
  gpt::Buffer buffer(be, bytes);
  const gpt::Tensor x(buffer.get(), be.act_dtype(),
                      {static_cast<std::int64_t>(bytes / gpt::dtype_size(be.act_dtype()))});
  be.sum(x);  // first touch
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    be.sum(x);
    best = std::min(best, seconds_since(t0));
  }
  return static_cast<double>(bytes) / best / 1e9;
}

// Greedy decoding without a cache: each step runs the whole window (the last block_size tokens)
// of every row through the training forward and takes the argmax of its last position.
double uncached_tokens_per_second(gpt::GPT& model, std::int64_t B, const Tokens& prompt, std::int64_t new_tokens) {
  const std::int64_t V = model.config().vocab_size, real = model.config().real_vocab_size;
  std::vector<Tokens> rows(static_cast<std::size_t>(B), prompt);
  std::vector<float> logits;
  const auto t0 = Clock::now();
  for (std::int64_t step = 0; step < new_tokens; ++step) {
    const auto length = static_cast<std::int64_t>(rows[0].size());
    const std::int64_t T = std::min(length, model.config().block_size);
    Tokens batch;
    for (const Tokens& r : rows) batch.insert(batch.end(), r.end() - T, r.end());
    model.forward({batch.data(), nullptr, B, T}, {});
    logits.resize(static_cast<std::size_t>(model.logits().numel()));
    model.backend().download(model.logits(), logits.data());
    for (std::int64_t b = 0; b < B; ++b) {
      const float* last = logits.data() + ((b + 1) * T - 1) * V;
      rows[static_cast<std::size_t>(b)].push_back(
          static_cast<std::int32_t>(std::max_element(last, last + real) - last));
    }
  }
  return static_cast<double>(B * new_tokens) / seconds_since(t0);
}

double cached_tokens_per_second(gpt::GPT& model, std::int64_t B, const Tokens& prompt, std::int64_t new_tokens,
                                double* ms_per_step = nullptr) {
  gpt::Generator generator(model, {.max_new_tokens = new_tokens, .end_token = -1});
  generator.sample(prompt, {.temperature = 0}, 0, B);
  const gpt::GenerationStats& s = generator.stats();
  if (ms_per_step) *ms_per_step = 1e3 * s.decode_seconds / static_cast<double>(s.steps);
  return static_cast<double>(B * s.steps) / s.decode_seconds;
}

// Mean ms of one cached step (batch 1) for the 8 steps from each position in `at`.
std::vector<double> ms_at_positions(gpt::GPT& model, const Tokens& prompt, const std::vector<std::int64_t>& at) {
  gpt::KVCache cache(model, 1, model.config().block_size);
  std::vector<float> host(static_cast<std::size_t>(model.config().vocab_size));
  model.forward_cached(prompt.data(), static_cast<std::int64_t>(prompt.size()), cache);
  std::vector<double> sums(at.size(), 0);
  std::int32_t token = 1;
  const std::int64_t last = *std::max_element(at.begin(), at.end()) + 8;
  while (cache.length() < last) {
    const std::int64_t position = cache.length();
    const auto t0 = Clock::now();
    model.backend().download(model.forward_cached(&token, 1, cache), host.data());
    const double ms = 1e3 * seconds_since(t0);
    for (std::size_t i = 0; i < at.size(); ++i)
      if (position >= at[i] && position < at[i] + 8) sums[i] += ms / 8;
    token = static_cast<std::int32_t>(std::max_element(host.begin(), host.begin() + 50257) - host.begin());
  }
  return sums;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend_name = "cpu", precision;
  std::int64_t new_tokens = 256, uncached_124m_tokens = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--backend") == 0) backend_name = argv[i + 1];
    if (std::strcmp(argv[i], "--precision") == 0) precision = argv[i + 1];
    if (std::strcmp(argv[i], "--new-tokens") == 0) new_tokens = std::stoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--uncached-124m-tokens") == 0) uncached_124m_tokens = std::stoll(argv[i + 1]);
  }
  if (precision.empty()) precision = gpt::resolve_backend_name(backend_name) == "cuda" ? "bf16" : "fp32";
  const std::unique_ptr<gpt::Backend> backend = gpt::make_backend(backend_name, precision, gpt::test::cpu_threads());
  std::printf("backend: %s, %d host thread(s)\n", backend->name().c_str(), gpt::test::cpu_threads());
  const double bandwidth = read_bandwidth(*backend, std::size_t{1} << 30);
  std::printf("read bandwidth: %.1f GB/s (sum over 1 GiB, best of 3)\n", bandwidth);

  const Tokens prompt = random_tokens(16, 7);
  double bound = 0, achieved = 0;
  for (const bool big : {false, true}) {
    const gpt::ModelConfig config = big ? gpt::ModelConfig{} : tiny_config();
    gpt::GPT model(config, *backend);
    model.init_weights(1);
    const char* name = big ? "gpt2-124m" : "tiny";
    for (const std::int64_t B : {1, 8}) {
      double ms = 0;
      const double cached = cached_tokens_per_second(model, B, prompt, new_tokens, &ms);
      const std::int64_t uncached_new = big ? std::min(new_tokens, uncached_124m_tokens) : new_tokens;
      const double uncached = uncached_tokens_per_second(model, B, prompt, uncached_new);
      std::printf(
          "%-9s B=%lld: cached %8.1f tokens/s (%.2f ms/step, %lld tokens) | uncached %8.1f tokens/s (%lld "
          "tokens) | %.1fx\n",
          name, static_cast<long long>(B), cached, ms, static_cast<long long>(new_tokens), uncached,
          static_cast<long long>(uncached_new), cached / uncached);
      if (big && B == 1) achieved = cached;
    }
    if (big) {
      const std::vector<std::int64_t> at = {16, 128, 512};
      const std::vector<double> ms = ms_at_positions(model, prompt, at);
      std::printf("gpt2-124m B=1 cached ms/token at position 16: %.2f | 128: %.2f | 512: %.2f\n", ms[0], ms[1], ms[2]);
      const double weight_bytes = static_cast<double>(model.table().buffer_numel()) *
                                  static_cast<double>(gpt::dtype_size(backend->act_dtype()));
      bound = bandwidth * 1e9 / weight_bytes;
      std::printf(
          "gpt2-124m B=1: %.1f tokens/s = %.0f%% of the bandwidth bound %.1f tokens/s (%.0f MB of weights "
          "per token at %.1f GB/s)\n",
          achieved, 100 * achieved / bound, bound, weight_bytes / 1e6, bandwidth);
    }
  }
  return 0;
}
