#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 64;

template <typename System>
__global__ void actor_solve_kernel(ActorSolveArgs<System> a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.batch || (a.active && !a.active[i])) return;
  const int n = actor_horizon_knots(a.tau[i], a.knot_dt, a.capacity);  // as BatchActor's
  const ActorCost<System> cost(a.system, a.params, a.value, a.tau[i], a.goal[2 * i],
                               a.goal[2 * i + 1], n);
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  const IlqrResult<float> r = ilqr_solve(a.system, cost, a.settings, a.x[i], a.knot_dt, knots, n, a.mu[i]);
  for (int j = 0; j < System::kInputDim; ++j) a.u0[i * System::kInputDim + j] = knots[0].u[j];
  a.iterations[i] = r.iterations;
}

template <typename System>
__global__ void actor_shift_kernel(ActorSolveArgs<System> a, typename System::State* predicted) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.batch) return;
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  if (predicted) predicted[i] = knots[1].x;  // knots has capacity + 1 ≥ 2 entries
  ilqr_shift(knots, a.capacity);
}

}  // namespace

template <typename System>
void launch_actor_solve(const ActorSolveArgs<System>& args, cudaStream_t stream) {
  if (args.batch <= 0) return;
  const int blocks = (args.batch + kThreadsPerBlock - 1) / kThreadsPerBlock;
  actor_solve_kernel<System><<<blocks, kThreadsPerBlock, 0, stream>>>(args);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

template <typename System>
void launch_actor_shift(const ActorSolveArgs<System>& args, typename System::State* predicted,
                        cudaStream_t stream) {
  if (args.batch <= 0) return;
  const int blocks = (args.batch + kThreadsPerBlock - 1) / kThreadsPerBlock;
  actor_shift_kernel<System><<<blocks, kThreadsPerBlock, 0, stream>>>(args, predicted);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

template void launch_actor_shift<Ballbot<float>>(const ActorSolveArgs<Ballbot<float>>&,
                                                 Ballbot<float>::State*, cudaStream_t);
template void launch_actor_shift<PointMass<float>>(const ActorSolveArgs<PointMass<float>>&,
                                                   PointMass<float>::State*, cudaStream_t);
template void launch_actor_solve<Ballbot<float>>(const ActorSolveArgs<Ballbot<float>>&, cudaStream_t);
template void launch_actor_solve<PointMass<float>>(const ActorSolveArgs<PointMass<float>>&, cudaStream_t);

}  // namespace dmpc::cuda
