// The task's rules (shared/spec/task.md): collisions, costs, termination, success, sampling.
#include <gtest/gtest.h>

#include <cmath>

#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "envs/task/episode.hpp"
#include "envs/task/task.hpp"

namespace dmpc {
namespace {

using PM = PointMass<double>;
const TaskParams<double> kTask{};  // the spec's defaults

TEST(Task, WallCollisionInsideOutsideTouching) {
  // Default wall: segment (−0.6, 0)–(0.6, 0), 0.1 thick, clearance 0.2 → collide within 0.25.
  EXPECT_TRUE(hits_wall(kTask, 0.0, 0.0));     // on the wall
  EXPECT_TRUE(hits_wall(kTask, 0.3, 0.2));     // within the clearance, beside it
  EXPECT_TRUE(hits_wall(kTask, 0.0, -0.25));   // touching: exactly 0.25 from the centre line
  EXPECT_FALSE(hits_wall(kTask, 0.0, -0.2501));
  EXPECT_FALSE(hits_wall(kTask, 0.0, 0.26));
  // Past the segment's end the distance is to the end point: (0.6 + 0.25, 0) touches.
  EXPECT_TRUE(hits_wall(kTask, 0.85, 0.0));
  EXPECT_FALSE(hits_wall(kTask, 0.6 + 0.18, 0.18));  // √(0.18² + 0.18²) ≈ 0.2546 > 0.25
  EXPECT_TRUE(hits_wall(kTask, 0.6 + 0.17, 0.17));   // ≈ 0.2404
}

TEST(Task, ArenaEdgeIsInsideAndBeyondIsCollision) {
  EXPECT_FALSE(outside_arena(kTask, 1.6, -1.6));
  EXPECT_TRUE(outside_arena(kTask, 1.6001, 0.0));
  EXPECT_TRUE(outside_arena(kTask, 0.0, -1.7));
  EXPECT_EQ(termination(kTask, 0.0, 1.7, 0.0), EndReason::kOutOfArena);
  EXPECT_EQ(termination(kTask, 0.0, 0.1, 0.0), EndReason::kWallCollision);
  EXPECT_EQ(termination(kTask, 1.0, 1.0, 0.51), EndReason::kFall);
  EXPECT_EQ(termination(kTask, 1.0, 1.0, 0.5), EndReason::kRunning);
}

TEST(Task, DenseAndBinaryCosts) {
  TaskParams<double> binary = kTask;
  binary.cost = CostKind::kBinary;
  EXPECT_DOUBLE_EQ(running_cost(kTask, 0.3, 0.4, 0.0, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(running_cost(binary, 0.3, 0.4, 0.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(running_cost(binary, 0.09, 0.12, 0.0, 0.0), 0.0);  // exactly 0.15: inside
  EXPECT_DOUBLE_EQ(running_cost(binary, 0.0, 0.1501, 0.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(terminal_cost(kTask, 1.0, 0.8, 1.0, 0.0), 0.8);
  EXPECT_DOUBLE_EQ(terminal_cost(binary, 1.0, 0.8, 1.0, 0.0), 1.0);
}

// A point mass sent into the wall: the penalty is charged once, on the ending step; later steps
// cost nothing and change nothing.
TEST(Task, PenaltyIsChargedExactlyOnce) {
  const PM pm;
  Episode<PM> ep;
  begin_episode(pm, ep, 0, 0, 0.0, -0.6, 0.0, 0.8);
  const NoiseModel<double, 2> quiet;
  double stage_total = 0, terminal_total = 0;
  int ending_step = -1, charged_steps = 0;
  for (int k = 0; k < 200; ++k) {
    const StepOutcome<double> out = step_episode(pm, kTask, quiet, 1, ep, PM::Input{{0.0, 5.0}});
    stage_total += out.stage_cost;
    terminal_total += out.terminal_cost;
    charged_steps += out.terminal_cost > 0;
    if (out.reason != EndReason::kRunning && ending_step < 0) ending_step = k;
  }
  EXPECT_EQ(ep.reason, EndReason::kWallCollision);
  EXPECT_EQ(charged_steps, 1);
  EXPECT_DOUBLE_EQ(terminal_total, kTask.penalty);
  EXPECT_EQ(ep.step, ending_step + 1);
  EXPECT_DOUBLE_EQ(ep.total_cost, stage_total + terminal_total);
  EXPECT_FALSE(episode_succeeded(pm, kTask, ep));
}

// At rest on the goal: runs to T, ends by time-out with q_f, succeeds; the dense stage costs are 0.
TEST(Task, TimeoutChargesTerminalCostAndDecidesSuccess) {
  const PM pm;
  const NoiseModel<double, 2> quiet;
  Episode<PM> ep;
  begin_episode(pm, ep, 0, 0, 0.1, 0.8, 0.0, 0.8);
  int steps = 0;
  StepOutcome<double> out{};
  while (ep.reason == EndReason::kRunning) {
    out = step_episode(pm, kTask, quiet, 1, ep, PM::Input::zero());
    ++steps;
  }
  EXPECT_EQ(steps, 150);
  EXPECT_EQ(ep.reason, EndReason::kTimeout);
  EXPECT_NEAR(out.terminal_cost, 0.1, 1e-12);  // q_f = ‖p(T) − g‖
  EXPECT_NEAR(ep.total_cost, 150 * 0.1 * 0.02 + 0.1, 1e-12);
  EXPECT_TRUE(episode_succeeded(pm, kTask, ep));
  EXPECT_DOUBLE_EQ(ep.reach_time, 0.02);  // within 0.2 m after the first step

  // The same 0.25 m away: time-out but no success.
  begin_episode(pm, ep, 0, 0, 0.25, 0.8, 0.0, 0.8);
  while (ep.reason == EndReason::kRunning) step_episode(pm, kTask, quiet, 1, ep, PM::Input::zero());
  EXPECT_EQ(ep.reason, EndReason::kTimeout);
  EXPECT_FALSE(episode_succeeded(pm, kTask, ep));
  EXPECT_LT(ep.reach_time, 0.0);
}

TEST(Task, StageCostUsesTheStateAtTheStartOfThePeriodAndInputsAreClamped) {
  const PM pm;
  const NoiseModel<double, 2> quiet;
  TaskParams<double> task = kTask;
  task.input_limit = 5.0;  // the point mass's default limit
  Episode<PM> ep;
  begin_episode(pm, ep, 0, 0, 1.0, -1.0, 1.0, 0.0);
  const StepOutcome<double> out = step_episode(pm, task, quiet, 1, ep, PM::Input{{100.0, 0.0}});
  EXPECT_DOUBLE_EQ(out.stage_cost, 1.0 * 0.02);
  // Clamped to 5 N: four Euler substeps of 5 ms from rest give vx = 5 · 0.02 = 0.1.
  EXPECT_NEAR(ep.x[2], 0.1, 1e-12);
}

TEST(Task, BallbotFallsWithoutControl) {
  const Ballbot<double> bot;
  const NoiseModel<double, 3> quiet;
  Episode<Ballbot<double>> ep;
  begin_episode(bot, ep, 0, 0, 1.0, -1.0, 0.0, 0.8);
  ep.x[3] += 0.02;  // nudge off the balancing point
  while (ep.reason == EndReason::kRunning)
    step_episode(bot, kTask, quiet, 1, ep, Ballbot<double>::Input::zero());
  EXPECT_EQ(ep.reason, EndReason::kFall);
  EXPECT_GT(bot.tilt(ep.x), 0.5);
  EXPECT_LT(ep.step, 150);
}

TEST(Task, SampledStartsAndGoalsStayInTheirRanges) {
  double min_sx = 9, max_sx = -9;
  for (uint32_t id = 0; id < 2000; ++id) {
    const EpisodeStart<double> s = sample_episode(kTask, 5, id, 0);
    const double sx = s.x, sy = s.y, gx = s.goal_x, gy = s.goal_y;
    EXPECT_EQ(s.step, 0);
    EXPECT_TRUE(sx >= -1.2 && sx <= 1.2 && sy >= -1.2 && sy <= -0.5);
    EXPECT_TRUE(gx >= -0.4 && gx <= 0.4 && gy >= 0.6 && gy <= 1.0);
    min_sx = std::min(min_sx, sx);
    max_sx = std::max(max_sx, sx);
  }
  EXPECT_LT(min_sx, -1.15);  // the whole range is used
  EXPECT_GT(max_sx, 1.15);
  EXPECT_NE(sample_episode(kTask, 5, 7, 0).x, sample_episode(kTask, 5, 7, 1).x);  // a new episode draws anew
}

TEST(Task, FreeStartsAreClearOfWallsAndStartPartWayThrough) {
  TaskParams<double> task = kTask;
  task.free_start_fraction = 0.5;
  task.free_start_time_left = {1.0, 3.0};
  int free = 0, above_wall = 0;
  const int n = 4000;
  for (uint32_t id = 0; id < n; ++id) {
    const EpisodeStart<double> s = sample_episode(task, 5, id, 3);
    const EpisodeStart<double> plain = sample_episode(kTask, 5, id, 3);
    EXPECT_EQ(s.goal_x, plain.goal_x);  // the goal is drawn as without exploring starts
    if (s.x == plain.x && s.y == plain.y) {
      EXPECT_EQ(s.step, 0);
      continue;
    }
    ++free;
    above_wall += s.y > 0.3;
    EXPECT_TRUE(clear_of_obstacles(task, s.x, s.y, task.free_start_margin)) << s.x << ", " << s.y;
    // Time left T − step·δt lies in [1, 3] s (step rounded down to whole control periods).
    const double time_left = task.duration - s.step * task.control_period;
    EXPECT_GE(time_left, 1.0 - 1e-9);
    EXPECT_LE(time_left, 3.0 + 1e-9);
  }
  // About half start elsewhere (4000 draws: 5 standard errors of ±0.8 %), some of them beyond the wall.
  EXPECT_NEAR(free / double(n), 0.5, 0.04);
  EXPECT_GT(above_wall, n / 10);
}

// Exploring starts round the goal: the distance to the episode's goal uniform in [lo, hi]; still
// clear of the walls and in the arena; with hi = 0 the starts are those of the whole arena.
TEST(Task, FreeStartsRoundTheGoalAreUniformInDistance) {
  TaskParams<double> task = kTask;
  task.free_start_fraction = 1.0;
  task.free_start_time_left = {2.0, 3.0};
  task.free_start_goal_distance = {0.1, 1.1};
  const int n = 4000;
  int fallback = 0, near = 0, inner_half = 0;
  for (uint32_t id = 0; id < n; ++id) {
    const EpisodeStart<double> s = sample_episode(task, 11, id, 2);
    const EpisodeStart<double> plain = sample_episode(kTask, 11, id, 2);
    if (s.x == plain.x && s.y == plain.y) {  // 16 rejected draws: the task's own start (rare)
      ++fallback;
      continue;
    }
    const double distance = std::hypot(s.x - s.goal_x, s.y - s.goal_y);
    EXPECT_GE(distance, 0.1 - 1e-12);
    EXPECT_LE(distance, 1.1 + 1e-12);
    EXPECT_TRUE(clear_of_obstacles(task, s.x, s.y, task.free_start_margin)) << s.x << ", " << s.y;
    near += distance < 0.35;
    inner_half += distance < 0.6;
  }
  EXPECT_LT(fallback, n / 100);
  // Uniform in distance: a quarter of the range lies within 0.35 m, so about a quarter of the draws
  // (more, as the edge and the wall's zone cut more of the outer ring); uniform over the arena
  // would put about 4 % there (the disc's share of the arena's area).
  EXPECT_GT(near, n / 5);
  EXPECT_GT(inner_half, n * 45 / 100);
  // Off (hi = 0): over the whole arena again, so some starts lie farther than 1.1 m from the goal.
  TaskParams<double> arena = task;
  arena.free_start_goal_distance = {0.0, 0.0};
  int far = 0;
  for (uint32_t id = 0; id < 400; ++id) {
    const EpisodeStart<double> s = sample_episode(arena, 11, id, 2);
    far += std::hypot(s.x - s.goal_x, s.y - s.goal_y) > 1.1;
  }
  EXPECT_GT(far, 100);
}

// A time left above T starts the episode before t = 0 (a negative step): it runs
// (time left)/δt control periods to its time-out, T − step·δt counting down to 0 as always.
TEST(Task, FreeStartsWithMoreTimeThanTheEpisodeRunLonger) {
  TaskParams<double> task = kTask;
  task.free_start_fraction = 1.0;
  task.free_start_time_left = {4.0, 6.0};
  double lo = 1e9, hi = -1e9;
  for (uint32_t id = 0; id < 2000; ++id) {
    const EpisodeStart<double> s = sample_episode(task, 9, id, 1);
    const double time_left = task.duration - s.step * task.control_period;
    lo = std::min(lo, time_left);
    hi = std::max(hi, time_left);
  }
  EXPECT_GE(lo, 4.0 - 1e-9);
  EXPECT_LT(lo, 4.05);
  EXPECT_LE(hi, 6.0 + 0.02 + 1e-9);  // the step rounds down: up to one period more
  EXPECT_GT(hi, 5.95);

  const PM pm;
  const NoiseModel<double, 2> quiet;
  task.free_start_time_left = {5.0, 5.0};
  const EpisodeStart<double> s = sample_episode(task, 9, 3, 1);
  EXPECT_EQ(s.step, -100);
  Episode<PM> ep;
  begin_episode(pm, ep, 3, 1, 0.0, 0.8, 0.0, 0.8, s.step);  // on the goal, at rest
  int periods = 0;
  while (ep.reason == EndReason::kRunning) {
    step_episode(pm, task, quiet, 1, ep, PM::Input::zero());
    ++periods;
  }
  EXPECT_EQ(periods, 250);  // 5 s at 50 Hz
  EXPECT_EQ(ep.reason, EndReason::kTimeout);
  EXPECT_TRUE(episode_succeeded(pm, task, ep));
}

TEST(Task, MovingFreeStartsHaveBoundedSpeedsInEveryDirectionAndTheSamePositions) {
  TaskParams<double> resting = kTask;
  resting.free_start_fraction = 0.5;
  TaskParams<double> moving = resting;
  moving.free_start_speed = 0.8;
  int free = 0, quadrant[4] = {0, 0, 0, 0};
  double fastest = 0;
  const int n = 4000;
  for (uint32_t id = 0; id < n; ++id) {
    const EpisodeStart<double> a = sample_episode(resting, 9, id, 1);
    const EpisodeStart<double> s = sample_episode(moving, 9, id, 1);
    // Where and when is drawn as without the speed; only the velocity is added.
    EXPECT_EQ(a.x, s.x);
    EXPECT_EQ(a.y, s.y);
    EXPECT_EQ(a.step, s.step);
    EXPECT_EQ(a.vx, 0.0);
    EXPECT_EQ(a.vy, 0.0);
    const EpisodeStart<double> plain = sample_episode(kTask, 9, id, 1);
    if (s.x == plain.x && s.y == plain.y) {  // the task's own start: at rest
      EXPECT_EQ(s.vx, 0.0);
      EXPECT_EQ(s.vy, 0.0);
      continue;
    }
    ++free;
    const double speed = std::hypot(s.vx, s.vy);
    EXPECT_LE(speed, 0.8 + 1e-12);
    fastest = std::max(fastest, speed);
    ++quadrant[(s.vx >= 0 ? 0 : 1) + (s.vy >= 0 ? 0 : 2)];
  }
  EXPECT_GT(free, n / 3);
  EXPECT_GT(fastest, 0.75);
  for (int q = 0; q < 4; ++q) EXPECT_NEAR(quadrant[q] / double(free), 0.25, 0.04) << "quadrant " << q;
}

TEST(Task, MovingStartStatesCarryTheVelocity) {
  const PointMass<double> pm;
  Episode<PointMass<double>> ep;
  begin_episode(pm, ep, 0, 0, 0.5, -0.5, 0.0, 0.8, 30, 0.3, -0.4);
  EXPECT_EQ(ep.x[0], 0.5);
  EXPECT_EQ(ep.x[1], -0.5);
  EXPECT_EQ(ep.x[2], 0.3);
  EXPECT_EQ(ep.x[3], -0.4);
  const Ballbot<double> bot;
  Episode<Ballbot<double>> eb;
  begin_episode(bot, eb, 0, 0, 0.5, -0.5, 0.0, 0.8, 30, 0.3, -0.4);
  const auto rest = bot.rest_state(0.5, -0.5);
  for (int i = 0; i < 10; ++i) {
    const double expected = i == 5 ? 0.3 : i == 6 ? -0.4 : rest[i];
    EXPECT_EQ(eb.x[i], expected) << "state " << i;
  }
}

TEST(Task, EpisodeStartingPartWayEndsAtTheEpisodeDuration) {
  const PointMass<double> pm;
  Episode<PointMass<double>> ep;
  begin_episode(pm, ep, 0, 0, 1.0, 1.0, 1.0, 1.2, 140);  // 10 control steps left, at the goal
  const NoiseModel<double, 2> quiet;
  int steps = 0;
  while (ep.reason == EndReason::kRunning) {
    step_episode(pm, kTask, quiet, 1, ep, PointMass<double>::Input::zero());
    ++steps;
  }
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(ep.reason, EndReason::kTimeout);
}

}  // namespace
}  // namespace dmpc
