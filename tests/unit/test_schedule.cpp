#include <gtest/gtest.h>

#include <cmath>

#include "train/optimizer.h"
#include "train/schedule.h"

namespace gpt {
namespace {

OptimConfig optim(Schedule s) {
  OptimConfig o;
  o.lr = 1e-3;
  o.min_lr = 1e-4;
  o.warmup_steps = 10;
  o.schedule = s;
  return o;
}

TEST(Schedule, LinearWarmupReachesPeakAtTheLastWarmupStep) {
  const OptimConfig o = optim(Schedule::cosine);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 0), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 4), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 9), 1e-3);
}

TEST(Schedule, CosineFallsToMinLrAtMaxSteps) {
  const OptimConfig o = optim(Schedule::cosine);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 10), 1e-3);
  EXPECT_NEAR(learning_rate(o, 110, 60), 0.5 * (1e-3 + 1e-4), 1e-15);
  EXPECT_NEAR(learning_rate(o, 110, 110), 1e-4, 1e-15);
  EXPECT_NEAR(learning_rate(o, 110, 500), 1e-4, 1e-15);  // stays at the floor
  for (int s = 11; s < 110; ++s) EXPECT_LT(learning_rate(o, 110, s), learning_rate(o, 110, s - 1));
}

TEST(Schedule, DecayStepsCountsWarmupLikeOptax) {
  OptimConfig o = optim(Schedule::cosine);
  o.decay_steps = 50;
  EXPECT_NEAR(learning_rate(o, 1000, 30), 0.5 * (1e-3 + 1e-4), 1e-15);
  EXPECT_NEAR(learning_rate(o, 1000, 50), 1e-4, 1e-15);
}

TEST(Schedule, LinearAndConstant) {
  EXPECT_NEAR(learning_rate(optim(Schedule::linear), 110, 60), 0.5 * (1e-3 + 1e-4), 1e-15);
  EXPECT_NEAR(learning_rate(optim(Schedule::linear), 110, 35), 1e-3 - 0.25 * 9e-4, 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate(optim(Schedule::constant), 110, 100), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(optim(Schedule::constant), 110, 5), 6e-4);  // warmup still applies
}

// Warmup-stable-decay: 100 steps after warmup, the last 20 of them falling linearly to min_lr.
TEST(Schedule, WarmupStableDecayHoldsThenFallsOverTheLastFraction) {
  OptimConfig o = optim(Schedule::wsd);
  o.decay_fraction = 0.2;
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 9), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 50), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 90), 1e-3);
  EXPECT_NEAR(learning_rate(o, 110, 100), 0.5 * (1e-3 + 1e-4), 1e-15);
  EXPECT_NEAR(learning_rate(o, 110, 110), 1e-4, 1e-15);
  for (int s = 91; s <= 110; ++s) EXPECT_LT(learning_rate(o, 110, s), learning_rate(o, 110, s - 1));
}

TEST(Clipping, ScaleBringsTheNormToTheLimit) {
  EXPECT_EQ(clip_scale(0.5, 1.0), 1.0);
  EXPECT_EQ(clip_scale(5.0, 0.0), 1.0);  // 0 disables clipping
  EXPECT_NEAR(clip_scale(4.0, 1.0) * 4.0, 1.0, 1e-6);
}

}  // namespace
}  // namespace gpt
