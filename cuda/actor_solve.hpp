// Launcher for the batched MPC actor on the GPU, one thread per problem (float32).
//
// Device buffers, batch B, N = capacity knots:
//   knots   IlqrKnot<S<float>>[B][N + 1]  per-problem trajectories, gains, warm starts
//   mu      float[B]                      per-problem Levenberg–Marquardt μ
//   x       S::State[B]   tau float[B]   goal float[B][2]
//   u0      float[B][nu]  (out)          iterations int32[B] (out)
// Both layouts run the phases of ilqr_solve with an ActorCost — the code the CPU BatchActor
// runs — so the GPU and CPU solve the same problems:
//   kThreadPerProblem  one thread runs a problem's whole solve (one launch);
//   kKnotParallel      per iteration, one thread per (problem, knot) linearizes the dynamics and
//                      quadratizes the cost (ilqr_approximate_knot: the value network's Hessians,
//                      most of the flops), then one thread per problem runs the Riccati pass and
//                      line search (ilqr_step). Smaller kernels, more threads; the solve state
//                      waits in device memory between launches (workspace below).
// README "GPU" gives the measured figures of both.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "cuda/device_buffer.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc::cuda {

enum class ActorLayout { kThreadPerProblem, kKnotParallel };

// Parses "thread_per_problem" / "knot_parallel"; throws std::invalid_argument naming the value.
ActorLayout parse_actor_layout(const std::string& name);
const char* actor_layout_name(ActorLayout layout);

template <typename System>
using ActorSolveState = IlqrSolveState<float, System::kStateDim, System::kInputDim>;

template <typename System>
struct ActorSolveArgs {
  System system;
  const ActorCostParams<float, System::kStateDim, System::kInputDim>* params = nullptr;  // device
  MlpValue<float> value;  // params pointer on the device
  IlqrSettings<float> settings;
  float knot_dt = 0.02f;
  int32_t capacity = 0;  // N
  IlqrKnot<System>* knots = nullptr;
  float* mu = nullptr;
  const typename System::State* x = nullptr;
  const float* tau = nullptr;
  const float* goal = nullptr;
  float* u0 = nullptr;
  int32_t* iterations = nullptr;
  const uint8_t* active = nullptr;  // when set, only problems with active[i] != 0 are solved
  int batch = 0;
  ActorLayout layout = ActorLayout::kThreadPerProblem;
  int threads_per_block = 64;
  // Workspace of the knot-parallel layout (device, batch entries each; see ActorSolveWorkspace).
  ActorSolveState<System>* solve_state = nullptr;
  uint8_t* approximation_failed = nullptr;
};

// Owns the knot-parallel layout's workspace for up to `batch` problems and points args at it.
template <typename System>
class ActorSolveWorkspace {
 public:
  explicit ActorSolveWorkspace(int batch) : state_(batch), failed_(batch) {
    DMPC_CUDA_CHECK(cudaMemset(failed_.ptr, 0, failed_.size));  // the kernels keep it zero between solves
  }
  void attach(ActorSolveArgs<System>& args) {
    args.solve_state = state_.ptr;
    args.approximation_failed = failed_.ptr;
  }

 private:
  DeviceBuffer<ActorSolveState<System>> state_;
  DeviceBuffer<uint8_t> failed_;
};

template <typename System>
void launch_actor_solve(const ActorSolveArgs<System>& args, cudaStream_t stream);

// Moves every problem's warm start on by one knot (ilqr_shift, as BatchActor::shift(1)); when
// predicted is not null, first writes there the state each solve predicted one knot on, knots[1].x
// (the closed loop with the model as the plant, for benchmarks).
template <typename System>
void launch_actor_shift(const ActorSolveArgs<System>& args, typename System::State* predicted,
                        cudaStream_t stream);

}  // namespace dmpc::cuda
