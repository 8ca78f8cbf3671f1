#include <stdexcept>
#include <string>

#include <thrust/execution_policy.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>

#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_rollout.hpp"
#include "cuda/env_step.hpp"
#include "trainer/td_targets.hpp"

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 128;

int blocks_for(int n) { return (n + kThreadsPerBlock - 1) / kThreadsPerBlock; }

template <typename T>
void allocate(T*& ptr, size_t count) {
  DMPC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), (count > 0 ? count : 1) * sizeof(T)));
}

// Fresh warm starts: zero inputs and gains, μ at its initial value (BatchActor::reset).
template <typename System>
__global__ void actor_reset_kernel(IlqrKnot<System>* knots, float* mu, int batch, int capacity, float mu_init) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  IlqrKnot<System>* kn = knots + static_cast<size_t>(i) * (capacity + 1);
  for (int k = 0; k <= capacity; ++k) {
    kn[k].u = System::Input::zero();
    kn[k].K = Mat<float, System::kInputDim, System::kStateDim>::zero();
  }
  mu[i] = mu_init;
}

template <typename System>
__global__ void record_start_kernel(const Episode<System>* episodes, int batch, typename System::State* rec_x) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  rec_x[i] = episodes[i].x;
}

template <typename System>
__global__ void prepare_kernel(const Episode<System>* episodes, TaskParams<float> task, int batch,
                               typename System::State* x, float* tau, float* goal, uint8_t* active,
                               float* rec_tau, uint8_t* rec_active) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  const Episode<System>& ep = episodes[i];
  const uint8_t running = ep.reason == EndReason::kRunning ? 1 : 0;
  x[i] = ep.x;
  tau[i] = task.duration - static_cast<float>(ep.step) * task.control_period;
  goal[2 * i] = ep.goal_x;
  goal[2 * i + 1] = ep.goal_y;
  active[i] = running;
  rec_tau[i] = tau[i];
  rec_active[i] = running;
}

template <typename System>
__global__ void record_kernel(const Episode<System>* episodes, const uint8_t* active, const float* u0,
                              const int32_t* iterations, int batch, typename System::State* rec_x_next,
                              float* rec_u, int32_t* rec_iterations) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  constexpr int NU = System::kInputDim;
  rec_x_next[i] = episodes[i].x;
  for (int j = 0; j < NU; ++j) rec_u[i * NU + j] = active[i] ? u0[i * NU + j] : 0.0f;
  rec_iterations[i] = active[i] ? iterations[i] : 0;
}

template <typename System>
__global__ void shift_kernel(IlqrKnot<System>* knots, int batch, int capacity, int periods) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  IlqrKnot<System>* kn = knots + static_cast<size_t>(i) * (capacity + 1);
  for (int p = 0; p < periods; ++p) ilqr_shift(kn, capacity);
}

// Episode i's transitions (its active steps, 0 … len − 1) and Σ iterations × horizon knots.
__global__ void lengths_kernel(const uint8_t* active, const int32_t* iterations, const float* tau, int batch,
                               int steps, float knot_dt, int capacity, int64_t* lengths, int64_t* knot_counts) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  int64_t len = 0, knots = 0;
  for (int t = 0; t < steps; ++t) {
    const size_t at = static_cast<size_t>(t) * batch + i;
    if (!active[at]) continue;
    ++len;
    knots += static_cast<int64_t>(iterations[at]) * actor_horizon_knots(tau[at], knot_dt, capacity);
  }
  lengths[i] = len;
  knot_counts[i] = knots;
}

// Transition k of environment i as n_step_target reads it: the stage cost with the control
// cost added, as the CPU trainer adds it.
struct RecordView {
  const float *stage, *terminal, *u;
  const int32_t* reason;
  int batch, env, nu;
  TargetSettings s;
  struct Step {
    float stage_cost, terminal_cost;
    EndReason reason;
  };
  __device__ Step operator()(int k) const {
    const size_t at = static_cast<size_t>(k) * batch + env;
    float control = 0.0f;
    if (s.control_cost)
      for (int j = 0; j < nu; ++j) {
        const float uj = clamp(u[at * nu + j], -s.input_limit, s.input_limit);
        control += 0.5f * s.input_weight[j] * uj * uj * s.control_period;
      }
    return {stage[at] + control, terminal[at], static_cast<EndReason>(reason[at])};
  }
};

