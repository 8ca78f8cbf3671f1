// The GPU actor (both layouts) against the CPU BatchActor on the same problems, float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cuda/actor_solve.hpp"
#include "tests/cuda/agreement_problems.hpp"
#include "cuda/device_buffer.hpp"

namespace dmpc {
namespace {

// The same first inputs and first-knot gains from both backends with the DMPC cost and a random
// critic, over three warm-started control steps (six iLQR iterations from the same state), a
// quarter of the problems with the horizon at the episode's end. Float rounding differs (device
// sin/cos/exp, fused multiply-adds) and these problems amplify it: the CPU code built with fused
// multiply-adds, a perturbation of the same size (tests/fp_contract), moves u₀ by up to
// 1.3e-3 (1 + |u₀|) by the third step. Hence the bound 2e-3 (1 + |u₀|), and 1e-3 of the largest
// gain for K.
void expect_gpu_actor_matches_cpu(cuda::ActorLayout layout, int threads_per_block) {
  using agreement::Bot;
  const agreement::ActorProblems p = agreement::actor_problems();
  const int batch = agreement::ActorProblems::kBatch;

  ThreadPool pool(2);
  BatchActor<Bot> cpu(Bot{}, p.settings, p.params, p.env.task.input_limit, batch, pool);
  cpu.set_value({p.net.shape, p.weights.data()});

  const int capacity = p.settings.knots();
  std::vector<IlqrKnot<Bot>> knots_host(static_cast<size_t>(batch) * (capacity + 1));
  for (auto& kn : knots_host) {
    kn.u = Bot::Input::zero();
    kn.K = Mat<float, 3, 10>::zero();
  }
  cuda::DeviceBuffer<ActorCostParams<float, 10, 3>> params({p.params});
  cuda::DeviceBuffer<float> weights(p.weights), mu(std::vector<float>(batch, float(p.settings.solver.mu_init)));
  cuda::DeviceBuffer<float> tau(p.tau), goal(p.goal), u0(batch * 3);
  cuda::DeviceBuffer<IlqrKnot<Bot>> knots(knots_host);
  cuda::DeviceBuffer<Bot::State> x(p.x);
  cuda::DeviceBuffer<int32_t> iterations(batch);
  cuda::ActorSolveArgs<Bot> args;
  args.system = Bot{};
  args.params = params.ptr;
  args.value = {p.net.shape, weights.ptr};
  args.settings = cpu.solver_settings();
  args.knot_dt = float(p.settings.knot_dt);
  args.capacity = capacity;
  args.knots = knots.ptr;
  args.mu = mu.ptr;
  args.x = x.ptr;
  args.tau = tau.ptr;
  args.goal = goal.ptr;
  args.u0 = u0.ptr;
  args.iterations = iterations.ptr;
  args.batch = batch;
  args.layout = layout;
  args.threads_per_block = threads_per_block;
  cuda::ActorSolveWorkspace<Bot> workspace(batch);
  workspace.attach(args);

  std::vector<float> u_gpu, u_cpu(batch * 3);
  for (int step = 0; step < agreement::ActorProblems::kSteps; ++step) {
    cpu.solve(p.x.data(), p.tau.data(), p.goal.data(), u_cpu.data());
    cuda::launch_actor_solve(args, nullptr);
    u0.download(u_gpu);
    for (int i = 0; i < batch * 3; ++i)
      EXPECT_NEAR(u_gpu[i], u_cpu[i], 2e-3f * (1.0f + std::fabs(u_cpu[i]))) << "step " << step << " entry " << i;
    // The feedback gains of the first knot, to the same tolerance relative to the largest gain.
    knots.download(knots_host);
    for (int i = 0; i < batch; ++i) {
      const auto& k_gpu = knots_host[static_cast<size_t>(i) * (capacity + 1)].K;
      const auto& k_cpu = std::as_const(cpu).knot(i, 0).K;
      float largest = 0.0f;
      for (int row = 0; row < 3; ++row)
        for (int col = 0; col < 10; ++col) largest = std::max(largest, std::fabs(k_cpu(row, col)));
      for (int row = 0; row < 3; ++row)
        for (int col = 0; col < 10; ++col)
          EXPECT_NEAR(k_gpu(row, col), k_cpu(row, col), 1e-3f * (1.0f + largest))
              << "step " << step << " problem " << i << " K(" << row << "," << col << ")";
    }
    cpu.shift(1);
    cuda::launch_actor_shift(args, nullptr, nullptr);  // the device warm start moves on
  }
}

TEST(GpuActor, BallbotDmpcMatchesCpu) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  expect_gpu_actor_matches_cpu(cuda::ActorLayout::kThreadPerProblem, 64);
}

// The knot-parallel layout runs the same phases in three kernels; block size 96 leaves blocks
// that straddle problems in the knot kernel.
TEST(GpuActor, KnotParallelLayoutMatchesCpu) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  expect_gpu_actor_matches_cpu(cuda::ActorLayout::kKnotParallel, 96);
}

}  // namespace
}  // namespace dmpc
