#pragma once
#include <memory>
#include <string>

#include "core/ops/backend.h"

namespace gpt {

// "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU). Throws ConfigError for a
// backend this build or machine cannot provide.
std::unique_ptr<Backend> make_backend(const std::string& name, int cpu_threads);

}  // namespace gpt
