// The CUDA backend's matmul plan cache (core/ops/cuda/matmul_plan_cache.h) with a planner that
// stands in for cuBLASLt: what makes two matmuls share a plan, that a plan is made once and
// destroyed once, the fallback to a bias kernel, and the refusals. (The cuBLASLt planner itself
// runs in the emulated and GPU suites.)
#include "core/ops/cuda/matmul_plan_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace gpt::cuda {
namespace {

// Records every call; refuses what it is told to refuse.
struct FakeWorld {
  int made = 0, destroyed = 0;
  std::vector<bool> asked_epilogue;  // bias_epilogue of every try_make, in order
  std::set<std::int64_t> no_epilogue_for_m, nothing_for_m, throw_for_m;
  std::set<int> live;  // plans made and not yet destroyed
};

struct FakePlanner {
  using Plan = int;  // an id
  FakeWorld* world;
  std::optional<std::string> try_make(const MatmulKey& key, bool bias_epilogue, int& plan) {
    world->asked_epilogue.push_back(bias_epilogue);
    if (world->throw_for_m.contains(key.m)) throw std::runtime_error("cuBLASLt layout A failed with status 7");
    if (world->nothing_for_m.contains(key.m)) return bias_epilogue ? "no results" : "status 15";
    if (bias_epilogue && world->no_epilogue_for_m.contains(key.m)) return "no results";
    plan = ++world->made;
    world->live.insert(plan);
    return std::nullopt;
  }
  void destroy(int& plan) noexcept {
    ++world->destroyed;
    world->live.erase(plan);
    plan = 0;
  }
};

MatmulKey key_of(std::int64_t m, bool bias = false) {
  return {.trans_a = true,
          .bias = bias,
          .m = m,
          .n = 8,
          .k = 16,
          .lda = 16,
          .ldb = 16,
          .ldd = m,
          .ab = DType::bf16,
          .d = DType::bf16,
          .align_a = 256,
          .align_b = 256,
          .align_d = 256};
}

TEST(MatmulPlanCache, MakesAPlanOncePerKeyAndDestroysEachOnce) {
  FakeWorld world;
  {
    MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
    const int first = cache.get(key_of(32)).plan;
    EXPECT_EQ(cache.get(key_of(32)).plan, first);
    EXPECT_NE(cache.get(key_of(64)).plan, first);
    EXPECT_EQ(world.made, 2);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(world.destroyed, 0);
  }
  EXPECT_EQ(world.destroyed, 2);
  EXPECT_TRUE(world.live.empty());
}

TEST(MatmulPlanCache, EveryFieldOfTheKeySeparatesPlans) {
  const MatmulKey base = key_of(32, true);
  std::vector<MatmulKey> keys(14, base);
  keys[0].trans_a = false;
  keys[1].trans_b = true;
  keys[2].bias = false;
  keys[3].m = 33;
  keys[4].n = 9;
  keys[5].k = 17;
  keys[6].lda = 17;
  keys[7].ldb = 17;
  keys[8].ldd = 33;
  keys[9].ab = DType::f32;
  keys[10].d = DType::f32;
  keys[11].align_a = 128;
  keys[12].align_b = 2;
  keys[13].align_d = 16;
  FakeWorld world;
  MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
  const int base_plan = cache.get(base).plan;
  std::set<int> plans{base_plan};
  std::set<std::size_t> hashes{MatmulKeyHash{}(base)};
  for (const MatmulKey& key : keys) {
    EXPECT_FALSE(key == base);
    plans.insert(cache.get(key).plan);
    hashes.insert(MatmulKeyHash{}(key));
  }
  EXPECT_EQ(plans.size(), keys.size() + 1) << "two keys that differ shared a plan";
  EXPECT_EQ(hashes.size(), keys.size() + 1) << "a field is left out of the hash";
  EXPECT_EQ(cache.get(base).plan, base_plan);
}

TEST(MatmulPlanCache, ABiasMatmulAsksForTheEpilogueFirst) {
  FakeWorld world;
  MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
  EXPECT_FALSE(cache.get(key_of(32, true)).bias_by_kernel);
  EXPECT_EQ(world.asked_epilogue, std::vector<bool>{true});
  EXPECT_FALSE(cache.get(key_of(64, false)).bias_by_kernel);
  EXPECT_EQ(world.asked_epilogue, (std::vector<bool>{true, false})) << "a plain matmul asked for the epilogue";
}

TEST(MatmulPlanCache, ARefusedEpilogueFallsBackToTheBiasKernel) {
  FakeWorld world;
  world.no_epilogue_for_m = {20};
  MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
  const auto& entry = cache.get(key_of(20, true));
  EXPECT_TRUE(entry.bias_by_kernel);
  EXPECT_EQ(world.asked_epilogue, (std::vector<bool>{true, false}));
  EXPECT_EQ(world.made, 1);
  cache.get(key_of(20, true));
  EXPECT_EQ(world.asked_epilogue.size(), 2u) << "the fallback is remembered";
}

TEST(MatmulPlanCache, NoAlgorithmAtAllNamesTheMatmulAndBothAnswers) {
  FakeWorld world;
  world.nothing_for_m = {20};
  MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
  try {
    cache.get(key_of(20, true));
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    for (const char* part :
         {"m=20 n=8 k=16", "transa=T transb=N", "lda=16 ldb=16 ldd=20", "A and B bf16, D bf16",
          "alignments A/B/D 256/256/256 bytes", "bias epilogue was asked for and refused (no results)",
          "the plain matmul too (status 15)"})
      EXPECT_NE(what.find(part), std::string::npos) << "missing \"" << part << "\" in: " << what;
  }
  try {
    cache.get(key_of(20, false));
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(", no bias epilogue (status 15)"), std::string::npos) << e.what();
  }
  MatmulKey fp32 = key_of(20);
  fp32.ab = fp32.d = DType::f32;
  try {
    cache.get(fp32);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("A and B fp32, D fp32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.size(), 0u) << "a refused key was remembered";
  world.nothing_for_m.clear();
  EXPECT_NO_THROW(cache.get(key_of(20, true))) << "a refusal is asked again next time";
}

TEST(MatmulPlanCache, APlannerFailurePropagatesAndLeavesNothing) {
  FakeWorld world;
  world.throw_for_m = {40};
  MatmulPlanCache<FakePlanner> cache(FakePlanner{&world});
  EXPECT_THROW(cache.get(key_of(40, true)), std::runtime_error);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(world.live.empty());
}

TEST(PointerAlignment, TheLargestPowerOfTwoUpTo256) {
  alignas(256) static unsigned char buffer[1024];
  EXPECT_EQ(pointer_alignment(buffer), 256u);
  EXPECT_EQ(pointer_alignment(buffer + 512), 256u);
  EXPECT_EQ(pointer_alignment(buffer + 128), 128u);
  EXPECT_EQ(pointer_alignment(buffer + 2), 2u);
  EXPECT_EQ(pointer_alignment(buffer + 24), 8u);
  EXPECT_EQ(pointer_alignment(buffer + 1), 1u);
  EXPECT_EQ(pointer_alignment(nullptr), 256u);
}

}  // namespace
}  // namespace gpt::cuda
