// Launchers for the batched task environment on the GPU (float32).
//
// Device buffers, batch B, system S:
//   episodes       Episode<S<float>>[B]      (state, goal, counters, reason, totals)
//   inputs         float[B][nu]
//   stage_cost     float[B]   terminal_cost float[B]   reason int32[B] (EndReason)
// Each thread runs one environment's step_episode — the same DMPC_HD code as the CPU BatchEnv —
// so CPU and GPU differ only by float rounding of the transcendental functions.
// This header is plain C++ (no CUDA syntax) so host code compiled by g++ can call the launchers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "envs/task/episode.hpp"

namespace dmpc::cuda {

template <typename System>
struct EnvStepArgs {
  System system;
  TaskParams<float> task;
  NoiseModel<float, System::kInputDim> noise;
  uint64_t seed = 0;
  Episode<System>* episodes = nullptr;
  const float* inputs = nullptr;
  float* stage_cost = nullptr;
  float* terminal_cost = nullptr;
  int32_t* reason = nullptr;
  int batch = 0;
};

// Starts episode `episode` in every environment with sampled starts and goals (ids first_env_id+i).
template <typename System>
void launch_env_reset(const System& system, const TaskParams<float>& task, uint64_t seed,
                      Episode<System>* episodes, int batch, uint32_t first_env_id,
                      uint32_t episode, cudaStream_t stream);

template <typename System>
void launch_env_step(const EnvStepArgs<System>& args, cudaStream_t stream);

}  // namespace dmpc::cuda
