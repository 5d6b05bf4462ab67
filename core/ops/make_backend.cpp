#include "core/ops/make_backend.h"

#include "core/errors.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cpu/cpu_bf16_backend.h"
#include "core/ops/cpu/matmul_bf16.h"
#ifdef GPT_HAVE_CUDA
#include "core/ops/cuda/cuda_backend.h"
#endif

namespace gpt {
namespace {

// `train.backend = "cuda"` for a config key, `--backend cuda` for a flag.
std::string setting(const std::string& name, const std::string& value) {
  return name.rfind("--", 0) == 0 ? name + " " + value : name + " = \"" + value + "\"";
}

std::unique_ptr<Backend> make_cuda(const std::string& precision, int local_rank, const BackendSettingNames& names) {
#ifdef GPT_HAVE_CUDA
  const CudaDevices visible = cuda_devices();
  if (visible.count == 0)
    throw ConfigError(setting(names.backend, "cuda") + ": no CUDA device is visible: " + visible.problem);
  const int devices = visible.count;
  // One GPU per rank on a node; more ranks than GPUs would share one, which NCCL refuses.
  return std::make_unique<CudaBackend>(precision == "bf16" ? DType::bf16 : DType::f32, local_rank % devices);
#else
  (void)precision;
  (void)local_rank;
  throw ConfigError(setting(names.backend, "cuda") +
                    ": this build has no CUDA backend (nvcc was not found when configuring)");
#endif
}

bool cuda_available() {
#ifdef GPT_HAVE_CUDA
  return cuda_device_count() > 0;
#else
  return false;
#endif
}

}  // namespace

std::string resolve_backend_name(const std::string& name) {
  return name == "cuda" || (name == "auto" && cuda_available()) ? "cuda" : name == "auto" ? "cpu" : name;
}

std::unique_ptr<Backend> make_backend(const std::string& name, const std::string& precision, int cpu_threads,
                                      int local_rank, const BackendSettingNames& names) {
  if (name == "cuda" || (name == "auto" && cuda_available())) return make_cuda(precision, local_rank, names);
  if (name == "cpu" || name == "auto") {
    if (precision == "fp32") return std::make_unique<CpuBackend<float>>(cpu_threads);
    if (precision != "bf16")
      throw ConfigError(setting(names.precision, precision) + ": the CPU backend computes in fp32 or bf16");
    // bf16 that oneDNN would only emulate is slower than fp32: refused rather than run.
    const cpu::Bf16MatmulSupport bf16 = cpu::bf16_matmul_support();
    if (!bf16.native)
      throw ConfigError(setting(names.precision, "bf16") +
                        " on the CPU needs bf16 arithmetic (AMX-BF16 or AVX512-BF16: /proc/cpuinfo flags amx_bf16 or "
                        "avx512_bf16), which oneDNN cannot use here (its ISA: " +
                        bf16.isa + ", set by the CPU or by ONEDNN_MAX_CPU_ISA); use fp32");
    return std::make_unique<CpuBf16Backend>(cpu_threads);
  }
  throw ConfigError(names.backend + " must be \"auto\", \"cpu\" or \"cuda\", got \"" + name + "\"");
}

}  // namespace gpt
