#include <gtest/gtest.h>

#include <filesystem>

#include "core/actor_config.hpp"
#include "envs/task/task_config.hpp"
#include "trainer/train_config.hpp"

namespace dmpc {
namespace {

std::string load_error(const std::string& text) {
  try {
    ConfigReader r = ConfigReader::from_string(text, "c.toml");
    read_run_config(r);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// configs/default.toml spells out the built-in defaults: both must agree.
TEST(TaskConfig, DefaultFileEqualsBuiltInDefaults) {
  ConfigReader file = ConfigReader::from_file(DMPC_SOURCE_DIR "/configs/default.toml");
  const EnvConfig a = read_run_config(file).env;
  ConfigReader empty = ConfigReader::from_string("", "<empty>");
  const EnvConfig b = read_env_config(empty);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.system, b.system);
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.process_noise, b.process_noise);
  EXPECT_EQ(a.input_weight, b.input_weight);
  EXPECT_EQ(a.eval_starts, b.eval_starts);
  EXPECT_EQ(a.eval_goal, b.eval_goal);
  const TaskParams<double>& x = a.task;
  const TaskParams<double>& y = b.task;
  EXPECT_EQ(x.steps_per_episode, 150);
  EXPECT_EQ(x.steps_per_episode, y.steps_per_episode);
  EXPECT_EQ(x.substeps, y.substeps);
  EXPECT_EQ(x.cost, y.cost);
  EXPECT_EQ(x.penalty, y.penalty);
  EXPECT_EQ(x.fall_angle, y.fall_angle);
  EXPECT_EQ(x.input_limit, y.input_limit);
  EXPECT_EQ(x.wall_count, y.wall_count);
  EXPECT_EQ(x.walls[0].x0, y.walls[0].x0);
  EXPECT_EQ(x.walls[0].thickness, y.walls[0].thickness);
  EXPECT_EQ(x.start_y.lo, y.start_y.lo);
  EXPECT_EQ(x.goal_y.hi, y.goal_y.hi);
  EXPECT_EQ(x.arena_half_x, y.arena_half_x);
  EXPECT_EQ(x.free_start_goal_distance.hi, y.free_start_goal_distance.hi);
  EXPECT_EQ(x.free_start_goal_distance.hi, 0.0);  // off by default
  EXPECT_EQ(a.eval_starts.size(), 8u);
}

// The [actor] section of configs/default.toml restates the built-in actor defaults.
TEST(ActorConfig, DefaultFileEqualsBuiltInDefaults) {
  ConfigReader file = ConfigReader::from_file(DMPC_SOURCE_DIR "/configs/default.toml");
  const ActorSettings a = read_run_config(file).actor;
  ConfigReader empty = ConfigReader::from_string("", "<empty>");
  const ActorSettings b = read_actor_settings(empty);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.horizon, b.horizon);
  EXPECT_EQ(a.knot_dt, b.knot_dt);
  EXPECT_EQ(a.knots(), 50);
  EXPECT_EQ(a.discount, b.discount);
  EXPECT_EQ(a.discount_consistent, b.discount_consistent);
  EXPECT_EQ(a.hessian, b.hessian);
  EXPECT_EQ(a.ridge, b.ridge);
  EXPECT_EQ(a.terminal_smoothing, b.terminal_smoothing);
  EXPECT_EQ(a.task_running_cost, b.task_running_cost);
  EXPECT_EQ(a.final_task_running, b.final_task_running);
  EXPECT_FALSE(a.final_task_running);
  EXPECT_EQ(a.upright, b.upright);
  EXPECT_EQ(a.ballbot_q, b.ballbot_q);
  EXPECT_EQ(a.ballbot_qf, b.ballbot_qf);
  EXPECT_EQ(a.point_mass_q, b.point_mass_q);
  EXPECT_EQ(a.solver.max_iterations, b.solver.max_iterations);
  EXPECT_EQ(a.solver.integrator, b.solver.integrator);
  EXPECT_EQ(a.solver.mu_init, b.solver.mu_init);
  EXPECT_EQ(a.solver.mu_min, b.solver.mu_min);
  EXPECT_EQ(a.solver.mu_max, b.solver.mu_max);
  EXPECT_EQ(a.solver.alpha_min, b.solver.alpha_min);
  EXPECT_EQ(a.solver.armijo, b.solver.armijo);
  EXPECT_EQ(a.solver.tolerance, b.solver.tolerance);
}

TEST(ActorConfig, BadValuesNameTheKey) {
  EXPECT_NE(load_error("[actor]\nhorizon = 1.01\n").find("actor.horizon"), std::string::npos);
  EXPECT_NE(load_error("[actor]\ncost = \"mppi\"\n").find("actor.cost"), std::string::npos);
  EXPECT_NE(load_error("[actor]\nfinal_running_cost = \"eq14\"\n").find("actor.final_running_cost"),
            std::string::npos);
  EXPECT_NE(load_error("[actor]\nupright_weights = [1, 2]\n").find("actor.upright_weights"),
            std::string::npos);
  EXPECT_NE(load_error("[actor.solver]\nalpha_decrease = 1.5\n").find("actor.solver.alpha_decrease"),
            std::string::npos);
  EXPECT_EQ(load_error("[actor]\nhorizn = 1\n"), "c.toml: unknown key actor.horizn");
}

// configs/default.toml restates the built-in critic and training defaults.
TEST(TrainConfig, DefaultFileEqualsBuiltInDefaults) {
  ConfigReader file = ConfigReader::from_file(DMPC_SOURCE_DIR "/configs/default.toml");
  const RunConfig a = read_run_config(file);
  ConfigReader empty = ConfigReader::from_string("", "<empty>");
  const RunConfig b = read_run_config(empty);
  EXPECT_EQ(a.critic.width, b.critic.width);
  EXPECT_EQ(a.critic.depth, b.critic.depth);
  EXPECT_EQ(a.critic.learning_rate, b.critic.learning_rate);
  EXPECT_EQ(a.critic.weight_decay, b.critic.weight_decay);
  EXPECT_EQ(a.critic.polyak, b.critic.polyak);
  EXPECT_EQ(a.critic.n_step, b.critic.n_step);
  EXPECT_EQ(a.critic.input_offset, b.critic.input_offset);
  EXPECT_EQ(a.critic.input_scale, b.critic.input_scale);
  EXPECT_EQ(a.train.iterations, b.train.iterations);
  EXPECT_EQ(a.train.minibatches, b.train.minibatches);
  EXPECT_EQ(a.train.minibatch_size, b.train.minibatch_size);
  EXPECT_EQ(a.train.replay_capacity, b.train.replay_capacity);
  EXPECT_EQ(a.train.warmup_iterations, b.train.warmup_iterations);
  EXPECT_EQ(a.train.eval_every, b.train.eval_every);
  EXPECT_EQ(a.train.checkpoint_every, b.train.checkpoint_every);
  EXPECT_EQ(a.resolved, b.resolved);
}

// The lean of the path features' look-ahead point is on by default for the Ballbot only, and only
// with path features; the point mass (no body) and a run without path features default to 0.
TEST(TrainConfig, PathBodyGainDefaultsPerSystem) {
  auto gain = [](const std::string& text) {
    ConfigReader r = ConfigReader::from_string(text, "c.toml");
    return read_run_config(r).critic.path_body_gain;
  };
  EXPECT_EQ(gain(""), 1.0);
  EXPECT_EQ(gain("[env]\nsystem = \"point_mass\"\n"), 0.0);
  EXPECT_EQ(gain("[critic]\npath_lookahead = []\n"), 0.0);
  EXPECT_EQ(gain("[critic]\npath_body_gain = 0.5\n"), 0.5);
}

// The cosine schedule starts at the configured rate, ends at the final ratio of it in the last
// iteration, passes the mean of the two half-way, and falls monotonically; constant stays put.
TEST(TrainConfig, CriticLearningRateSchedule) {
  ConfigReader r = ConfigReader::from_string(
      "[critic]\nlearning_rate = 2e-3\nlearning_rate_schedule = \"cosine\"\nlearning_rate_final_ratio = 0.25\n",
      "c.toml");
  const CriticSettings c = read_run_config(r).critic;
  EXPECT_DOUBLE_EQ(critic_learning_rate(c, 0, 101), 2e-3);
  EXPECT_DOUBLE_EQ(critic_learning_rate(c, 50, 101), 0.5 * (2e-3 + 0.5e-3));
  EXPECT_DOUBLE_EQ(critic_learning_rate(c, 100, 101), 0.5e-3);
  EXPECT_DOUBLE_EQ(critic_learning_rate(c, 500, 101), 0.5e-3);
  for (int64_t i = 1; i < 101; ++i)
    EXPECT_LT(critic_learning_rate(c, i, 101), critic_learning_rate(c, i - 1, 101)) << i;
  EXPECT_DOUBLE_EQ(critic_learning_rate(c, 0, 1), 2e-3);
  CriticSettings constant = c;
  constant.learning_rate_schedule = "constant";
  EXPECT_DOUBLE_EQ(critic_learning_rate(constant, 100, 101), 2e-3);
  EXPECT_NE(load_error("[critic]\nlearning_rate_schedule = \"step\"\n").find("critic.learning_rate_schedule"),
            std::string::npos);
  EXPECT_NE(load_error("[critic]\nlearning_rate_final_ratio = 0\n").find("critic.learning_rate_final_ratio"),
            std::string::npos);
}

// paper_settings_toml() (the benchmarks' and the GPU agreement checks' configuration) is
// configs/paper.toml: the paper's 3 × 12 critic with no inputs beyond (τ, s, g), and so on.
TEST(TrainConfig, PaperSettingsEqualConfigsPaperToml) {
  ConfigReader file = ConfigReader::from_file(DMPC_SOURCE_DIR "/configs/paper.toml");
  ConfigReader text = ConfigReader::from_string(paper_settings_toml(), "<paper settings>");
  const RunConfig a = read_run_config(file), b = read_run_config(text);
  EXPECT_EQ(a.resolved, b.resolved);
  EXPECT_EQ(b.critic.width, 12);
  EXPECT_FALSE(b.critic.wall_features);
  EXPECT_EQ(b.critic.path_body_gain, 0.0);
  EXPECT_EQ(b.env.task.free_start_fraction, 0.0);
  EXPECT_EQ(b.actor.upright, (std::vector<double>{50, 50, 5, 5, 1}));
}

// Every shipped configuration is valid.
TEST(TrainConfig, EveryShippedConfigurationLoads) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DMPC_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    ConfigReader r = ConfigReader::from_file(entry.path().string());
    EXPECT_NO_THROW(read_run_config(r)) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 9);
}

