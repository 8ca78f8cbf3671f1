// The problems of the CPU/GPU agreement tests (test_actor_gpu.cpp, test_env_step_gpu.cpp), shared
// with the contraction probe (tests/fp_contract), so that the probe computes the very numbers the
// GPU tests compare. Plain C++: the probe is built without CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/batch_env.hpp"
#include "envs/task/task_config.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::agreement {

using Bot = Ballbot<float>;

// Actor: 128 Ballbot problems with the default (DMPC) cost and a random critic, 2 iLQR
// iterations per solve, solved kSteps times from the same states with shifted warm starts; a
// quarter of them (τ₀ = 0.5 s) with the horizon at the episode's end.
struct ActorProblems {
  static constexpr int kBatch = 128, kSteps = 3;
  EnvConfig env;
  ActorSettings settings;
  ActorCostParams<float, Bot::kStateDim, Bot::kInputDim> params;
  ValueNetwork net;
  std::vector<float> weights;  // net's parameters in float
  std::vector<Bot::State> x;
  std::vector<float> tau, goal;
};

inline ActorProblems actor_problems() {
  ConfigReader r = ConfigReader::from_string(paper_settings_toml(), "<agreement>");
  const EnvConfig env = read_env_config(r);
  ActorSettings a = read_actor_settings(r);
  a.solver.max_iterations = 2;
  const Bot bot;
  const ValueNetwork net = random_value_network({13, 12, 3}, 5, 3.0);
  ActorProblems p{env, a, make_cost_params(bot, a, env.input_weight, env.task.cost, env.task.binary_goal_radius),
                  net, std::vector<float>(net.params.begin(), net.params.end()), {}, {}, {}};
  const int batch = ActorProblems::kBatch;
  p.x.resize(batch);
  p.tau.resize(batch);
  p.goal.resize(2 * batch);
  for (int i = 0; i < batch; ++i) {
    p.x[i] = bot.rest_state(-1.0f + 2.0f * float(i) / batch, -0.8f);
    p.x[i][3] += 0.02f * float(i % 3);
    p.tau[i] = i % 4 == 0 ? 0.5f : 3.0f;
    p.goal[2 * i] = 0.0f;
    p.goal[2 * i + 1] = 0.8f;
  }
  return p;
}

// Environment: 64 Ballbots for a whole episode with process noise, each closed by its own
// quadratic MPC actor (open arena: no walls).
struct EpisodeSetup {
  static constexpr int kBatch = 64;
  static constexpr uint64_t kSeed = 2024;
  EnvConfig env;
  ActorSettings actor;
  TaskParams<float> task;
  NoiseModel<float, Bot::kInputDim> noise;
  ActorCostParams<float, Bot::kStateDim, Bot::kInputDim> params;
};

inline EpisodeSetup ballbot_episode_setup() {
  ConfigReader r = ConfigReader::from_string(paper_settings_toml(), "<agreement>");
  r.set_override("task.walls=[]");
  r.set_override("actor.cost=\"quadratic\"");
  const EnvConfig env = read_env_config(r);
  const ActorSettings a = read_actor_settings(r);
  return {env, a, env.task.cast<float>(),
          make_noise_model<Bot::kInputDim>(env.process_noise, env.input_weight).cast<float>(),
          make_cost_params(Bot{}, a, env.input_weight, env.task.cost, env.task.binary_goal_radius)};
}

// The actor's inputs for episode ep: its state, its time left and its goal.
inline void actor_inputs(const Episode<Bot>& ep, const TaskParams<float>& task, Bot::State& x, float& tau,
                         float* goal) {
  x = ep.x;
  tau = task.duration - float(ep.step) * task.control_period;
  goal[0] = ep.goal_x;
  goal[1] = ep.goal_y;
}

}  // namespace dmpc::agreement
