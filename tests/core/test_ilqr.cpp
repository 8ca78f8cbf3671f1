// The iLQR solver on problems with known answers.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc {
namespace {

using PM = PointMass<double>;
using PMParams = ActorCostParams<double, 4, 2>;

PMParams point_mass_quadratic(double h, double gamma) {
  PMParams p;
  p.mode = ActorCostMode::kQuadratic;
  p.knot_dt = h;
  p.log_discount = std::log(gamma);
  const double q[4] = {3.0, 1.5, 0.4, 0.2}, qf[4] = {10.0, 8.0, 1.0, 0.5}, ref[4] = {0.4, -0.3, 0, 0};
  for (int i = 0; i < 4; ++i) {
    p.tracking.weight[i] = q[i];
    p.tracking_final.weight[i] = qf[i];
    p.tracking.ref[i] = p.tracking_final.ref[i] = ref[i];
    p.upright.weight[i] = 0;
    p.upright.ref[i] = 0;
  }
  p.input_weight[0] = 0.3;
  p.input_weight[1] = 0.7;
  return p;
}

// Discrete finite-horizon LQR by dynamic programming, written independently of the solver:
// e = x − r, e⁺ = A e + B u + c with c = A r − r, stage w_k(½eᵀQe + ½uᵀRu), terminal ½eᵀ P_N e.
struct DiscreteLqr {
  std::vector<Eigen::MatrixXd> K;
  std::vector<Eigen::VectorXd> kff;
};

DiscreteLqr solve_lqr(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B, const Eigen::VectorXd& c,
                      const Eigen::MatrixXd& Q, const Eigen::MatrixXd& R,
                      const Eigen::MatrixXd& PN, const std::vector<double>& w) {
  const int N = static_cast<int>(w.size());
  DiscreteLqr out{std::vector<Eigen::MatrixXd>(N), std::vector<Eigen::VectorXd>(N)};
  Eigen::MatrixXd P = PN;
  Eigen::VectorXd p = Eigen::VectorXd::Zero(A.rows());
  for (int k = N - 1; k >= 0; --k) {
    const Eigen::VectorXd Pc_p = P * c + p;
    const Eigen::MatrixXd Quu = w[k] * R + B.transpose() * P * B;
    const Eigen::MatrixXd Qux = B.transpose() * P * A;
    const Eigen::VectorXd Qu = B.transpose() * Pc_p;
    const Eigen::LLT<Eigen::MatrixXd> llt(Quu);
    out.K[k] = -llt.solve(Qux);
    out.kff[k] = -llt.solve(Qu);
    const Eigen::MatrixXd Pn = w[k] * Q + A.transpose() * P * A + Qux.transpose() * out.K[k];
    p = A.transpose() * Pc_p + Qux.transpose() * out.kff[k];
    P = 0.5 * (Pn + Pn.transpose());
  }
  return out;
}

TEST(Ilqr, OneIterationSolvesLinearQuadraticExactly) {
  for (KnotIntegrator integrator : {KnotIntegrator::kEuler, KnotIntegrator::kRk4}) {
    const double h = 0.05, gamma = 0.8;
    const int N = 30;
    const PMParams params = point_mass_quadratic(h, gamma);
    const PM pm;
    IlqrSettings<double> s;
    s.max_iterations = 1;
    s.integrator = integrator;
    s.mu_init = s.mu_min = 0.0;
    const PM::State x0{{-0.8, 0.6, 0.3, -0.2}};
    ActorCost<PM> cost(pm, &params, {}, 3.0, 0.4, -0.3, N);

    // Independent model: the exact discretization of ẋ = A x + B u by the same integrator.
    Eigen::Matrix4d Ac = Eigen::Matrix4d::Zero();
    Ac(0, 2) = Ac(1, 3) = 1;
    Eigen::Matrix<double, 4, 2> Bc = Eigen::Matrix<double, 4, 2>::Zero();
    Bc(2, 0) = Bc(3, 1) = 1;
    Eigen::Matrix4d Ad = Eigen::Matrix4d::Identity() + h * Ac;
    Eigen::Matrix<double, 4, 2> Bd = h * Bc;
    if (integrator == KnotIntegrator::kRk4) {
      const Eigen::Matrix4d hA = h * Ac;
      Ad = Eigen::Matrix4d::Identity() + hA + hA * hA / 2 + hA * hA * hA / 6 + hA * hA * hA * hA / 24;
      Bd = h * (Eigen::Matrix4d::Identity() + hA / 2 + hA * hA / 6 + hA * hA * hA / 24) * Bc;
    }
    Eigen::Vector4d ref(0.4, -0.3, 0, 0), q(3.0, 1.5, 0.4, 0.2), qf(10.0, 8.0, 1.0, 0.5);
    std::vector<double> w(N);
    for (int k = 0; k < N; ++k) w[k] = h * std::pow(gamma, k * h);
    const DiscreteLqr lqr =
        solve_lqr(Ad, Bd, Ad * ref - ref, q.asDiagonal(), Eigen::Vector2d(0.3, 0.7).asDiagonal(),
                  std::pow(gamma, N * h) * Eigen::Matrix4d(qf.asDiagonal()), w);

    std::mt19937_64 rng(5);
    std::normal_distribution<double> guess(0.0, 2.0);
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<IlqrKnot<PM>> knots(N + 1);
      for (int k = 0; k < N; ++k) knots[k].u = PM::Input{{guess(rng), guess(rng)}};
      double mu = s.mu_init;
      const IlqrResult<double> r = ilqr_solve(pm, cost, s, x0, h, knots.data(), N, mu);
      ASSERT_FALSE(r.failed);
      ASSERT_EQ(r.accepted, 1);
      Eigen::Vector4d e(x0[0], x0[1], x0[2], x0[3]);
      e -= ref;
      for (int k = 0; k < N; ++k) {
        const Eigen::Vector2d u = lqr.K[k] * e + lqr.kff[k];
        EXPECT_NEAR(knots[k].u[0], u(0), 1e-8) << "knot " << k;
        EXPECT_NEAR(knots[k].u[1], u(1), 1e-8) << "knot " << k;
        e = Ad * (e + ref) + Bd * u - ref;
      }
      for (int a = 0; a < 2; ++a)
        for (int j = 0; j < 4; ++j) EXPECT_NEAR(knots[0].K(a, j), lqr.K[0](a, j), 1e-8);
    }
  }
}

