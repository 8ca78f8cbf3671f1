// The GPU environment step against the CPU BatchEnv on the same seeds (float32 on both sides).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/env_step.hpp"
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

}  // namespace
}  // namespace dmpc
