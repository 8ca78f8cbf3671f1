#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"

#include <stdexcept>
#include <string>

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 64;  // the shift kernel's; the solve's comes with its arguments

template <typename System>
DMPC_HD ActorCost<System> problem_cost(const ActorSolveArgs<System>& a, int i, int n) {
  return ActorCost<System>(a.system, a.params, a.value, a.tau[i], a.goal[2 * i], a.goal[2 * i + 1], n);
}

template <typename System>
__device__ bool is_solved(const ActorSolveArgs<System>& a, int i) {
  return i < a.batch && (!a.active || a.active[i]);
}

// Knot-parallel layout, phase 1 (thread per problem): the nominal's rollout.
template <typename System>
__global__ void actor_begin_kernel(ActorSolveArgs<System> a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (!is_solved(a, i)) return;
  const int n = actor_horizon_knots(a.tau[i], a.knot_dt, a.capacity);
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  ilqr_begin(a.system, problem_cost(a, i, n), a.settings, a.x[i], a.knot_dt, knots, n, a.solve_state[i]);
}

// Phase 2 (thread per problem and knot, knot index fastest): knot t < n is linearized and
// quadratized, knot n gets the terminal cost's quadratization.
template <typename System>
__global__ void actor_approximate_kernel(ActorSolveArgs<System> a) {
  const size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int i = static_cast<int>(index / (a.capacity + 1)), t = static_cast<int>(index % (a.capacity + 1));
  if (!is_solved(a, i) || a.solve_state[i].done) return;
  const int n = actor_horizon_knots(a.tau[i], a.knot_dt, a.capacity);
  if (t > n) return;
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  const ActorCost<System> cost = problem_cost(a, i, n);
  if (t == n) {
    cost.terminal_derivatives(knots[n].x, a.solve_state[i].terminal);
  } else if (!ilqr_approximate_knot(a.system, cost, a.settings, a.knot_dt, knots, t)) {
    a.approximation_failed[i] = 1;  // every writer stores the same value
  }
}

// Phase 3 (thread per problem): Riccati pass, line search, acceptance of iteration `it`
// (it < 0: none, the solve ran no iteration); after the last iteration also the outputs.
template <typename System>
__global__ void actor_step_kernel(ActorSolveArgs<System> a, int it, bool last) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (!is_solved(a, i)) return;
  ActorSolveState<System>& st = a.solve_state[i];
  const int n = actor_horizon_knots(a.tau[i], a.knot_dt, a.capacity);
  IlqrKnot<System>* knots = a.knots + static_cast<size_t>(i) * (a.capacity + 1);
  if (it >= 0 && !st.done) {
    const bool approximated = !a.approximation_failed[i];
    a.approximation_failed[i] = 0;
    ilqr_step(a.system, problem_cost(a, i, n), a.settings, a.knot_dt, knots, n, it, approximated,
              a.mu[i], st);
  }
  if (last) {
    for (int j = 0; j < System::kInputDim; ++j) a.u0[i * System::kInputDim + j] = knots[0].u[j];
    a.iterations[i] = st.result.iterations;
  }
}

template <typename System>
__global__ void actor_solve_kernel(ActorSolveArgs<System> a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (!is_solved(a, i)) return;
  const int n = actor_horizon_knots(a.tau[i], a.knot_dt, a.capacity);  // as BatchActor's
  const ActorCost<System> cost = problem_cost(a, i, n);
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
  const int threads = args.threads_per_block;
  if (threads <= 0 || threads > 1024 || threads % 32 != 0)
    throw std::invalid_argument("actor solve: threads_per_block must be a multiple of 32 in [32, 1024], got " +
                                std::to_string(threads));
  const int blocks = (args.batch + threads - 1) / threads;
  if (args.layout == ActorLayout::kThreadPerProblem) {
    actor_solve_kernel<System><<<blocks, threads, 0, stream>>>(args);
    DMPC_CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (!args.solve_state || !args.approximation_failed)
    throw std::invalid_argument("actor solve: the knot_parallel layout needs its workspace (ActorSolveWorkspace)");
  const size_t points = static_cast<size_t>(args.batch) * (args.capacity + 1);
  const unsigned point_blocks = static_cast<unsigned>((points + threads - 1) / threads);
  actor_begin_kernel<System><<<blocks, threads, 0, stream>>>(args);
  DMPC_CUDA_CHECK(cudaGetLastError());
  for (int it = 0; it < args.settings.max_iterations; ++it) {
    actor_approximate_kernel<System><<<point_blocks, threads, 0, stream>>>(args);
    DMPC_CUDA_CHECK(cudaGetLastError());
    actor_step_kernel<System><<<blocks, threads, 0, stream>>>(args, it, it + 1 == args.settings.max_iterations);
    DMPC_CUDA_CHECK(cudaGetLastError());
  }
  if (args.settings.max_iterations <= 0) {  // no iteration: the outputs are the warm start's
    actor_step_kernel<System><<<blocks, threads, 0, stream>>>(args, -1, true);
    DMPC_CUDA_CHECK(cudaGetLastError());
  }
}

ActorLayout parse_actor_layout(const std::string& name) {
  if (name == "thread_per_problem") return ActorLayout::kThreadPerProblem;
  if (name == "knot_parallel") return ActorLayout::kKnotParallel;
  throw std::invalid_argument("unknown GPU actor layout '" + name +
                              "' (expected thread_per_problem or knot_parallel)");
}

const char* actor_layout_name(ActorLayout layout) {
  return layout == ActorLayout::kKnotParallel ? "knot_parallel" : "thread_per_problem";
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
