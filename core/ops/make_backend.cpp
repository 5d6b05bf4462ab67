#include "core/ops/make_backend.h"

#include "core/errors.h"
#include "core/ops/cpu/cpu_backend.h"

namespace gpt {

std::unique_ptr<Backend> make_backend(const std::string& name, const std::string& precision, int cpu_threads) {
  if (name == "cpu" || name == "auto") {
    if (precision != "fp32")
      throw ConfigError("train.precision = \"" + precision + "\": the CPU backend computes in fp32 only");
    return std::make_unique<CpuBackend<float>>(cpu_threads);
  }
  if (name == "cuda") throw ConfigError("train.backend = \"cuda\": this build has no CUDA backend yet; use \"cpu\"");
  throw ConfigError("train.backend must be \"auto\", \"cpu\" or \"cuda\", got \"" + name + "\"");
}

}  // namespace gpt
