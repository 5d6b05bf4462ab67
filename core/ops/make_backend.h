#pragma once
#include <memory>
#include <string>

#include "core/ops/backend.h"

namespace gpt {

// name: "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU); precision: "fp32" or
// "bf16". cpu_threads: the CPU backend's thread count (at least 1; see cpu::choose_threads),
// unused by the CUDA backend. local_rank picks the GPU (local_rank modulo the visible devices).
// Throws ConfigError for a combination this build or machine cannot provide, naming the setting
// as the caller's user knows it (`names`: train's config keys, generate's flags).
struct BackendSettingNames {
  std::string backend = "train.backend", precision = "train.precision";
};
std::unique_ptr<Backend> make_backend(const std::string& name, const std::string& precision, int cpu_threads,
                                      int local_rank = 0, const BackendSettingNames& names = {});

// The backend make_backend(name, ...) would make: "auto" becomes "cuda" or "cpu".
std::string resolve_backend_name(const std::string& name);

}  // namespace gpt