// The resolved configuration holds every setting and reads back to the same settings.
TEST(TaskConfig, ResolvedConfigurationReadsBackToTheSameSettings) {
  ConfigReader first = ConfigReader::from_string(
      "[task]\ncost = \"binary\"\n[actor]\nhorizon = 0.5\n", "c.toml");
  const EnvConfig a = read_env_config(first);
  const ActorSettings aa = read_actor_settings(first);
  first.finish();
  const std::string resolved = first.resolved_toml();
  EXPECT_NE(resolved.find("penalty = 20"), std::string::npos) << resolved;  // a default
  EXPECT_NE(resolved.find("walls"), std::string::npos) << resolved;
  ConfigReader second = ConfigReader::from_string(resolved, "resolved.toml");
  const EnvConfig b = read_env_config(second);
  const ActorSettings bb = read_actor_settings(second);
  ASSERT_NO_THROW(second.finish());
  EXPECT_EQ(second.resolved_toml(), resolved);
  EXPECT_EQ(b.task.cost, CostKind::kBinary);
  EXPECT_EQ(b.task.wall_count, a.task.wall_count);
  EXPECT_EQ(b.task.walls[0].x1, a.task.walls[0].x1);
  EXPECT_EQ(b.eval_starts, a.eval_starts);
  EXPECT_EQ(bb.horizon, 0.5);
  EXPECT_EQ(bb.upright, aa.upright);
}

