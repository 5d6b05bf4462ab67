// The CUDA backend built for the host (tests/emulated/cuda_on_host.h) beyond what the GPU suite
// checks: the op cases under the emulator's second thread order, the matmul where cuBLASLt finds
// no algorithm, a whole-model bf16 run on the tensor-core attention, and the trainer resuming
// from a checkpoint. Tolerances are the GPU tests': fp32 ≤ 1e-5, bf16 ≤ 2e-2 relative.
#include "tests/emulated/cuda_on_host.h"
#include "tests/support/cpu_threads.h"
// The line above must come first.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cuda/cuda_backend.h"
#include "dist/communicator.h"
#include "tests/support/op_comparison.h"
#include "tests/support/test_data.h"
#include "tests/support/training_steps.h"
#include "train/checkpoint/checkpoint_file.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace gpt::test {

// Test switches of the stand-in cuBLASLt (tests/emulated/fake_cuda_runtime.cpp): its heuristic
// finds no algorithm for plans with the bias epilogue, or for every plan, answering `answer`.
void fake_cublaslt_refuse_bias_epilogue(bool refuse, cublasStatus_t answer = CUBLAS_STATUS_SUCCESS);
void fake_cublaslt_refuse_all(bool refuse, cublasStatus_t answer = CUBLAS_STATUS_SUCCESS);
int fake_cublaslt_heuristic_queries();

namespace {

// The GPU suite (gpu/test_cuda_backend.cpp, compiled into this executable too) runs every op case
// with the emulator's default order, warps in lockstep. Here the small cases again with warp 0
// running as far ahead as barriers allow, so a missing __syncthreads shows under one or the other.
struct Precision {
  DType act;
  double tolerance;
};

void PrintTo(const Precision& p, std::ostream* os) {
  *os << (p.act == DType::bf16 ? "bf16" : "fp32");
}

class CudaOpsWarp0Ahead : public ::testing::TestWithParam<std::tuple<OpCase, Precision>> {};

TEST_P(CudaOpsWarp0Ahead, MatchCpuReference) {
  const auto& [c, precision] = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  cuda_host::schedule() = SimtEmulator::Schedule::lowest_first;
  CudaBackend gpu(precision.act);
  CpuBackend<double> cpu(cpu_threads());
  expect_op_matches(gpu, cpu, c, seed, precision.tolerance);
  cuda_host::schedule() = SimtEmulator::Schedule::round_robin;
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOpsWarp0Ahead,
                         ::testing::Combine(::testing::ValuesIn(all_op_cases()),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param).act == DType::bf16 ? "_bf16" : "_fp32");
                         });

// cuBLASLt's heuristic may find no algorithm for small odd bf16 shapes with the bias epilogue. The
// backend then plans the matmul without it and adds the bias with a kernel; if even that plan has
// no algorithm, the error names the shape.
enum class Refuse { bias_epilogue, all };

// The refusal for the guard's lifetime, lifted even when an assertion leaves the test early.
class HeuristicRefusal {
 public:
  HeuristicRefusal(Refuse what, cublasStatus_t answer) {
    if (what == Refuse::bias_epilogue) {
      fake_cublaslt_refuse_bias_epilogue(true, answer);
    } else {
      fake_cublaslt_refuse_all(true, answer);
    }
  }
  ~HeuristicRefusal() {
    fake_cublaslt_refuse_bias_epilogue(false);
    fake_cublaslt_refuse_all(false);
  }
  HeuristicRefusal(const HeuristicRefusal&) = delete;
  HeuristicRefusal& operator=(const HeuristicRefusal&) = delete;
};

OpCase op_case(const std::string& name, const OpDims& dims = {}) {
  const std::vector<OpCase> cases = all_op_cases(dims);
  const auto it = std::find_if(cases.begin(), cases.end(), [&](const OpCase& c) { return c.name == name; });
  if (it == cases.end()) throw std::logic_error("no op case " + name);
  return *it;
}

