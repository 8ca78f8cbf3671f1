// Launcher for the batched MPC actor on the GPU, one thread per problem (float32).
//
// Device buffers, batch B, N = capacity knots:
//   knots   IlqrKnot<S<float>>[B][N + 1]  per-problem trajectories, gains, warm starts
//   mu      float[B]                      per-problem Levenberg–Marquardt μ
//   x       S::State[B]   tau float[B]   goal float[B][2]
//   u0      float[B][nu]  (out)          iterations int32[B] (out)
// Every thread runs ilqr_solve with an ActorCost — the code the CPU BatchActor runs — so the
// GPU and CPU solve the same problems; this first layout is the baseline that later layouts
// (a warp or block per problem, knot-parallel linearization) are measured against.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc::cuda {

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
