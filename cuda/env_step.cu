#include "cuda/cuda_check.hpp"
#include "cuda/env_step.hpp"

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 128;

int blocks_for(int n) { return (n + kThreadsPerBlock - 1) / kThreadsPerBlock; }

template <typename System>
__global__ void env_reset_kernel(System system, TaskParams<float> task, uint64_t seed,
                                 Episode<System>* episodes, int batch, uint32_t first_env_id,
                                 uint32_t episode) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  const uint32_t id = first_env_id + static_cast<uint32_t>(i);
  const EpisodeStart<float> s = sample_episode(task, seed, id, episode);
  begin_episode(system, episodes[i], id, episode, s.x, s.y, s.goal_x, s.goal_y, s.step, s.vx, s.vy);
}

template <typename System>
__global__ void env_step_kernel(EnvStepArgs<System> args) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= args.batch) return;
  constexpr int NU = System::kInputDim;
  typename System::Input u;
  for (int j = 0; j < NU; ++j) u[j] = args.inputs[i * NU + j];
  const StepOutcome<float> out =
      step_episode(args.system, args.task, args.noise, args.seed, args.episodes[i], u);
  args.stage_cost[i] = out.stage_cost;
  args.terminal_cost[i] = out.terminal_cost;
  args.reason[i] = static_cast<int32_t>(out.reason);
}

}  // namespace

template <typename System>
void launch_env_reset(const System& system, const TaskParams<float>& task, uint64_t seed,
                      Episode<System>* episodes, int batch, uint32_t first_env_id,
                      uint32_t episode, cudaStream_t stream) {
  if (batch <= 0) return;
  env_reset_kernel<System><<<blocks_for(batch), kThreadsPerBlock, 0, stream>>>(
      system, task, seed, episodes, batch, first_env_id, episode);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

template <typename System>
void launch_env_step(const EnvStepArgs<System>& args, cudaStream_t stream) {
  if (args.batch <= 0) return;
  env_step_kernel<System><<<blocks_for(args.batch), kThreadsPerBlock, 0, stream>>>(args);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

#define DMPC_INSTANTIATE(System)                                                             \
  template void launch_env_reset<System>(const System&, const TaskParams<float>&, uint64_t, \
                                         Episode<System>*, int, uint32_t, uint32_t,         \
                                         cudaStream_t);                                     \
  template void launch_env_step<System>(const EnvStepArgs<System>&, cudaStream_t);

DMPC_INSTANTIATE(Ballbot<float>)
DMPC_INSTANTIATE(PointMass<float>)
#undef DMPC_INSTANTIATE

}  // namespace dmpc::cuda
