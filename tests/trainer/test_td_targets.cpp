// Critic targets on hand-made episodes: every termination case of shared/spec/dmpc.md, exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "trainer/td_targets.hpp"

namespace dmpc {
namespace {

constexpr double kDt = 0.02, kGamma = 0.9;
const double kStep = std::pow(kGamma, kDt);  // γ^δt

std::vector<EpisodeStep> episode(int length, EndReason end, double terminal) {
  std::vector<EpisodeStep> ep;
  for (int t = 0; t < length; ++t)
    ep.push_back({3.0 - t * kDt, 0.01 * (t + 1), 0.0, EndReason::kRunning});
  ep.back().reason = end;
  ep.back().terminal_cost = terminal;
  return ep;
}

TEST(TdTargets, OneStepTargetsForEveryCase) {
  for (EndReason end : {EndReason::kWallCollision, EndReason::kOutOfArena, EndReason::kFall,
                        EndReason::kNumericalFailure, EndReason::kTimeout}) {
    const std::vector<EpisodeStep> ep = episode(4, end, 20.0);
    const std::vector<TdTarget> y = n_step_targets(ep, 1, kGamma, kDt);
    ASSERT_EQ(y.size(), 4u);
    for (int t = 0; t < 3; ++t) {  // the episode goes on: c δt + γ^δt V⁻(τ − δt, s′, g)
      EXPECT_DOUBLE_EQ(y[t].partial, ep[t].stage_cost);
      EXPECT_TRUE(y[t].bootstrap);
      EXPECT_DOUBLE_EQ(y[t].discount, kStep);
      EXPECT_EQ(y[t].boot_step, t + 1);
      EXPECT_DOUBLE_EQ(y[t].boot_tau, ep[t].tau - kDt);
    }
    EXPECT_FALSE(y[3].bootstrap);
    if (end == EndReason::kTimeout) {  // c δt + γ^δt q_f(s′)
      EXPECT_DOUBLE_EQ(y[3].partial, ep[3].stage_cost + kStep * 20.0);
    } else {  // c δt + penalty
      EXPECT_DOUBLE_EQ(y[3].partial, ep[3].stage_cost + 20.0);
    }
  }
}

TEST(TdTargets, NStepTargetsSumDiscountedCostsAndStopAtTheEnd) {
  const std::vector<EpisodeStep> ep = episode(6, EndReason::kWallCollision, 20.0);
  const std::vector<TdTarget> y = n_step_targets(ep, 3, kGamma, kDt);
  // t = 0: three stage costs, then bootstrap from s_3 with γ^(3δt).
  EXPECT_NEAR(y[0].partial, 0.01 + kStep * 0.02 + kStep * kStep * 0.03, 1e-15);
  EXPECT_TRUE(y[0].bootstrap);
  EXPECT_NEAR(y[0].discount, std::pow(kGamma, 3 * kDt), 1e-15);
  EXPECT_EQ(y[0].boot_step, 3);
  EXPECT_NEAR(y[0].boot_tau, 3.0 - 3 * kDt, 1e-15);
  // t = 4: the collision two steps on ends the sum; the penalty enters like the last stage cost.
  EXPECT_NEAR(y[4].partial, 0.05 + kStep * (0.06 + 20.0), 1e-15);
  EXPECT_FALSE(y[4].bootstrap);
  // t = 3: exactly n steps to the end.
  EXPECT_NEAR(y[3].partial, 0.04 + kStep * 0.05 + kStep * kStep * (0.06 + 20.0), 1e-15);
  EXPECT_FALSE(y[3].bootstrap);
}

TEST(TdTargets, TimeoutWithinNStepsDiscountsTheTerminalCostOnceMore) {
  const std::vector<EpisodeStep> ep = episode(3, EndReason::kTimeout, 0.7);
  const std::vector<TdTarget> y = n_step_targets(ep, 5, kGamma, kDt);
  EXPECT_NEAR(y[0].partial, 0.01 + kStep * 0.02 + kStep * kStep * (0.03 + kStep * 0.7), 1e-15);
  EXPECT_FALSE(y[0].bootstrap);
}

// The parallel insertion's slots against appending one at a time to a ring (what
// ReplayBuffer::add does in chunks): the same final ring for every batch size, start and overflow.
TEST(ReplaySlots, ParallelInsertionEqualsAppendingInOrder) {
  for (int64_t capacity : {1, 5, 16}) {
    for (int64_t next = 0; next < capacity; ++next) {
      for (int64_t total : {0, 1, 3, 5, 16, 17, 40}) {
        std::vector<int64_t> sequential(static_cast<size_t>(capacity), -1), parallel = sequential;
        int64_t at = next;
        for (int64_t g = 0; g < total; ++g) {
          sequential[static_cast<size_t>(at)] = g;
          at = (at + 1) % capacity;
        }
        for (int64_t g = 0; g < total; ++g) {
          const int64_t slot = replay_slot(g, total, next, capacity);
          if (slot < 0) continue;
          ASSERT_LT(slot, capacity);
          ASSERT_EQ(parallel[static_cast<size_t>(slot)], -1) << "two transitions share slot " << slot;
          parallel[static_cast<size_t>(slot)] = g;
        }
        EXPECT_EQ(parallel, sequential) << "capacity " << capacity << ", next " << next << ", total " << total;
      }
    }
  }
}

}  // namespace
}  // namespace dmpc
