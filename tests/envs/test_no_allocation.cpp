// The control-step loop (batched actor solve → environment step → warm-start shift) allocates
// nothing once set up: every buffer is sized when the batch is built. Checked by counting calls of
// the global operator new while the loop runs (this file replaces it for the whole test binary,
// with a counter that is only armed inside the loop).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/batch_env.hpp"
#include "envs/task/task_config.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

// The replacement pairs malloc with free on purpose; GCC cannot see that they match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace dmpc {
namespace {

TEST(NoAllocation, ControlStepLoopOfActorAndEnvironment) {
  using Bot = Ballbot<double>;
  ConfigReader r = ConfigReader::from_string("", "<test>");
  const EnvConfig env_cfg = read_env_config(r);
  ActorSettings settings = read_actor_settings(r);  // the default DMPC actor
  settings.horizon = 0.5;
  const Bot bot;
  const size_t batch = 16;
  ThreadPool pool(2);
  BatchEnv<Bot> env(bot, env_cfg.task, make_noise_model<3>(1e-3, env_cfg.input_weight), 7, batch, pool);
  const auto params = make_cost_params(bot, settings, env_cfg.input_weight, env_cfg.task.cost,
                                       env_cfg.task.binary_goal_radius);
  BatchActor<Bot> actor(bot, settings, params, env_cfg.task.input_limit, batch, pool);
  const ValueNetwork net = random_value_network({13, 12, 3}, 3, 1.0);
  actor.set_value({net.shape, net.params.data()});
  env.reset(0);
  std::vector<Bot::State> x(batch);
  std::vector<double> tau(batch), goals(2 * batch), u(3 * batch);
  std::vector<uint8_t> active(batch);
  for (size_t i = 0; i < batch; ++i) {
    goals[2 * i] = env.episode(i).goal_x;
    goals[2 * i + 1] = env.episode(i).goal_y;
  }
  const auto control_step = [&] {
    for (size_t i = 0; i < batch; ++i) {
      x[i] = env.episode(i).x;
      tau[i] = env_cfg.task.duration - env.episode(i).step * env_cfg.task.control_period;
      active[i] = env.episode(i).reason == EndReason::kRunning;
    }
    actor.solve(x.data(), tau.data(), goals.data(), u.data(), active.data());
    env.step(u.data());
    actor.shift(1);
  };
  control_step();  // the first call may set up lazily
  g_allocations = 0;
  g_counting = true;
  for (int step = 0; step < 40; ++step) control_step();
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0) << "allocations inside the control-step loop";
  // The counter does count: a vector's growth is seen.
  g_counting = true;
  std::vector<double> grow(100);
  g_counting = false;
  EXPECT_GE(g_allocations.load(), 1);
}

}  // namespace
}  // namespace dmpc
