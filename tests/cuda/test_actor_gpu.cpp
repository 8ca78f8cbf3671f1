// The GPU actor (one thread per problem) against the CPU BatchActor on the same problems, float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {
namespace {

template <typename T>
T* to_device(const T* host, size_t n) {
  T* ptr = nullptr;
  DMPC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T)));
  DMPC_CUDA_CHECK(cudaMemcpy(ptr, host, n * sizeof(T), cudaMemcpyHostToDevice));
  return ptr;
}

// The same first inputs and first-knot gains from both backends with the DMPC cost and a random
// critic, over three warm-started control steps (six iLQR iterations from the same state), a
// quarter of the problems with the horizon at the episode's end. Float rounding differs (device
// sin/cos/exp, fused multiply-adds) and these problems amplify it: the CPU code built with fused
// multiply-adds, a perturbation of the same size (tests/fp_contract), moves u₀ by up to
// 1.3e-3 (1 + |u₀|) by the third step. Hence the bound 2e-3 (1 + |u₀|), and 1e-3 of the largest
// gain for K.
TEST(GpuActor, BallbotDmpcMatchesCpu) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  using Bot = Ballbot<float>;
  ConfigReader r = ConfigReader::from_string("", "<test>");
  const EnvConfig env = read_env_config(r);
  ActorSettings a = read_actor_settings(r);
  a.solver.max_iterations = 2;
  const Bot bot;
  const auto params = make_cost_params(bot, a, env.input_weight, env.task.cost, env.task.binary_goal_radius);
  const ValueNetwork net = random_value_network({13, 12, 3}, 5, 3.0);
  const std::vector<float> weights(net.params.begin(), net.params.end());

  const int batch = 128;
  std::vector<Bot::State> x(batch);
  std::vector<float> tau(batch), goal(2 * batch);
  for (int i = 0; i < batch; ++i) {
    x[i] = bot.rest_state(-1.0f + 2.0f * float(i) / batch, -0.8f);
    x[i][3] += 0.02f * float(i % 3);
    tau[i] = i % 4 == 0 ? 0.5f : 3.0f;
    goal[2 * i] = 0.0f;
    goal[2 * i + 1] = 0.8f;
  }

  ThreadPool pool(2);
  BatchActor<Bot> cpu(bot, a, params, env.task.input_limit, batch, pool);
  cpu.set_value({net.shape, weights.data()});

  const int capacity = a.knots();
  std::vector<IlqrKnot<Bot>> knots_host(static_cast<size_t>(batch) * (capacity + 1));
  for (auto& kn : knots_host) {
    kn.u = Bot::Input::zero();
    kn.K = Mat<float, 3, 10>::zero();
  }
  std::vector<float> mu_host(batch, float(a.solver.mu_init));
  cuda::ActorSolveArgs<Bot> args;
  args.system = bot;
  args.params = to_device(&params, 1);
  args.value = {net.shape, to_device(weights.data(), weights.size())};
  args.settings = cpu.solver_settings();
  args.knot_dt = float(a.knot_dt);
  args.capacity = capacity;
  args.knots = to_device(knots_host.data(), knots_host.size());
  args.mu = to_device(mu_host.data(), mu_host.size());
  args.x = to_device(x.data(), x.size());
  args.tau = to_device(tau.data(), tau.size());
  args.goal = to_device(goal.data(), goal.size());
  std::vector<float> u_gpu(batch * 3), u_cpu(batch * 3);
  std::vector<int32_t> iterations(batch);
  args.u0 = to_device(u_gpu.data(), u_gpu.size());
  args.iterations = to_device(iterations.data(), iterations.size());
  args.batch = batch;

  for (int step = 0; step < 3; ++step) {
    cpu.solve(x.data(), tau.data(), goal.data(), u_cpu.data());
    cuda::launch_actor_solve(args, nullptr);
    DMPC_CUDA_CHECK(cudaMemcpy(u_gpu.data(), args.u0, u_gpu.size() * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < batch * 3; ++i)
      EXPECT_NEAR(u_gpu[i], u_cpu[i], 2e-3f * (1.0f + std::fabs(u_cpu[i]))) << "step " << step << " entry " << i;
    // The feedback gains of the first knot, to the same tolerance relative to the largest gain.
    DMPC_CUDA_CHECK(cudaMemcpy(knots_host.data(), args.knots, knots_host.size() * sizeof(IlqrKnot<Bot>),
                               cudaMemcpyDeviceToHost));
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
  for (const void* p : {static_cast<const void*>(args.params), static_cast<const void*>(args.value.params),
                        static_cast<const void*>(args.knots), static_cast<const void*>(args.mu),
                        static_cast<const void*>(args.x), static_cast<const void*>(args.tau),
                        static_cast<const void*>(args.goal), static_cast<const void*>(args.u0),
                        static_cast<const void*>(args.iterations)})
    cudaFree(const_cast<void*>(p));
}

}  // namespace
}  // namespace dmpc