// How the heuristic says "none": cuBLASLt answers SUCCESS with no results or NOT_SUPPORTED.
std::string answer_name(cublasStatus_t answer) {
  return answer == CUBLAS_STATUS_SUCCESS ? "NoResults" : "NotSupported";
}

class CudaMatmulBiasByKernel : public ::testing::TestWithParam<std::tuple<OpCase, Precision, cublasStatus_t>> {};

TEST_P(CudaMatmulBiasByKernel, MatchesCpuReference) {
  const auto& [c, precision, answer] = GetParam();
  const auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  SCOPED_TRACE("seed " + std::to_string(seed));
  const HeuristicRefusal refusal(Refuse::bias_epilogue, answer);
  CudaBackend gpu(precision.act);
  CpuBackend<double> cpu(cpu_threads());
  expect_op_matches(gpu, cpu, c, seed, precision.tolerance);
}

std::string bias_by_kernel_name(const ::testing::TestParamInfo<std::tuple<OpCase, Precision, cublasStatus_t>>& info) {
  return (std::get<1>(info.param).act == DType::bf16 ? "bf16_" : "fp32_") + answer_name(std::get<2>(info.param));
}

INSTANTIATE_TEST_SUITE_P(SmallOdd, CudaMatmulBiasByKernel,
                         ::testing::Combine(::testing::Values(op_case("matmul")),
                                            ::testing::Values(Precision{DType::f32, 1e-5},
                                                              Precision{DType::bf16, 2e-2}),
                                            ::testing::Values(CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_NOT_SUPPORTED)),
                         bias_by_kernel_name);
// bf16 only, where the bias is rounded twice; fp32 at this width costs the emulator 10 s more.
INSTANTIATE_TEST_SUITE_P(Gpt2Widths, CudaMatmulBiasByKernel,
                         ::testing::Combine(::testing::Values(op_case("matmul", gpt2_widths())),
                                            ::testing::Values(Precision{DType::bf16, 2e-2}),
                                            ::testing::Values(CUBLAS_STATUS_SUCCESS)),
                         bias_by_kernel_name);

// The epilogue is refused once per shape (then planned without it); the plan is reused after.
TEST(CudaMatmulBiasByKernelPlans, EachShapeIsPlannedOnce) {
  const HeuristicRefusal refusal(Refuse::bias_epilogue, CUBLAS_STATUS_SUCCESS);
  const OpCase c = op_case("matmul");
  for (DType act : {DType::f32, DType::bf16}) {
    CudaBackend gpu(act);
    OpHarness h(gpu, c, 1);
    const int before = fake_cublaslt_heuristic_queries();
    h.forward();
    EXPECT_EQ(fake_cublaslt_heuristic_queries() - before, 2) << "with the bias epilogue (refused), then without";
    h.forward();
    EXPECT_EQ(fake_cublaslt_heuristic_queries() - before, 2) << "the second call reuses the plan";
  }
}