TEST(TaskConfig, BadInputIsRejectedWithTheKeyNamed) {
  EXPECT_EQ(load_error("[task]\npenalty = -1\n"),
            "c.toml: task.penalty: -1 is out of range [0, 1000000000]");
  EXPECT_EQ(load_error("[task]\ncolor = 1\n"), "c.toml: unknown key task.color");
  EXPECT_EQ(load_error("[env]\nsystem = \"segway\"\n"),
            "c.toml: env.system: \"segway\" is not one of ballbot, point_mass");
  EXPECT_NE(load_error("[task]\nduration = 3.01\n").find("task.duration"), std::string::npos);
  EXPECT_NE(load_error("[task]\ncontrol_period = 0\n").find("task.control_period: must be greater"),
            std::string::npos);
  EXPECT_NE(load_error("[task]\nwalls = [{from = [0, 0], to = [1, 0]}]\n")
                .find("task.walls[0].thickness: missing"),
            std::string::npos);
  EXPECT_NE(load_error("[task.start]\npx = [1.0, -1.0]\n").find("task.start.px"),
            std::string::npos);
  // Time left up to 4 T (the episode then starts before t = 0), not beyond.
  EXPECT_EQ(load_error("[task.start]\nfree_time_left = [2.0, 12.0]\n"), "");
  EXPECT_NE(load_error("[task.start]\nfree_time_left = [2.0, 12.5]\n").find("task.start.free_time_left"),
            std::string::npos);
  EXPECT_EQ(load_error("[task.start]\nfree_goal_distance = [0.2, 1.5]\n"), "");
  EXPECT_NE(load_error("[task.start]\nfree_goal_distance = [-0.2, 1.5]\n").find("task.start.free_goal_distance"),
            std::string::npos);
  EXPECT_NE(load_error("[task.start]\nfree_goal_distance = [1.5, 0.2]\n").find("task.start.free_goal_distance"),
            std::string::npos);
  EXPECT_NE(load_error("[task.eval]\nstarts = [[0, 0, 0]]\n").find("task.eval.starts[0]"),
            std::string::npos);
  EXPECT_NE(load_error("[env.ballbot]\ninput_weight = [1, 0, 1]\n").find("input_weight[1]"),
            std::string::npos);
}

TEST(TaskConfig, WallsAndSystemAreRead) {
  ConfigReader r = ConfigReader::from_string(
      "[env]\nsystem = \"point_mass\"\n[task]\ncost = \"binary\"\nwalls = []\n", "c.toml");
  const EnvConfig c = read_env_config(r);
  ASSERT_NO_THROW(r.finish());
  EXPECT_EQ(c.system, "point_mass");
  EXPECT_EQ(c.task.wall_count, 0);
  EXPECT_EQ(c.task.cost, CostKind::kBinary);
  EXPECT_EQ(c.task.input_limit, 5.0);
  EXPECT_EQ(c.input_weight.size(), 2u);
}

}  // namespace
}  // namespace dmpc