// One thread per (environment, step): the n-step target of that transition, written to the
// ring slot ReplayBuffer::add would give it (transitions in environment order; when more arrive
// than the ring holds, only the newest `capacity` are written, so no two threads share a slot).
template <typename System>
__global__ void targets_kernel(RecordView view, const typename System::State* rec_x, const float* rec_tau,
                               const uint8_t* active, const Episode<System>* episodes, const int64_t* lengths,
                               const int64_t* offsets, int steps, int64_t total, DeviceReplay replay) {
  constexpr int NX = System::kStateDim;
  const int i = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
  if (i >= view.batch || t >= steps) return;
  const size_t at = static_cast<size_t>(t) * view.batch + i;
  if (!active[at]) return;
  const int64_t slot = replay_slot(offsets[i] + t, total, replay.next, replay.capacity);
  if (slot < 0) return;
  RecordView v = view;
  v.env = i;
  // The episode's length: its active steps run from 0 (every episode is running at t = 0).
  const int length = static_cast<int>(lengths[i]);
  const NStepTarget<float> y = n_step_target(v, length, t, view.s.n, view.s.step_discount, rec_tau[at],
                                             view.s.control_period);
  const Episode<System>& ep = episodes[i];
  float* z = replay.z + slot * replay.inputs;
  float* zb = replay.z_boot + slot * replay.inputs;
  const typename System::State& x = rec_x[at];
  const typename System::State& xb = rec_x[static_cast<size_t>(y.bootstrap ? y.boot_step : 0) * view.batch + i];
  z[0] = rec_tau[at];
  zb[0] = y.bootstrap ? y.boot_tau : 0.0f;
  for (int j = 0; j < NX; ++j) {
    z[1 + j] = x[j];
    zb[1 + j] = xb[j];
  }
  z[1 + NX] = zb[1 + NX] = ep.goal_x;
  z[2 + NX] = zb[2 + NX] = ep.goal_y;
  replay.partial[slot] = y.partial;
  replay.bootstrap[slot] = y.bootstrap ? 1.0f : 0.0f;
  replay.discount[slot] = y.discount;
}

