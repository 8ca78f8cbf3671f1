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

#include "tests/cuda/agreement_problems.hpp"

namespace dmpc {
namespace {

using agreement::Bot;

void actor_probe() {
  agreement::ActorProblems p = agreement::actor_problems();
  const int batch = agreement::ActorProblems::kBatch;
  std::vector<float> u(batch * 3);
  ThreadPool pool(1);
  BatchActor<Bot> actor(Bot{}, p.settings, p.params, p.env.task.input_limit, batch, pool);
  actor.set_value({p.net.shape, p.weights.data()});
  for (int step = 0; step < agreement::ActorProblems::kSteps; ++step) {
    actor.solve(p.x.data(), p.tau.data(), p.goal.data(), u.data());
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
  const agreement::EpisodeSetup e = agreement::ballbot_episode_setup();
  const int batch = agreement::EpisodeSetup::kBatch;
  ThreadPool pool(1);
  BatchEnv<Bot> env(Bot{}, e.task, e.noise, agreement::EpisodeSetup::kSeed, batch, pool);
  env.reset(0);
  BatchActor<Bot> actor(Bot{}, e.actor, e.params, e.env.task.input_limit, batch, pool);
  std::vector<Bot::State> x(batch);
  std::vector<float> tau(batch), goal(2 * batch), u(batch * 3);
  for (int step = 0; step < e.task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) agreement::actor_inputs(env.episode(i), e.task, x[i], tau[i], &goal[2 * i]);
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
