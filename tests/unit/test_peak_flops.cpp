// MFU's pieces: the datasheet table by device name, the measured CPU peak, the refusal to show
// an MFU that cannot be right, and the parameter counts of the startup summary.
#include "train/observe/peak_flops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/model/flops.h"
#include "core/model/param_table.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/ops/cpu/cpu_bf16_backend.h"
#include "core/ops/cpu/matmul_bf16.h"
#include "tests/support/cpu_threads.h"
#include "train/observe/run_summary.h"

namespace gpt {
namespace {

TEST(PeakFlops, DatasheetKnowsDevicesByTheNamesTheyReport) {
  struct Case {
    const char* name;
    double bf16, fp32;
  };
  for (const Case& c :
       {Case{"NVIDIA H100 80GB HBM3", 989, 67}, Case{"NVIDIA H100 PCIe", 756, 51.2}, Case{"NVIDIA H100 NVL", 835, 60},
        Case{"NVIDIA H200", 989, 67}, Case{"NVIDIA GH200 480GB", 989, 67}, Case{"NVIDIA A100-SXM4-80GB", 312, 19.5},
        Case{"NVIDIA A100-PCIE-40GB", 312, 19.5}, Case{"NVIDIA L4", 121, 30.3}, Case{"NVIDIA L40S", 362, 91.6},
        Case{"NVIDIA A10", 125, 31.2}, Case{"NVIDIA GeForce RTX 4090", 165.2, 82.6}}) {
    EXPECT_EQ(datasheet_tflops(c.name, DType::bf16), c.bf16) << c.name;
    EXPECT_EQ(datasheet_tflops(c.name, DType::f32), c.fp32) << c.name;
  }
}

TEST(PeakFlops, UnknownDevicesHaveNoPeak) {
  // Whole words only: an A10G is not an A10, a GH100 not an H100.
  for (const char* name : {"NVIDIA A10G", "Tesla T4", "NVIDIA GH100", "host emulation", "", "NVIDIA"})
    EXPECT_FALSE(datasheet_tflops(name, DType::bf16).has_value()) << name;
}

TEST(PeakFlops, UnknownPeakOrImpossibleFigureGivesNoMfu) {
  EXPECT_FALSE(model_flops_utilisation(1e9, 1e3, 0).has_value());
  EXPECT_FALSE(model_flops_utilisation(1e9, 1e3, -5).has_value());
  EXPECT_FALSE(model_flops_utilisation(1e9, 1e3, std::nan("")).has_value());
  EXPECT_FALSE(model_flops_utilisation(1e9, 2e3, 1e12).has_value());  // 200%: the peak is wrong
  EXPECT_FALSE(model_flops_utilisation(1e9, -1, 1e12).has_value());
  EXPECT_FALSE(model_flops_utilisation(1e9, INFINITY, 1e12).has_value());
  const std::optional<double> mfu = model_flops_utilisation(1e9, 250, 1e12);
  ASSERT_TRUE(mfu.has_value());
  EXPECT_DOUBLE_EQ(*mfu, 0.25);
}

TEST(PeakFlops, CpuPeakIsMeasuredPositiveAndFinite) {
  CpuBackend<float> be(test::cpu_threads());
  const PeakFlops peak = peak_flops(be, 0);
  EXPECT_GT(peak.per_rank, 1e8) << peak.source;  // above 0.1 GFLOP/s: any CPU of this century
  EXPECT_TRUE(std::isfinite(peak.per_rank)) << peak.source;
  EXPECT_NE(peak.source.find("measured"), std::string::npos) << peak.source;
}

// A bf16 run's MFU is against the bf16 matmul rate: with AMX or AVX512-BF16 that is 2-3x sgemm
// (bench_cpu), so a peak that measured the fp32 matmul instead would sit near 1x.
TEST(PeakFlops, Bf16CpuPeakIsTheBf16MatmulRate) {
  if (!cpu::bf16_matmul_support().native) GTEST_SKIP() << "this CPU has neither AMX-BF16 nor AVX512-BF16";
  CpuBackend<float> fp32(test::cpu_threads());
  CpuBf16Backend bf16(test::cpu_threads());
  const PeakFlops f = peak_flops(fp32, 0), b = peak_flops(bf16, 0);
  EXPECT_GT(b.per_rank, 1.3 * f.per_rank) << "bf16 " << b.source << ", fp32 " << f.source;
}

TEST(PeakFlops, OverrideWins) {
  CpuBackend<float> be(1);
  const PeakFlops peak = peak_flops(be, 12.5);
  EXPECT_EQ(peak.per_rank, 12.5e12);
  EXPECT_NE(peak.source.find("train.peak_tflops"), std::string::npos) << peak.source;
}

TEST(RunSummary, Gpt2SmallHas85MParametersWithoutTheEmbeddings) {
  const ParamTable table{ModelConfig{}};
  // 12 layers of 7,087,872 (c_attn 2,362,368, c_proj 590,592, c_fc 2,362,368, c_proj 2,360,064,
  // two LayerNorms 3,072) plus ln_f's 1,536; wte 50304x768 and wpe 1024x768 left out.
  EXPECT_EQ(non_embedding_parameters(table), 85'056'000);
  EXPECT_EQ(table.parameter_count() - non_embedding_parameters(table), 50304 * 768 + 1024 * 768);
}

}  // namespace
}  // namespace gpt