template <typename T>
void copy_back(std::vector<T>& host, const T* device, size_t count, cudaStream_t stream) {
  host.resize(count);
  DMPC_CUDA_CHECK(cudaMemcpyAsync(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
}

}  // namespace

template <typename System>
DeviceRollout<System>::DeviceRollout(const System& sys, const TaskParams<float>& task,
                                     const NoiseModel<float, NU>& noise, uint64_t seed, int batch,
                                     uint32_t first_env_id, const IlqrSettings<float>& solver,
                                     int knots, float knot_dt, int shift, MlpShape value_shape)
    : sys_(sys), task_(task), noise_(noise), seed_(seed), batch_(batch), knots_(knots),
      shift_(shift), first_env_id_(first_env_id), solver_(solver), knot_dt_(knot_dt),
      shape_(value_shape) {
  const size_t B = static_cast<size_t>(batch), T = static_cast<size_t>(task.steps_per_episode);
  DMPC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  allocate(params_, 1);
  allocate(weights_, static_cast<size_t>(mlp_parameter_count(value_shape)));
  allocate(episodes_, B);
  allocate(knot_storage_, B * static_cast<size_t>(knots + 1));
  allocate(mu_, B);
  allocate(x_, B);
  allocate(tau_, B);
  allocate(goal_, 2 * B);
  allocate(u0_, B * NU);
  allocate(active_, B);
  allocate(iterations_, B);
  allocate(rec_x_, (T + 1) * B);
  allocate(rec_tau_, T * B);
  allocate(rec_u_, T * B * NU);
  allocate(rec_stage_, T * B);
  allocate(rec_terminal_, T * B);
  allocate(rec_reason_, T * B);
  allocate(rec_iterations_, T * B);
  allocate(rec_active_, T * B);
  allocate(lengths_, B);
  allocate(offsets_, B);
  allocate(knot_counts_, B);
  DMPC_CUDA_CHECK(cudaMemsetAsync(u0_, 0, B * NU * sizeof(float), stream_));
}

template <typename System>
DeviceRollout<System>::~DeviceRollout() {
  for (void* p : {static_cast<void*>(params_), static_cast<void*>(weights_), static_cast<void*>(episodes_),
                  static_cast<void*>(knot_storage_), static_cast<void*>(mu_), static_cast<void*>(x_),
                  static_cast<void*>(tau_), static_cast<void*>(goal_), static_cast<void*>(u0_),
                  static_cast<void*>(active_), static_cast<void*>(iterations_), static_cast<void*>(rec_x_),
                  static_cast<void*>(rec_tau_), static_cast<void*>(rec_u_), static_cast<void*>(rec_stage_),
                  static_cast<void*>(rec_terminal_), static_cast<void*>(rec_reason_),
                  static_cast<void*>(rec_iterations_), static_cast<void*>(rec_active_),
                  static_cast<void*>(lengths_), static_cast<void*>(offsets_), static_cast<void*>(knot_counts_)})
    cudaFree(p);
  if (stream_) cudaStreamDestroy(stream_);
}

template <typename System>
void DeviceRollout<System>::set_params(const Params& params) {
  DMPC_CUDA_CHECK(cudaMemcpyAsync(params_, &params, sizeof(Params), cudaMemcpyHostToDevice, stream_));
  DMPC_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `params` may go out of scope
}

template <typename System>
void DeviceRollout<System>::set_value(const float* weights) {
  DMPC_CUDA_CHECK(cudaMemcpyAsync(weights_, weights, static_cast<size_t>(mlp_parameter_count(shape_)) * sizeof(float),
                                  cudaMemcpyHostToDevice, stream_));
  DMPC_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

template <typename System>
void DeviceRollout<System>::set_actor_layout(ActorLayout layout, int threads_per_block) {
  layout_ = layout;
  threads_per_block_ = threads_per_block;
  if (layout == ActorLayout::kKnotParallel && !solve_workspace_)
    solve_workspace_ = std::make_unique<ActorSolveWorkspace<System>>(batch_);  // once, not per episode
}

template <typename System>
void DeviceRollout<System>::rollout(uint32_t episode, const Episode<System>* starts) {
  const int B = batch_, T = task_.steps_per_episode;
  const size_t b = static_cast<size_t>(B);
  if (starts)
    DMPC_CUDA_CHECK(cudaMemcpyAsync(episodes_, starts, b * sizeof(Episode<System>), cudaMemcpyHostToDevice, stream_));
  else
    launch_env_reset(sys_, task_, seed_, episodes_, B, first_env_id_, episode, stream_);
  actor_reset_kernel<System><<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(knot_storage_, mu_, B, knots_, solver_.mu_init);
  record_start_kernel<System><<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(episodes_, B, rec_x_);
  DMPC_CUDA_CHECK(cudaGetLastError());

  ActorSolveArgs<System> solve;
  solve.system = sys_;
  solve.params = params_;
  solve.value = {shape_, weights_};
  solve.settings = solver_;
  solve.knot_dt = knot_dt_;
  solve.capacity = knots_;
  solve.knots = knot_storage_;
  solve.mu = mu_;
  solve.x = x_;
  solve.tau = tau_;
  solve.goal = goal_;
  solve.u0 = u0_;
  solve.iterations = iterations_;
  solve.active = active_;
  solve.batch = B;
  solve.layout = layout_;
  solve.threads_per_block = threads_per_block_;
  if (solve_workspace_) solve_workspace_->attach(solve);
  EnvStepArgs<System> step{sys_, task_, noise_, seed_, episodes_, u0_, nullptr, nullptr, nullptr, B};
  for (int t = 0; t < T; ++t) {
    const size_t row = static_cast<size_t>(t) * b;
    prepare_kernel<System><<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(
        episodes_, task_, B, x_, tau_, goal_, active_, rec_tau_ + row, rec_active_ + row);
    launch_actor_solve(solve, stream_);
    step.stage_cost = rec_stage_ + row;
    step.terminal_cost = rec_terminal_ + row;
    step.reason = rec_reason_ + row;
    launch_env_step(step, stream_);
    record_kernel<System><<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(
        episodes_, active_, u0_, iterations_, B, rec_x_ + row + b, rec_u_ + row * NU, rec_iterations_ + row);
    shift_kernel<System><<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(knot_storage_, B, knots_, shift_);
    DMPC_CUDA_CHECK(cudaGetLastError());
  }
}

template <typename System>
void DeviceRollout<System>::run_episode(uint32_t episode, RolloutRecords<System>& out) {
  rollout(episode);
  copy_records(out);
}

template <typename System>
void DeviceRollout<System>::run_episode_from(const std::vector<Episode<System>>& starts,
                                             RolloutRecords<System>& out) {
  if (starts.size() != static_cast<size_t>(batch_))
    throw std::invalid_argument("run_episode_from: " + std::to_string(starts.size()) + " starts for a batch of " +
                                std::to_string(batch_));
  rollout(starts.empty() ? 0 : starts[0].episode, starts.data());
  copy_records(out);
}

template <typename System>
void DeviceRollout<System>::copy_records(RolloutRecords<System>& out) {
  const int B = batch_, T = task_.steps_per_episode;
  const size_t b = static_cast<size_t>(B);
  const size_t cells = static_cast<size_t>(T) * b;
  out.steps = T;
  out.batch = B;
  copy_back(out.x, rec_x_, cells + b, stream_);
  copy_back(out.tau, rec_tau_, cells, stream_);
  copy_back(out.u, rec_u_, cells * NU, stream_);
  copy_back(out.stage_cost, rec_stage_, cells, stream_);
  copy_back(out.terminal_cost, rec_terminal_, cells, stream_);
  copy_back(out.reason, rec_reason_, cells, stream_);
  copy_back(out.active, rec_active_, cells, stream_);
  copy_back(out.iterations, rec_iterations_, cells, stream_);
  copy_back(out.episodes, episodes_, b, stream_);
  DMPC_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

template <typename System>
void DeviceRollout<System>::run_episode_into_replay(uint32_t episode, const TargetSettings& targets,
                                                    DeviceReplay& replay, RolloutTotals& totals,
                                                    std::vector<Episode<System>>& episodes) {
  const int B = batch_, T = task_.steps_per_episode;
  rollout(episode);
  lengths_kernel<<<blocks_for(B), kThreadsPerBlock, 0, stream_>>>(rec_active_, rec_iterations_, rec_tau_, B, T,
                                                                   knot_dt_, knots_, lengths_, knot_counts_);
  DMPC_CUDA_CHECK(cudaGetLastError());
  const auto policy = thrust::cuda::par.on(stream_);
  thrust::exclusive_scan(policy, lengths_, lengths_ + B, offsets_);
  totals.steps = thrust::reduce(policy, lengths_, lengths_ + B, int64_t{0});
  totals.knot_iterations = thrust::reduce(policy, knot_counts_, knot_counts_ + B, int64_t{0});
  RecordView view{rec_stage_, rec_terminal_, rec_u_, rec_reason_, B, 0, NU, targets};
  const dim3 grid(static_cast<unsigned>(blocks_for(B)), static_cast<unsigned>(T));
  targets_kernel<System><<<grid, kThreadsPerBlock, 0, stream_>>>(view, rec_x_, rec_tau_, rec_active_, episodes_,
                                                                 lengths_, offsets_, T, totals.steps, replay);
  DMPC_CUDA_CHECK(cudaGetLastError());
  copy_back(episodes, episodes_, static_cast<size_t>(B), stream_);
  DMPC_CUDA_CHECK(cudaStreamSynchronize(stream_));
  replay.next = (replay.next + totals.steps) % replay.capacity;  // as appending one by one
  replay.size = replay.size + totals.steps < replay.capacity ? replay.size + totals.steps : replay.capacity;
}

template class DeviceRollout<Ballbot<float>>;
template class DeviceRollout<PointMass<float>>;

}  // namespace dmpc::cuda
