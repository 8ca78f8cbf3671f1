#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 64;

template <typename System>
__global__ void actor_solve_kernel(ActorSolveArgs<System> a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.batch) return;
  // Horizon shrinks at the end of the episode, as in BatchActor::horizon_knots.
  int n = static_cast<int>(floorf(a.tau[i] / a.knot_dt + 1e-6f));
  n = n < 1 ? 1 : (n < a.capacity ? n : a.capacity);
  const ActorCost<System> cost(a.system, a.params, a.value, a.tau[i], a.goal[2 * i],
                               a.goal[2 * i + 1], n);
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  const IlqrResult<float> r = ilqr_solve(a.system, cost, a.settings, a.x[i], a.knot_dt, knots, n, a.mu[i]);
  for (int j = 0; j < System::kInputDim; ++j) a.u0[i * System::kInputDim + j] = knots[0].u[j];
  a.iterations[i] = r.iterations;
}

}  // namespace

template <typename System>
void launch_actor_solve(const ActorSolveArgs<System>& args, cudaStream_t stream) {
  if (args.batch <= 0) return;
  const int blocks = (args.batch + kThreadsPerBlock - 1) / kThreadsPerBlock;
  actor_solve_kernel<System><<<blocks, kThreadsPerBlock, 0, stream>>>(args);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

template void launch_actor_solve<Ballbot<float>>(const ActorSolveArgs<Ballbot<float>>&, cudaStream_t);
template void launch_actor_solve<PointMass<float>>(const ActorSolveArgs<PointMass<float>>&, cudaStream_t);

}  // namespace dmpc::cuda
