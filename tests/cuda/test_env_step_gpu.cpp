// The GPU environment step against the CPU BatchEnv on the same seeds (float32 on both sides).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/env_step.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "tests/cuda/agreement_problems.hpp"
#include "cuda/device_buffer.hpp"

namespace dmpc {
namespace {

// B environments on the GPU (episode `0`, ids 0 … B − 1) and host copies of what each step gives.
template <typename System>
struct GpuEnvs {
  cuda::DeviceBuffer<Episode<System>> episodes;
  cuda::DeviceBuffer<float> inputs, stage, terminal;
  cuda::DeviceBuffer<int32_t> reason;
  cuda::EnvStepArgs<System> args;
  std::vector<Episode<System>> host_episodes;
  std::vector<float> host_stage, host_terminal;
  std::vector<int32_t> host_reason;

  GpuEnvs(const System& sys, const TaskParams<float>& task, const NoiseModel<float, System::kInputDim>& noise,
          uint64_t seed, int batch)
      : episodes(batch), inputs(static_cast<size_t>(batch) * System::kInputDim), stage(batch), terminal(batch),
        reason(batch),
        args{sys, task, noise, seed, episodes.ptr, inputs.ptr, stage.ptr, terminal.ptr, reason.ptr, batch} {
    cuda::launch_env_reset(sys, task, seed, episodes.ptr, batch, 0, 0, nullptr);
    episodes.download(host_episodes);
  }

  void step(const std::vector<float>& u) {
    inputs.upload(u);
    cuda::launch_env_step(args, nullptr);
    stage.download(host_stage);
    terminal.download(host_terminal);
    reason.download(host_reason);
    episodes.download(host_episodes);
  }
};

// Point masses under a bounded feedback toward the goal, with process noise, on both backends:
// the same starts, goals, noise, costs and end reasons. The point mass is stable, so float
// rounding differences stay at rounding level over the whole episode.
TEST(GpuEnvStep, PointMassMatchesCpuOnSameSeeds) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  using System = PointMass<float>;
  constexpr int NU = System::kInputDim;
  ConfigReader reader = ConfigReader::from_string("[env]\nsystem = \"point_mass\"\n", "<test>");
  const EnvConfig cfg = read_env_config(reader);
  const TaskParams<float> task = cfg.task.cast<float>();
  const NoiseModel<float, NU> noise = make_noise_model<NU>(0.01, cfg.input_weight).cast<float>();
  const int batch = 256;
  const uint64_t seed = 77;

  ThreadPool pool(2);
  BatchEnv<System> cpu(System{}, task, noise, seed, batch, pool);
  cpu.reset(0);

  GpuEnvs<System> gpu(System{}, task, noise, seed, batch);
  std::vector<float> u(batch * NU);
  for (int step = 0; step < task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) {
      const Episode<System>& ep = cpu.episode(i);
      u[i * NU + 0] = 2.0f * (ep.goal_x - ep.x[0]) - 2.0f * ep.x[2];
      u[i * NU + 1] = 2.0f * (ep.goal_y - ep.x[1]) - 2.0f * ep.x[3];
    }
    cpu.step(u.data());
    gpu.step(u);
    for (int i = 0; i < batch; ++i) {
      ASSERT_EQ(gpu.host_reason[i], static_cast<int32_t>(cpu.reason()[i])) << "env " << i << " step " << step;
      ASSERT_NEAR(gpu.host_stage[i], cpu.stage_cost()[i], 1e-5f * (1 + std::fabs(cpu.stage_cost()[i])));
      ASSERT_NEAR(gpu.host_terminal[i], cpu.terminal_cost()[i], 1e-4f * (1 + std::fabs(cpu.terminal_cost()[i])));
      for (int j = 0; j < System::kStateDim; ++j) {
        const float c = cpu.episode(i).x[j];
        ASSERT_NEAR(gpu.host_episodes[i].x[j], c, 1e-4f * (1 + std::fabs(c))) << "env " << i << " x" << j;
      }
    }
  }
}

