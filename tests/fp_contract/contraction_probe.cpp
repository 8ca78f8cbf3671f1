// Prints the numbers the GPU tests compare (tests/cuda/test_actor_gpu.cpp, test_env_step_gpu.cpp)
// from the CPU code, one "key value" line each. Built twice: plainly, and with fused multiply-adds
// (-mfma -ffp-contract=fast), which nvcc emits by default on the GPU. compare.py checks that the
// two agree within the GPU tests' tolerances: float arithmetic whose decisions hinge on exact
// rounding (a comparison of a difference against a tiny threshold, say) fails here, on any CI
// machine, before it fails on a GPU.
//
//   actor: 128 Ballbot problems, the DMPC cost with a random critic, 3 warm-started control steps
//          of 2 iLQR iterations, a quarter of them with the horizon at the episode's end;
//          prints u₀ and the first knot's gains.
//   env:   64 Ballbots under the quadratic MPC actor for a whole episode (150 control steps) with
//          process noise; prints every state after every step, the costs and end reasons.
#include <cstdio>
#include <utility>
#include <vector>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/batch_env.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {
namespace {

using Bot = Ballbot<float>;

void actor_probe() {
  ConfigReader r = ConfigReader::from_string("", "<probe>");
  const EnvConfig env = read_env_config(r);
  ActorSettings a = read_actor_settings(r);
  a.solver.max_iterations = 2;
  const Bot bot;
  const auto params = make_cost_params(bot, a, env.input_weight, env.task.cost, env.task.binary_goal_radius);
  const ValueNetwork net = random_value_network({13, 12, 3}, 5, 3.0);
  const std::vector<float> weights(net.params.begin(), net.params.end());
  const int batch = 128;
  std::vector<Bot::State> x(batch);
  std::vector<float> tau(batch), goal(2 * batch), u(batch * 3);
  for (int i = 0; i < batch; ++i) {
    x[i] = bot.rest_state(-1.0f + 2.0f * float(i) / batch, -0.8f);
    x[i][3] += 0.02f * float(i % 3);
    tau[i] = i % 4 == 0 ? 0.5f : 3.0f;
    goal[2 * i] = 0.0f;
    goal[2 * i + 1] = 0.8f;
  }
  ThreadPool pool(1);
  BatchActor<Bot> actor(bot, a, params, env.task.input_limit, batch, pool);
  actor.set_value({net.shape, weights.data()});
  for (int step = 0; step < 3; ++step) {
    actor.solve(x.data(), tau.data(), goal.data(), u.data());
    for (int i = 0; i < batch; ++i) {
      for (int j = 0; j < 3; ++j) std::printf("actor.u.%d.%d.%d %.9g\n", step, i, j, double(u[i * 3 + j]));
      const auto& K = std::as_const(actor).knot(static_cast<size_t>(i), 0).K;
      for (int row = 0; row < 3; ++row)
        for (int col = 0; col < 10; ++col)
          std::printf("actor.K.%d.%d.%d.%d %.9g\n", step, i, row, col, double(K(row, col)));
    }
    actor.shift(1);
  }
}

void env_probe() {
  ConfigReader reader = ConfigReader::from_string("[task]\nwalls = []\n[actor]\ncost = \"quadratic\"\n", "<probe>");
  const EnvConfig cfg = read_env_config(reader);
  const ActorSettings a = read_actor_settings(reader);
  const TaskParams<float> task = cfg.task.cast<float>();
  const auto noise = make_noise_model<3>(cfg.process_noise, cfg.input_weight).cast<float>();
  const int batch = 64;
  const Bot bot;
  const auto params = make_cost_params(bot, a, cfg.input_weight, cfg.task.cost, cfg.task.binary_goal_radius);
  ThreadPool pool(1);
  BatchEnv<Bot> env(bot, task, noise, 2024, batch, pool);
  env.reset(0);
  BatchActor<Bot> actor(bot, a, params, cfg.task.input_limit, batch, pool);
  std::vector<Bot::State> x(batch);
  std::vector<float> tau(batch), goal(2 * batch), u(batch * 3);
  for (int step = 0; step < task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) {
      const Episode<Bot>& ep = env.episode(i);
      x[i] = ep.x;
      tau[i] = task.duration - float(ep.step) * task.control_period;
      goal[2 * i] = ep.goal_x;
      goal[2 * i + 1] = ep.goal_y;
    }
    actor.solve(x.data(), tau.data(), goal.data(), u.data());
    actor.shift(1);
    env.step(u.data());
    for (int i = 0; i < batch; ++i) {
      std::printf("env.reason.%d.%d %d\n", step, i, static_cast<int>(env.reason()[i]));
      std::printf("env.stage.%d.%d %.9g\n", step, i, double(env.stage_cost()[i]));
      std::printf("env.terminal.%d.%d %.9g\n", step, i, double(env.terminal_cost()[i]));
      for (int j = 0; j < 10; ++j) std::printf("env.x.%d.%d.%d %.9g\n", step, i, j, double(env.episode(i).x[j]));
    }
  }
}

}  // namespace
}  // namespace dmpc

int main() {
  dmpc::actor_probe();
  dmpc::env_probe();
  return 0;
}
