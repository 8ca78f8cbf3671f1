// One training episode of B environments run on the GPU: the MPC actor (cuda/actor_solve.hpp)
// and the SDE environment (cuda/env_step.hpp) alternate for every control step with no host
// synchronisation. At the episode's end either the records come back to the host once
// (run_episode), or a kernel turns them into the critic's n-step targets in the replay buffer on
// the same GPU (run_episode_into_replay) and only totals and final states come back.
//
// Per control step t (T = task.steps_per_episode launches of each, kernels skip the environments
// whose episode has ended):
//   prepare   x_i, τ_i = T_ep − step_i·δt, goal_i and active_i from episode i; records τ and active
//   solve     ilqr_solve for every active problem from its warm start (ActorCost, as on the CPU)
//   step      step_episode under the actor's first input; stage cost, terminal cost, end reason
//   record    the state after the step, the input, the iLQR iterations
//   shift     every warm start moves on by `shift` knots
// After the episode (run_episode_into_replay):
//   lengths   each episode's length and Σ iterations × horizon knots; a scan gives its first row
//   targets   one thread per (environment, step): n_step_target, written at replay_slot
// The arithmetic is the DMPC_HD code of the CPU trainer's BatchActor, BatchEnv and n-step
// targets (trainer/td_targets.hpp), in float32.
// Plain C++ header: the trainer (g++, LibTorch) includes it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "cuda/actor_solve.hpp"
#include "envs/task/episode.hpp"

namespace dmpc::cuda {

// What one episode left, on the host; [t][i] arrays hold T·B entries at t·B + i.
template <typename System>
struct RolloutRecords {
  int steps = 0, batch = 0;                // T, B
  std::vector<typename System::State> x;   // [(T + 1)·B]: row 0 the starts, row t + 1 after step t
  std::vector<float> tau;                  // [T·B] time left before step t
  std::vector<float> u;                    // [T·B·nu] the actor's input at step t (before the limit)
  std::vector<float> stage_cost, terminal_cost;  // [T·B]
  std::vector<int32_t> reason;             // [T·B] EndReason after step t
  std::vector<uint8_t> active;             // [T·B] 1 where environment i took step t
  std::vector<int32_t> iterations;         // [T·B] iLQR iterations of that step's solve
  std::vector<Episode<System>> episodes;   // [B] at the end: totals, reasons, reach times
};

// The trainer's replay buffer columns when they live on this GPU (float32, row-major), and the
// ring's state; store_targets() appends an episode's transitions as ReplayBuffer::add does.
struct DeviceReplay {
  float *z = nullptr, *z_boot = nullptr;  // [capacity][inputs]: [τ, s, g]
  float *partial = nullptr, *bootstrap = nullptr, *discount = nullptr;  // [capacity]
  int64_t capacity = 0, next = 0, size = 0;
  int inputs = 0;
};

// How the critic's targets are made from the records (trainer/td_targets.hpp).
struct TargetSettings {
  int n = 10;                    // n-step
  float step_discount = 1.0f;    // γ^δt
  float control_period = 0.02f;  // δt
  bool control_cost = true;      // add ½ uᵀRu δt of the (clamped) input to every stage cost
  float input_weight[4] = {0, 0, 0, 0};
  float input_limit = 0.0f;
};

struct RolloutTotals {
  int64_t steps = 0;            // transitions (control steps taken)
  int64_t knot_iterations = 0;  // Σ iLQR iterations × horizon knots
};

template <typename System>
class DeviceRollout {
 public:
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  using Params = ActorCostParams<float, NX, NU>;

  // Allocates everything once (nothing is allocated per episode or per step). knots = the
  // actor's N, shift = knots per control period; environment ids first_env_id … + batch − 1.
  DeviceRollout(const System& sys, const TaskParams<float>& task,
                const NoiseModel<float, NU>& noise, uint64_t seed, int batch,
                uint32_t first_env_id, const IlqrSettings<float>& solver, int knots,
                float knot_dt, int shift, MlpShape value_shape);
  ~DeviceRollout();
  DeviceRollout(const DeviceRollout&) = delete;
  DeviceRollout& operator=(const DeviceRollout&) = delete;

  void set_params(const Params& params);           // the actor's cost (warm-up or DMPC)
  void set_value(const float* weights);            // the value network's flat buffer (host)
  // The actor's GPU layout (cuda/actor_solve.hpp); thread per problem, 64 threads, until set.
  void set_actor_layout(ActorLayout layout, int threads_per_block);
  // Episode `episode` of every environment, from fresh warm starts, to its end; the records
  // come back to the host.
  void run_episode(uint32_t episode, RolloutRecords<System>& out);
  // The same from given episode starts (batch() of them, made on the host with begin_episode:
  // the evaluation's fixed starts) instead of the task's sampled ones.
  void run_episode_from(const std::vector<Episode<System>>& starts, RolloutRecords<System>& out);

  // The same episode, its n-step targets written straight into the replay buffer on the device
  // (no records leave the GPU: only the totals and the B final episode states come back).
  void run_episode_into_replay(uint32_t episode, const TargetSettings& targets, DeviceReplay& replay,
                               RolloutTotals& totals, std::vector<Episode<System>>& episodes);

  int batch() const { return batch_; }

 private:
  // The kernels of one episode, queued on the stream; starts: the host's episode starts, or null
  // for the task's sampled ones.
  void rollout(uint32_t episode, const Episode<System>* starts = nullptr);
  void copy_records(RolloutRecords<System>& out);

  System sys_;
  TaskParams<float> task_;
  NoiseModel<float, NU> noise_;
  uint64_t seed_;
  int batch_, knots_, shift_;
  uint32_t first_env_id_;
  IlqrSettings<float> solver_;
  float knot_dt_;
  MlpShape shape_;
  cudaStream_t stream_ = nullptr;
  // device buffers
  Params* params_ = nullptr;
  float* weights_ = nullptr;
  Episode<System>* episodes_ = nullptr;
  IlqrKnot<System>* knot_storage_ = nullptr;
  float* mu_ = nullptr;
  typename System::State* x_ = nullptr;
  float *tau_ = nullptr, *goal_ = nullptr, *u0_ = nullptr;
  uint8_t* active_ = nullptr;
  int32_t* iterations_ = nullptr;
  typename System::State* rec_x_ = nullptr;
  float *rec_tau_ = nullptr, *rec_u_ = nullptr, *rec_stage_ = nullptr, *rec_terminal_ = nullptr;
  int32_t *rec_reason_ = nullptr, *rec_iterations_ = nullptr;
  uint8_t* rec_active_ = nullptr;
  int64_t *lengths_ = nullptr, *offsets_ = nullptr, *knot_counts_ = nullptr;  // [B]
  ActorLayout layout_ = ActorLayout::kThreadPerProblem;
  int threads_per_block_ = 64;
  std::unique_ptr<ActorSolveWorkspace<System>> solve_workspace_;  // knot-parallel layout only
};

}  // namespace dmpc::cuda