// The small case's forward is the column-major D(10×14) = Wᵀ(10×12)·X(12×14).
std::string no_algorithm_message(const std::string& case_name, DType act, cublasStatus_t answer) {
  const HeuristicRefusal refusal(Refuse::all, answer);
  CudaBackend gpu(act);
  const OpCase c = op_case(case_name);  // the harness keeps a reference: it must outlive it
  OpHarness h(gpu, c, 1);
  try {
    h.forward();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error when cuBLASLt has no algorithm";
  return "";
}

TEST(CudaMatmulNoAlgorithm, ErrorNamesShapeWithBias) {
  const std::string what = no_algorithm_message("matmul", DType::bf16, CUBLAS_STATUS_SUCCESS);
  for (const char* part : {"m=10 ", "n=14 ", "k=12", "transa=T transb=N", "lda=12 ldb=12 ldd=10", "A and B bf16",
                           "D bf16", "bias epilogue was asked for"})
    EXPECT_TRUE(what.find(part) != std::string::npos) << "'" << part << "' missing from: " << what;
}

TEST(CudaMatmulNoAlgorithm, ErrorNamesShapeWithoutBias) {
  const std::string what = no_algorithm_message("matmul_nobias", DType::f32, CUBLAS_STATUS_NOT_SUPPORTED);
  for (const char* part : {"m=10 ", "n=14 ", "k=12", "transa=T transb=N", "lda=12 ldb=12 ldd=10", "A and B fp32",
                           "D fp32", "no bias epilogue"})
    EXPECT_TRUE(what.find(part) != std::string::npos) << "'" << part << "' missing from: " << what;
}

// Heads of 32: bf16 attention on the tensor-core kernels, inside the whole model (the GPU suite's
// training model has heads of 16, which take the CUDA-core kernels).
TEST(CudaTrainingEmulated, Bf16WithTensorCoreAttentionFollowsFp32) {
  ModelConfig config = step_model();
  config.n_head = 2;
  CudaBackend fp32(DType::f32), bf16(DType::bf16);
  const std::vector<double> a = train_losses(fp32, 4, nullptr, 16, config),
                            b = train_losses(bf16, 4, nullptr, 16, config);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.02 * a[i]) << "step " << i;
  EXPECT_LT(a.back(), a.front());
}

// The trainer on the real sample with the CUDA backend: a run checkpointed at step 2 and resumed
// by a fresh trainer (parameters and AdamW moments come down from device memory into the HDF5
// file and go back up) continues bitwise as the run left alone. bf16, heads of 32, so the
// tensor-core attention and every other kernel take part.
RunConfig sample_run(const std::filesystem::path& dir) {
  const std::string data = (gpt::test::data_dir() / "tinystories").string() + "/";
  const std::string toml = "[data]\ntrain = \"" + data + "TinyStories-train-sample.bin\"\nval = \"" + data +
                           "TinyStories-valid-sample.bin\"\n";
  return parse_run_config(toml, "test.toml", ".",
                          {"--model.vocab_size=50304", "--model.block_size=16", "--model.n_layer=2", "--model.n_head=2",
                           "--model.n_embd=64", "--train.seq_len=16", "--train.micro_batch=2",
                           "--train.batch_tokens=64", "--train.max_steps=4", "--train.precision=bf16",
                           "--optim.lr=1e-3", "--eval.batches=1", "--run.dir=" + dir.string()});
}

TEST(CudaTrainerEmulated, ResumedRunIsBitwiseTheSame) {
  if (!checkpoints_supported()) GTEST_SKIP() << "this build has no HDF5";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("gpt_emulated_resume_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const RunConfig config = sample_run(dir);
  SingleRank comm;
  std::vector<double> straight, resumed;
  std::vector<float> p_straight, p_resumed;
  {
    CudaBackend gpu(DType::bf16);
    Trainer trainer(config, gpu, comm);
    for (std::int64_t s = 0; s < 4; ++s) {
      straight.push_back(trainer.train_step(s).loss);
      if (s == 1) trainer.save_checkpoint(2);
    }
    p_straight.resize(static_cast<std::size_t>(trainer.model().params().numel()));
    gpu.download(trainer.model().params(), p_straight.data());
  }
  {
    CudaBackend gpu(DType::bf16);
    Trainer trainer(config, gpu, comm);
    std::ostringstream warnings;
    ASSERT_TRUE(trainer.resume(warnings)) << warnings.str();
    ASSERT_EQ(trainer.start_step(), 2);
    for (std::int64_t s = 2; s < 4; ++s) resumed.push_back(trainer.train_step(s).loss);
    p_resumed.resize(static_cast<std::size_t>(trainer.model().params().numel()));
    gpu.download(trainer.model().params(), p_resumed.data());
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(resumed, std::vector<double>(straight.begin() + 2, straight.end()));
  EXPECT_EQ(p_resumed, p_straight);
  EXPECT_LT(straight.back(), straight.front());
}

}  // namespace
}  // namespace gpt::test
