#include "train/observe/peak_flops.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include <cctype>

namespace gpt {
namespace {

struct DatasheetPeak {
  std::array<std::string_view, 2> words;  // every non-empty one must be a word of the device name
  double bf16_tflops, fp32_tflops;
};

// NVIDIA's datasheets, dense rates. The first entry whose words all appear wins, so the specific
// variants come before the family name.
constexpr DatasheetPeak kDatasheet[] = {
    {{"H100", "PCIe"}, 756, 51.2},   {{"H100", "NVL"}, 835, 60}, {{"H100", ""}, 989, 67},
    {{"H200", "NVL"}, 835, 60},      {{"H200", ""}, 989, 67},    {{"GH200", ""}, 989, 67},
    {{"A100", ""}, 312, 19.5},       {{"L40S", ""}, 362, 91.6},  {{"L40", ""}, 181, 90.5},
    {{"L4", ""}, 121, 30.3},         {{"A10", ""}, 125, 31.2},   {{"RTX", "4090"}, 165.2, 82.6},
    {{"RTX", "A6000"}, 154.8, 38.7},
};

// The device name's words: split at spaces and hyphens ("NVIDIA A100-SXM4-80GB" has A100), compared
// without case.
std::vector<std::string> words_of(std::string_view name) {
  std::vector<std::string> words(1);
  for (const char c : name) {
    if (c == ' ' || c == '-') {
      if (!words.back().empty()) words.emplace_back();
    } else {
      words.back() += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

bool has_word(const std::vector<std::string>& words, std::string_view word) {
  std::string upper(word);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::find(words.begin(), words.end(), upper) != words.end();
}

std::string rate_text(double flops) {
  char text[48];
  if (flops >= 1e12) {
    std::snprintf(text, sizeof text, "%.1f TFLOP/s", flops / 1e12);
  } else {
    std::snprintf(text, sizeof text, "%.1f GFLOP/s", flops / 1e9);
  }
  return text;
}

}  // namespace

std::optional<double> datasheet_tflops(std::string_view device_name, DType act) {
  const std::vector<std::string> words = words_of(device_name);
  for (const DatasheetPeak& peak : kDatasheet) {
    const bool match = std::all_of(peak.words.begin(), peak.words.end(),
                                   [&](std::string_view w) { return w.empty() || has_word(words, w); });
    if (match) return act == DType::bf16 ? peak.bf16_tflops : peak.fp32_tflops;
  }
  return std::nullopt;
}

double measured_matmul_flops(Backend& backend) {
  constexpr std::int64_t N = 1024, IC = 768, OC = 3072;
  const DType act = backend.act_dtype();
  const std::size_t size = dtype_size(act);
  Buffer x(backend, N * IC * size), w(backend, OC * IC * size), out(backend, N * OC * size);
  const Tensor tx = x.tensor(0, act, {N, IC}), tw = w.tensor(0, act, {OC, IC}), tout = out.tensor(0, act, {N, OC});
  backend.matmul_forward(tout, tx, tw, Tensor());  // warm-up: threads started, kernels chosen
  backend.synchronize();
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    backend.matmul_forward(tout, tx, tw, Tensor());
    backend.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > 0) best = std::max(best, 2.0 * N * IC * OC / s);
  }
  return best;
}

PeakFlops peak_flops(Backend& backend, double override_tflops) {
  if (override_tflops > 0) return {override_tflops * 1e12, rate_text(override_tflops * 1e12) + " (train.peak_tflops)"};
  if (backend.host_memory()) {
    const double measured = measured_matmul_flops(backend);
    return {measured, rate_text(measured) + " (this backend's matmul, measured at startup)"};
  }
  const std::string device = backend.device_name();
  if (const std::optional<double> tflops = datasheet_tflops(device, backend.act_dtype()))
    return {*tflops * 1e12, rate_text(*tflops * 1e12) + " (datasheet, " + dtype_name(backend.act_dtype()) + " dense)"};
  return {0, "unknown for '" + device + "': no MFU (set train.peak_tflops)"};
}

std::optional<double> model_flops_utilisation(double flops_per_token, double tokens_per_s, double peak) {
  if (!(peak > 0)) return std::nullopt;
  const double mfu = flops_per_token * tokens_per_s / peak;
  if (!std::isfinite(mfu) || mfu <= 0 || mfu > 1) return std::nullopt;
  return mfu;
}

}  // namespace gpt
