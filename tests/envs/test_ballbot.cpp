// Properties of the Ballbot model that shared/spec/ballbot.md requires of every implementation.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>

#include "core/integrators.hpp"
#include "envs/ballbot/ballbot.hpp"

namespace dmpc {
namespace {

using Bot = Ballbot<double>;

Bot::State random_state(std::mt19937_64& rng, double tilt, double rate) {
  std::uniform_real_distribution<double> pos(-1.5, 1.5), yaw(-M_PI, M_PI), ang(-tilt, tilt),
      vel(-rate, rate);
  Bot::State x;
  x[0] = pos(rng);
  x[1] = pos(rng);
  x[2] = yaw(rng);
  x[3] = ang(rng);
  x[4] = ang(rng);
  for (int i = 5; i < 10; ++i) x[i] = vel(rng);
  return x;
}

Eigen::MatrixXd to_eigen(const Mat<double, 10, 10>& A) {
  Eigen::MatrixXd E(10, 10);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) E(i, j) = A(i, j);
  return E;
}

TEST(Ballbot, MassMatrixIsSymmetricPositiveDefinite) {
  const Bot bot;
  std::mt19937_64 rng(1);
  double worst_asymmetry = 0, smallest_eigenvalue = 1e9;
  for (int n = 0; n < 500; ++n) {
    const Bot::State x = random_state(rng, 1.5, 3.0);  // |pitch|, |roll| < π/2
    Mat<double, 5, 5> M;
    Vec<double, 5> h;
    Mat<double, 3, 5> J;
    ballbot_generated::dynamics_terms(bot.params, &x[0], &x[5], M, h, J);
    Eigen::Matrix<double, 5, 5> E;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) E(i, j) = M(i, j);
    worst_asymmetry = std::max(worst_asymmetry, (E - E.transpose()).cwiseAbs().maxCoeff());
    smallest_eigenvalue = std::min(
        smallest_eigenvalue, Eigen::SelfAdjointEigenSolver<Eigen::Matrix<double, 5, 5>>(E)
                                 .eigenvalues()
                                 .minCoeff());
  }
  EXPECT_LT(worst_asymmetry, 1e-13);
  EXPECT_GT(smallest_eigenvalue, 0.0);
}

// τ = 0, no noise: RK4 at 1 ms for 0.5 s conserves T + U to 1e-7 relative (spec).
TEST(Ballbot, EnergyIsConservedWithoutInput) {
  const Bot bot;
  std::mt19937_64 rng(2);
  double worst_drift = 0;
  for (int trial = 0; trial < 5; ++trial) {
    Bot::State x = random_state(rng, 0.05, 0.5);
    double e0, e;
    ASSERT_TRUE(bot.energy(x, e0));
    for (int k = 0; k < 500; ++k) {
      Bot::State next;
      ASSERT_TRUE(rk4_step(bot, x, Bot::Input::zero(), 1e-3, next));
      x = next;
      ASSERT_TRUE(bot.energy(x, e));
      worst_drift = std::max(worst_drift, std::fabs(e - e0) / std::fabs(e0));
    }
  }
  RecordProperty("worst_relative_energy_drift", std::to_string(worst_drift));
  std::printf("worst relative energy drift over 5 runs: %.3e\n", worst_drift);
  EXPECT_LT(worst_drift, 1e-7);
}

// The spec's closed form of the wheel rates, evaluated directly:
//   ψ̇_i = (r_B/r_w) d_iᵀ ω_B − (1/r_w) [ (R d_i)_y ṗx − (R d_i)_x ṗy ]
TEST(Ballbot, WheelJacobianMatchesClosedForm) {
  const Bot bot;
  const auto& p = bot.params;
  std::mt19937_64 rng(3);
  for (int n = 0; n < 100; ++n) {
    const Bot::State x = random_state(rng, 1.2, 3.0);
    const double yaw = x[2], pitch = x[3], roll = x[4];
    const Eigen::Matrix3d R = (Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()) *
                               Eigen::AngleAxisd(pitch, Eigen::Vector3d::UnitY()) *
                               Eigen::AngleAxisd(roll, Eigen::Vector3d::UnitX()))
                                  .toRotationMatrix();
    Eigen::Matrix3d E;
    E << -std::sin(pitch), 0, 1, std::sin(roll) * std::cos(pitch), std::cos(roll), 0,
        std::cos(roll) * std::cos(pitch), -std::sin(roll), 0;
    const Eigen::Vector3d omega = E * Eigen::Vector3d(x[7], x[8], x[9]);
    Mat<double, 5, 5> M;
    Vec<double, 5> h;
    Mat<double, 3, 5> J;
    ballbot_generated::dynamics_terms(p, &x[0], &x[5], M, h, J);
    for (int i = 0; i < 3; ++i) {
      const double beta = 2.0 * M_PI * i / 3.0;
      const Eigen::Vector3d d = Eigen::Vector3d(std::cos(beta), std::sin(beta), -1) / std::sqrt(2.0);
      const Eigen::Vector3d Rd = R * d;
      const double closed = p.ball_radius / p.wheel_radius * d.dot(omega) -
                            (Rd.y() * x[5] - Rd.x() * x[6]) / p.wheel_radius;
      double ours = 0;
      for (int j = 0; j < 5; ++j) ours += J(i, j) * x[5 + j];
      EXPECT_NEAR(ours, closed, 1e-12 * (1 + std::fabs(closed)));
    }
  }
}

