#pragma once
// The denominator of MFU (model FLOPs utilisation): the peak rate of the device one rank computes
// on, for the precision the run uses.
#include <optional>
#include <string>
#include <string_view>

#include "core/ops/backend.h"

namespace gpt {

struct PeakFlops {
  double per_rank = 0;  // FLOP/s; 0 means unknown, and then no MFU is shown
  std::string source;   // for the startup summary: where the figure comes from, or why there is none
};

// Dense (no sparsity) datasheet peaks in TFLOP/s of known GPUs, by the name the device reports
// ("NVIDIA H100 80GB HBM3"): the bf16 tensor-core rate for bf16 activations, plain fp32 (our fp32
// matmuls do not use TF32) otherwise. nullopt for a device the table does not know.
std::optional<double> datasheet_tflops(std::string_view device_name, DType act);

// FLOP/s of the backend's own matmul at GPT-2 124M's MLP shape (1024x768 by 768x3072), the best
// of a few after a warm-up: about 0.1 s on two CPU cores.
double measured_matmul_flops(Backend& backend);

// override_tflops (train.peak_tflops) when > 0; else on a host backend the measured matmul rate;
// else the datasheet peak for the device, or unknown.
PeakFlops peak_flops(Backend& backend, double override_tflops);

// flops_per_token · tokens_per_s / peak_flops, or nullopt when the peak is unknown or the figure
// is not a fraction in (0, 1] (a wrong train.peak_tflops, a clock jump): never a misleading MFU.
std::optional<double> model_flops_utilisation(double flops_per_token, double tokens_per_s, double peak_flops);

}  // namespace gpt
