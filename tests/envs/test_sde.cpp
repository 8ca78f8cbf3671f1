// The Euler–Maruyama step and its counter-based noise.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "envs/ballbot/ballbot.hpp"
#include "envs/batch_env.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {
namespace {

using Bot = Ballbot<double>;

// One-step increments from a fixed state: x' − x − (f + g u) δ = g dB, so their covariance is
// g Σ gᵀ δ. With N samples each entry's sample covariance has standard error
// √((C_ii C_jj + C_ij²) / N); every entry must lie within 5 of them.
TEST(Sde, OneStepIncrementCovarianceMatchesTheory) {
  const Bot bot;
  const double lambda = 0.02, dt = 0.005;
  const std::vector<double> weight = {0.05, 0.1, 0.2};
  const NoiseModel<double, 3> noise = make_noise_model<3>(lambda, weight);
  Bot::State x = bot.rest_state(0.1, -0.2);
  x[3] += 0.1;
  x[7] = 0.3;
  const Bot::Input u{{1.0, -0.5, 0.25}};

  Bot::State drift;
  Bot::InputMatrix g;
  ASSERT_TRUE(bot.drift_and_input_map(x, drift, g));
  Bot::State mean_step = x + dt * (drift + g * u);

  const int samples = 200000;
  Eigen::Matrix<double, 5, 5> sum = Eigen::Matrix<double, 5, 5>::Zero();
  Eigen::Matrix<double, 5, 1> first = Eigen::Matrix<double, 5, 1>::Zero();
  for (int s = 0; s < samples; ++s) {
    const auto db = brownian_increment(noise, 99, static_cast<uint32_t>(s), 0, 0, 0, dt);
    Bot::State next;
    ASSERT_TRUE(euler_maruyama_step(bot, x, u, db, dt, next));
    Eigen::Matrix<double, 5, 1> d;
    for (int i = 0; i < 5; ++i) {
      d(i) = next[5 + i] - mean_step[5 + i];
      EXPECT_NEAR(next[i], mean_step[i], 1e-15);  // noise enters the velocities only
    }
    first += d;
    sum += d * d.transpose();
  }
  const Eigen::Matrix<double, 5, 5> empirical = sum / samples;
  Eigen::Matrix<double, 5, 3> G = Eigen::Matrix<double, 5, 3>::Zero();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) G(i, j) = g(5 + i, j);
  Eigen::Matrix3d Sigma = Eigen::Matrix3d::Zero();
  for (int i = 0; i < 3; ++i) Sigma(i, i) = lambda / weight[i];
  const Eigen::Matrix<double, 5, 5> expected = G * Sigma * G.transpose() * dt;
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(first(i) / samples, 0.0, 5 * std::sqrt(expected(i, i) / samples));
    for (int j = 0; j < 5; ++j) {
      const double se =
          std::sqrt((expected(i, i) * expected(j, j) + expected(i, j) * expected(i, j)) / samples);
      EXPECT_NEAR(empirical(i, j), expected(i, j), 5 * se) << "entry " << i << "," << j;
    }
  }
}

TEST(Sde, WithoutNoiseEulerMaruyamaIsEuler) {
  const Bot bot;
  const Bot::State x = bot.rest_state(0, 0);
  const Bot::Input u{{0.5, 0.2, -0.1}};
  Bot::State a, b;
  ASSERT_TRUE(euler_step(bot, x, u, 0.005, a));
  ASSERT_TRUE(euler_maruyama_step(bot, x, u, Bot::Input::zero(), 0.005, b));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a[i], b[i]);
}

// Trajectories of the same (seed, environment id) are bit-identical whatever the batch size,
// thread count or position of the environment in the batch.
template <typename System>
std::vector<typename System::State> run_batch(size_t batch, size_t threads, uint32_t first_id,
                                              int steps) {
  EnvConfig cfg;
  ConfigReader empty = ConfigReader::from_string("", "<test>");
  empty.set_override(std::string("env.system=\"") + System::kName + "\"");
  cfg = read_env_config(empty);
  cfg.task.fall_angle = 10.0;  // keep the Ballbot's episodes running while it tips over
  ThreadPool pool(threads);
  constexpr int NU = System::kInputDim;
  BatchEnv<System> env(System{}, cfg.task, make_noise_model<NU>(0.05, cfg.input_weight), 42,
                       batch, pool, first_id);
  env.reset(3);
  std::vector<double> u(batch * NU);
  for (int k = 0; k < steps; ++k) {
    for (size_t i = 0; i < batch; ++i)
      for (int j = 0; j < NU; ++j) u[i * NU + j] = 0.1 * std::sin(0.1 * k + static_cast<double>(j + first_id + i));
    env.step(u.data());
  }
  std::vector<typename System::State> out;
  for (size_t i = 0; i < batch; ++i) out.push_back(env.episode(i).x);
  return out;
}

template <typename System>
class DeterminismTest : public ::testing::Test {};
using Systems = ::testing::Types<Ballbot<double>, PointMass<double>>;
TYPED_TEST_SUITE(DeterminismTest, Systems);

TYPED_TEST(DeterminismTest, SameSeedAndIdGiveSameTrajectory) {
  using System = TypeParam;
  const auto small = run_batch<System>(5, 1, 0, 40);
  const auto large = run_batch<System>(64, 2, 0, 40);
  const auto offset = run_batch<System>(3, 3, 2, 40);  // environments 2, 3, 4
  for (size_t i = 0; i < small.size(); ++i)
    for (int j = 0; j < System::kStateDim; ++j) EXPECT_EQ(small[i][j], large[i][j]) << i << "," << j;
  for (size_t i = 0; i < offset.size(); ++i)
    for (int j = 0; j < System::kStateDim; ++j) EXPECT_EQ(offset[i][j], large[2 + i][j]);
  // ...and different ids do get different noise.
  EXPECT_NE(large[0][0], large[1][0]);
}

}  // namespace
}  // namespace dmpc
