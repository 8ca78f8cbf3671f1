// The batched CPU actor: the same results as one-at-a-time solves, whatever the thread count.
#include <gtest/gtest.h>

#include <vector>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {
namespace {

using Bot = Ballbot<double>;

struct Fixture {
  ActorSettings settings;
  EnvConfig env;
  ValueNetwork net = random_value_network({13, 12, 3}, 9, 5.0);
  std::vector<Bot::State> x;
  std::vector<double> tau, goal;

  explicit Fixture(size_t batch) {
    ConfigReader r = ConfigReader::from_string("", "<test>");
    env = read_env_config(r);
    settings = read_actor_settings(r);
    settings.horizon = 0.5;
    settings.knot_dt = 0.05;
    settings.solver.max_iterations = 2;
    const Bot bot;
    for (size_t i = 0; i < batch; ++i) {
      Bot::State s = bot.rest_state(-1.0 + 0.1 * double(i), -0.8);
      s[3] += 0.01 * double(i % 5);
      x.push_back(s);
      tau.push_back(i % 3 == 0 ? 0.3 : 2.0);  // some problems have their horizon shrunk
      goal.push_back(0.1 * double(i % 4));
      goal.push_back(0.8);
    }
  }
};

// Three control steps with warm starts; u0 of every problem equals a solve of that problem alone.
TEST(BatchActor, BatchedEqualsOneAtATimeForAnyThreadCount) {
  const size_t batch = 9;
  Fixture f(batch);
  const Bot bot;
  const auto params = make_cost_params(bot, f.settings, f.env.input_weight, f.env.task.cost,
                                       f.env.task.binary_goal_radius);
  std::vector<std::vector<double>> reference;
  for (size_t threads : {1u, 2u, 4u}) {
    ThreadPool pool(threads);
    BatchActor<Bot> actor(bot, f.settings, params, 10.0, batch, pool);
    actor.set_value({f.net.shape, f.net.params.data()});
    std::vector<double> u(batch * 3), all;
    for (int step = 0; step < 3; ++step) {
      actor.solve(f.x.data(), f.tau.data(), f.goal.data(), u.data());
      all.insert(all.end(), u.begin(), u.end());
      actor.shift(1);
    }
    reference.push_back(all);
  }
  EXPECT_EQ(reference[0], reference[1]);
  EXPECT_EQ(reference[0], reference[2]);

  // Each problem alone, in a batch of one.
  ThreadPool pool(1);
  for (size_t i = 0; i < batch; ++i) {
    BatchActor<Bot> single(bot, f.settings, params, 10.0, 1, pool);
    single.set_value({f.net.shape, f.net.params.data()});
    std::vector<double> u(3);
    for (int step = 0; step < 3; ++step) {
      single.solve(&f.x[i], &f.tau[i], &f.goal[2 * i], u.data());
      for (int j = 0; j < 3; ++j)
        EXPECT_EQ(u[j], reference[0][step * batch * 3 + i * 3 + j]) << "problem " << i;
      single.shift(1);
    }
  }
}

TEST(BatchActor, HorizonShrinksAtTheEndOfTheEpisode) {
  Fixture f(1);
  const Bot bot;
  const auto params = make_cost_params(bot, f.settings, f.env.input_weight, f.env.task.cost,
                                       f.env.task.binary_goal_radius);
  ThreadPool pool(1);
  BatchActor<Bot> actor(bot, f.settings, params, 10.0, 1, pool);
  EXPECT_EQ(actor.knots(), 10);
  EXPECT_EQ(actor.horizon_knots(2.0), 10);
  EXPECT_EQ(actor.horizon_knots(0.3), 6);
  EXPECT_EQ(actor.horizon_knots(0.02), 1);
}

}  // namespace
}  // namespace dmpc