TEST(Ilqr, ProjectPsdClampsNegativeEigenvalues) {
  Eigen::Matrix3d V = Eigen::Quaterniond(0.3, 0.5, -0.2, 0.7).normalized().toRotationMatrix();
  const Eigen::Matrix3d M = V * Eigen::Vector3d(2.0, -1.0, 0.5).asDiagonal() * V.transpose();
  Mat<double, 3, 3> m;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) m(i, j) = M(i, j);
  project_psd(m, 0.0);
  const Eigen::Matrix3d expected = V * Eigen::Vector3d(2.0, 0.0, 0.5).asDiagonal() * V.transpose();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(m(i, j), expected(i, j), 1e-12);
}

// Closed-loop Ballbot: MPC with the quadratic cost of the issue, the RK4 plant at 50 Hz.
TEST(Ilqr, BallbotMpcStabilizesAndReachesTheTarget) {
  using Bot = Ballbot<double>;
  const Bot bot;
  ActorCostParams<double, 10, 3> params;
  params.mode = ActorCostMode::kQuadratic;
  const double h = 0.02;
  const int N = 50;  // horizon 1 s
  params.knot_dt = h;
  // Q = diag(100, 100, 400, 0, 0, 40, 40, 40, 20, 20): no weight on pitch and roll was needed.
  const double q[10] = {100, 100, 400, 0, 0, 40, 40, 40, 20, 20};
  const Bot::State target = bot.rest_state(0.0, 0.0);
  for (int i = 0; i < 10; ++i) {
    params.tracking.weight[i] = params.tracking_final.weight[i] = q[i];
    params.tracking.ref[i] = params.tracking_final.ref[i] = target[i];
    params.upright.weight[i] = 0;
    params.upright.ref[i] = 0;
  }
  for (int j = 0; j < 3; ++j) params.input_weight[j] = 2.0;
  IlqrSettings<double> s;
  s.max_iterations = 3;
  s.input_limit = 10.0;
  ActorCost<Bot> cost(bot, &params, {}, 100.0, 0.0, 0.0, N);

  Bot::State x = bot.rest_state(0.3, 0.0);
  x[Bot::kPitch] += 0.1;
  std::vector<IlqrKnot<Bot>> knots(N + 1);
  for (auto& kn : knots) kn.u = Bot::Input::zero();
  double mu = s.mu_init;
  double first_reach = -1;
  for (int step = 0; step < 250; ++step) {  // 5 s at 50 Hz
    const IlqrResult<double> r = ilqr_solve(bot, cost, s, x, h, knots.data(), N, mu);
    ASSERT_FALSE(r.failed) << "step " << step;
    double previous = r.initial_cost;
    for (int it = 0; it < r.iterations; ++it) {
      EXPECT_LE(r.cost[it], previous + 1e-12 * std::fabs(previous)) << "step " << step;
      previous = r.cost[it];
    }
    Bot::State next;
    ASSERT_TRUE(rk4_step(bot, x, knots[0].u, 0.02, next));
    x = next;
    ilqr_shift(knots.data(), N);
    const double dist = std::hypot(x[0] - target[0], x[1] - target[1]);
    if (first_reach < 0 && dist < 0.02) first_reach = 0.02 * (step + 1);
    ASSERT_LT(bot.tilt(x), 0.5) << "fell at step " << step;
  }
  std::printf("Ballbot MPC: within 2 cm of the target after %.2f s; final offset %.2e m\n",
              first_reach, std::hypot(x[0], x[1]));
  EXPECT_GT(first_reach, 0.0);
  EXPECT_LT(std::hypot(x[0] - target[0], x[1] - target[1]), 0.01);
  EXPECT_LT(std::fabs(x[Bot::kPitch] - target[Bot::kPitch]), 0.01);
  EXPECT_LT(std::fabs(x[Bot::kRoll] - target[Bot::kRoll]), 0.01);
}

}  // namespace
}  // namespace dmpc
