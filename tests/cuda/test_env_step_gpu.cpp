// The GPU environment step against the CPU BatchEnv on the same seeds (float32 on both sides).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/env_step.hpp"
#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "envs/batch_env.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {
namespace {

template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  explicit DeviceBuffer(size_t n) { DMPC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T))); }
  ~DeviceBuffer() { cudaFree(ptr); }
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

  DeviceBuffer<Episode<System>> episodes(batch);
  DeviceBuffer<float> inputs(batch * NU), stage(batch), terminal(batch);
  DeviceBuffer<int32_t> reason(batch);
  cuda::launch_env_reset(System{}, task, seed, episodes.ptr, batch, 0, 0, nullptr);
  cuda::EnvStepArgs<System> args{System{}, task,       noise,         seed,      episodes.ptr,
                                 inputs.ptr, stage.ptr, terminal.ptr, reason.ptr, batch};

  std::vector<float> u(batch * NU), gpu_stage(batch), gpu_terminal(batch);
  std::vector<int32_t> gpu_reason(batch);
  std::vector<Episode<System>> gpu_episodes(batch);
  for (int step = 0; step < task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) {
      const Episode<System>& ep = cpu.episode(i);
      u[i * NU + 0] = 2.0f * (ep.goal_x - ep.x[0]) - 2.0f * ep.x[2];
      u[i * NU + 1] = 2.0f * (ep.goal_y - ep.x[1]) - 2.0f * ep.x[3];
    }
    cpu.step(u.data());
    DMPC_CUDA_CHECK(cudaMemcpy(inputs.ptr, u.data(), u.size() * sizeof(float), cudaMemcpyHostToDevice));
    cuda::launch_env_step(args, nullptr);
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_stage.data(), stage.ptr, batch * sizeof(float), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_terminal.data(), terminal.ptr, batch * sizeof(float), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_reason.data(), reason.ptr, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_episodes.data(), episodes.ptr, batch * sizeof(Episode<System>),
                               cudaMemcpyDeviceToHost));
    for (int i = 0; i < batch; ++i) {
      ASSERT_EQ(gpu_reason[i], static_cast<int32_t>(cpu.reason()[i])) << "env " << i << " step " << step;
      ASSERT_NEAR(gpu_stage[i], cpu.stage_cost()[i], 1e-5f * (1 + std::fabs(cpu.stage_cost()[i])));
      ASSERT_NEAR(gpu_terminal[i], cpu.terminal_cost()[i], 1e-4f * (1 + std::fabs(cpu.terminal_cost()[i])));
      for (int j = 0; j < System::kStateDim; ++j) {
        const float c = cpu.episode(i).x[j];
        ASSERT_NEAR(gpu_episodes[i].x[j], c, 1e-4f * (1 + std::fabs(c))) << "env " << i << " x" << j;
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
  using System = Ballbot<float>;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  ConfigReader reader = ConfigReader::from_string(
      "[task]\nwalls = []\n[actor]\ncost = \"quadratic\"\n", "<test>");
  const EnvConfig cfg = read_env_config(reader);
  const ActorSettings a = read_actor_settings(reader);
  const TaskParams<float> task = cfg.task.cast<float>();
  const NoiseModel<float, NU> noise = make_noise_model<NU>(cfg.process_noise, cfg.input_weight).cast<float>();
  const int batch = 64;
  const uint64_t seed = 2024;
  const System bot;
  const auto params = make_cost_params(bot, a, cfg.input_weight, cfg.task.cost, cfg.task.binary_goal_radius);

  ThreadPool pool(2);
  BatchEnv<System> cpu(bot, task, noise, seed, batch, pool);
  cpu.reset(0);
  BatchActor<System> cpu_actor(bot, a, params, cfg.task.input_limit, batch, pool);
  BatchActor<System> gpu_actor(bot, a, params, cfg.task.input_limit, batch, pool);

  DeviceBuffer<Episode<System>> episodes(batch);
  DeviceBuffer<float> inputs(batch * NU), stage(batch), terminal(batch);
  DeviceBuffer<int32_t> reason(batch);
  cuda::launch_env_reset(bot, task, seed, episodes.ptr, batch, 0, 0, nullptr);
  cuda::EnvStepArgs<System> args{bot,        task,      noise,        seed,       episodes.ptr,
                                 inputs.ptr, stage.ptr, terminal.ptr, reason.ptr, batch};

  std::vector<Episode<System>> gpu_episodes(batch);
  DMPC_CUDA_CHECK(cudaMemcpy(gpu_episodes.data(), episodes.ptr, batch * sizeof(Episode<System>),
                             cudaMemcpyDeviceToHost));
  std::vector<System::State> x_cpu(batch), x_gpu(batch);
  std::vector<float> tau(batch), goal_cpu(2 * batch), goal_gpu(2 * batch), u_cpu(batch * NU), u_gpu(batch * NU);
  std::vector<float> gpu_stage(batch), gpu_terminal(batch);
  std::vector<int32_t> gpu_reason(batch);
  float worst = 0.0f;  // largest |gpu − cpu| / (1 + |cpu|) seen
  int running = 0;
  for (int step = 0; step < task.steps_per_episode; ++step) {
    for (int i = 0; i < batch; ++i) {
      const Episode<System>& ep = cpu.episode(i);
      // Goals are sampled in float on both sides: equal up to a contracted multiply-add.
      ASSERT_NEAR(gpu_episodes[i].goal_x, ep.goal_x, 1e-6f);
      ASSERT_NEAR(gpu_episodes[i].goal_y, ep.goal_y, 1e-6f);
      x_cpu[i] = ep.x;
      x_gpu[i] = gpu_episodes[i].x;
      tau[i] = task.duration - float(ep.step) * task.control_period;
      goal_cpu[2 * i] = ep.goal_x;
      goal_cpu[2 * i + 1] = ep.goal_y;
      goal_gpu[2 * i] = gpu_episodes[i].goal_x;
      goal_gpu[2 * i + 1] = gpu_episodes[i].goal_y;
    }
    cpu_actor.solve(x_cpu.data(), tau.data(), goal_cpu.data(), u_cpu.data());
    gpu_actor.solve(x_gpu.data(), tau.data(), goal_gpu.data(), u_gpu.data());
    cpu_actor.shift(1);
    gpu_actor.shift(1);
    cpu.step(u_cpu.data());
    DMPC_CUDA_CHECK(cudaMemcpy(inputs.ptr, u_gpu.data(), u_gpu.size() * sizeof(float), cudaMemcpyHostToDevice));
    cuda::launch_env_step(args, nullptr);
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_stage.data(), stage.ptr, batch * sizeof(float), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_terminal.data(), terminal.ptr, batch * sizeof(float), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_reason.data(), reason.ptr, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    DMPC_CUDA_CHECK(cudaMemcpy(gpu_episodes.data(), episodes.ptr, batch * sizeof(Episode<System>),
                               cudaMemcpyDeviceToHost));
    running = 0;
    for (int i = 0; i < batch; ++i) {
      const Episode<System>& ep = cpu.episode(i);
      running += ep.reason == EndReason::kRunning;
      ASSERT_EQ(gpu_reason[i], static_cast<int32_t>(cpu.reason()[i])) << "env " << i << " step " << step;
      ASSERT_EQ(gpu_episodes[i].step, ep.step) << "env " << i << " step " << step;
      ASSERT_NEAR(gpu_stage[i], cpu.stage_cost()[i], 1e-4f * (1 + std::fabs(cpu.stage_cost()[i])));
      ASSERT_NEAR(gpu_terminal[i], cpu.terminal_cost()[i], 1e-4f * (1 + std::fabs(cpu.terminal_cost()[i])));
      for (int j = 0; j < NX; ++j) {
        const float c = ep.x[j], deviation = std::fabs(gpu_episodes[i].x[j] - c) / (1 + std::fabs(c));
        worst = std::max(worst, deviation);
        ASSERT_LE(deviation, 1e-4f) << "env " << i << " x" << j << " step " << step << ": gpu "
                                    << gpu_episodes[i].x[j] << ", cpu " << c;
      }
    }
  }
  std::printf("Ballbot, %d environments, %d control steps: largest relative state deviation %.3g, "
              "%d still running at the end\n", batch, task.steps_per_episode, double(worst), running);
  EXPECT_GT(running, batch / 2) << "most Ballbots should balance the whole episode for the check to mean much";
}

}  // namespace
}  // namespace dmpc