// Ballbots over a whole episode (150 control steps) on both backends, each closed by its own
// quadratic MPC actor (the CPU actor, fed that backend's states), with process noise. The open
// loop is unstable, so a controller is needed for rounding differences to stay at rounding
// level; with it the bound is 1e-4 relative (|gpu − cpu| ≤ 1e-4 (1 + |cpu|)) on every state at
// every step, and the same costs, done steps and end reasons.
TEST(GpuEnvStep, BallbotMatchesCpuOver150ControlSteps) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  using System = agreement::Bot;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const agreement::EpisodeSetup e = agreement::ballbot_episode_setup();
  const TaskParams<float>& task = e.task;
  const int batch = agreement::EpisodeSetup::kBatch;
  const uint64_t seed = agreement::EpisodeSetup::kSeed;

  ThreadPool pool(2);
  BatchEnv<System> cpu(System{}, task, e.noise, seed, batch, pool);
  cpu.reset(0);
  BatchActor<System> cpu_actor(System{}, e.actor, e.params, e.env.task.input_limit, batch, pool);
  BatchActor<System> gpu_actor(System{}, e.actor, e.params, e.env.task.input_limit, batch, pool);
  GpuEnvs<System> gpu(System{}, task, e.noise, seed, batch);

  std::vector<System::State> x_cpu(batch), x_gpu(batch);
  std::vector<float> tau_cpu(batch), tau_gpu(batch), goal_cpu(2 * batch), goal_gpu(2 * batch);
  std::vector<float> u_cpu(batch * NU), u_gpu(batch * NU);
  float worst = 0.0f;  // largest |gpu − cpu| / (1 + |cpu|) seen
  int balanced = 0;  // episodes still running or ended by the time limit (not by a fall or collision)
  for (int step = 0; step < task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) {
      // Goals are sampled in float on both sides: equal up to a contracted multiply-add.
      ASSERT_NEAR(gpu.host_episodes[i].goal_x, cpu.episode(i).goal_x, 1e-6f);
      ASSERT_NEAR(gpu.host_episodes[i].goal_y, cpu.episode(i).goal_y, 1e-6f);
      agreement::actor_inputs(cpu.episode(i), task, x_cpu[i], tau_cpu[i], &goal_cpu[2 * i]);
      agreement::actor_inputs(gpu.host_episodes[i], task, x_gpu[i], tau_gpu[i], &goal_gpu[2 * i]);
    }
    cpu_actor.solve(x_cpu.data(), tau_cpu.data(), goal_cpu.data(), u_cpu.data());
    gpu_actor.solve(x_gpu.data(), tau_gpu.data(), goal_gpu.data(), u_gpu.data());
    cpu_actor.shift(1);
    gpu_actor.shift(1);
    cpu.step(u_cpu.data());
    gpu.step(u_gpu);
    balanced = 0;
    for (int i = 0; i < batch; ++i) {
      const Episode<System>& ep = cpu.episode(i);
      balanced += ep.reason == EndReason::kRunning || ep.reason == EndReason::kTimeout;
      ASSERT_EQ(gpu.host_reason[i], static_cast<int32_t>(cpu.reason()[i])) << "env " << i << " step " << step;
      ASSERT_EQ(gpu.host_episodes[i].step, ep.step) << "env " << i << " step " << step;
      ASSERT_NEAR(gpu.host_stage[i], cpu.stage_cost()[i], 1e-4f * (1 + std::fabs(cpu.stage_cost()[i])));
      ASSERT_NEAR(gpu.host_terminal[i], cpu.terminal_cost()[i], 1e-4f * (1 + std::fabs(cpu.terminal_cost()[i])));
      for (int j = 0; j < NX; ++j) {
        const float c = ep.x[j], deviation = std::fabs(gpu.host_episodes[i].x[j] - c) / (1 + std::fabs(c));
        worst = std::max(worst, deviation);
        ASSERT_LE(deviation, 1e-4f) << "env " << i << " x" << j << " step " << step << ": gpu "
                                    << gpu.host_episodes[i].x[j] << ", cpu " << c;
      }
    }
  }
  std::printf("Ballbot, %d environments, %d control steps: largest relative state deviation %.3g, "
              "%d balanced to the time limit\n", batch, task.steps_per_episode, double(worst), balanced);
  // The last step ends every episode (time limit), so count those that did not fall or collide.
  EXPECT_GT(balanced, batch / 2) << "most Ballbots should balance the whole episode for the check to mean much";
}

}  // namespace
}  // namespace dmpc