TEST(Ballbot, WheelRatesMatchSpecCheckValues) {
  const Bot bot;
  std::mt19937_64 rng(4);
  for (int n = 0; n < 20; ++n) {
    Bot::State x = random_state(rng, 1.2, 0.0);
    Mat<double, 5, 5> M;
    Vec<double, 5> h;
    Mat<double, 3, 5> J;
    ballbot_generated::dynamics_terms(bot.params, &x[0], &x[5], M, h, J);
    // Pure roll rate 1 rad/s: ψ̇ = 1.381067932·(1, −½, −½) at any pose.
    EXPECT_NEAR(J(0, 4), 1.381067932, 1e-9);
    EXPECT_NEAR(J(1, 4), -0.690533966, 1e-9);
    EXPECT_NEAR(J(2, 4), -0.690533966, 1e-9);
    // Pure yaw rate at pitch = roll = 0: −1.381067932 on every wheel.
    x[3] = x[4] = 0;
    ballbot_generated::dynamics_terms(bot.params, &x[0], &x[5], M, h, J);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(J(i, 2), -1.381067932, 1e-9);
  }
}

TEST(Ballbot, BalancingEquilibriumMatchesSpec) {
  const Bot bot;
  double pitch, roll;
  bot.balancing_tilt(pitch, roll);
  EXPECT_NEAR(pitch, -0.0153340390, 1e-10);
  EXPECT_NEAR(roll, 0.0168695652, 1e-10);
  Bot::State xdot;
  ASSERT_TRUE(bot.flow(bot.rest_state(0.3, -0.7), Bot::Input::zero(), xdot));
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(xdot[i], 0.0, 1e-13) << "component " << i;

  // Gravity part of h at exact upright, at rest: (0, 0, 0, −0.549, 0.604) N m.
  const Bot::State upright = Bot::State::zero();
  Mat<double, 5, 5> M;
  Vec<double, 5> h;
  Mat<double, 3, 5> J;
  ballbot_generated::dynamics_terms(bot.params, &upright[0], &upright[5], M, h, J);
  const double expected[5] = {0, 0, 0, -0.549, 0.604};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(h[i], expected[i], 5e-4) << "h[" << i << "]";
}

TEST(Ballbot, LinearizationIsUnstableAndControllable) {
  const Bot bot;
  const Bot::State x = bot.rest_state(0, 0);
  Bot::State xdot;
  Bot::StateMatrix A;
  Bot::InputMatrix B;
  ASSERT_TRUE(bot.flow_jacobians(x, Bot::Input::zero(), xdot, A, B));
  const Eigen::MatrixXd Ae = to_eigen(A);
  const Eigen::VectorXcd ev = Eigen::EigenSolver<Eigen::MatrixXd>(Ae).eigenvalues();
  std::vector<double> real_parts;
  int zeros = 0;
  for (int i = 0; i < 10; ++i) {
    EXPECT_LT(std::fabs(ev[i].imag()), 1e-6);
    if (std::abs(ev[i]) < 1e-6) {
      ++zeros;
    } else {
      real_parts.push_back(ev[i].real());
    }
  }
  std::sort(real_parts.begin(), real_parts.end());
  ASSERT_EQ(real_parts.size(), 4u);
  EXPECT_EQ(zeros, 6);
  EXPECT_NEAR(real_parts[0], -4.3631168, 1e-6);
  EXPECT_NEAR(real_parts[1], -4.3521191, 1e-6);
  EXPECT_NEAR(real_parts[2], 4.3521191, 1e-6);
  EXPECT_NEAR(real_parts[3], 4.3631168, 1e-6);

  // Popov–Belevitch–Hautus: controllable iff rank [A − λI, B] = n for every eigenvalue λ.
  Eigen::MatrixXd Be(10, 3);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 3; ++j) Be(i, j) = B(i, j);
  for (double lambda : {0.0, real_parts[0], real_parts[1], real_parts[2], real_parts[3]}) {
    Eigen::MatrixXd pbh(10, 13);
    pbh << Ae - lambda * Eigen::MatrixXd::Identity(10, 10), Be;
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(pbh);
    EXPECT_GT(svd.singularValues()(9), 1e-6) << "uncontrollable mode at lambda " << lambda;
  }
}

}  // namespace
}  // namespace dmpc
