// The value-function costs of the actor: Proposition 1 on the point mass, gradients against finite
// differences, and descent on a random critic.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc {
namespace {

using PM = PointMass<double>;

// Stabilizing solution of the discounted CARE (Ã = A + ½ ln γ I)
//   Ãᵀ P + P Ã − P B R⁻¹ Bᵀ P + Q = 0
// from the stable invariant subspace [X₁; X₂] of the Hamiltonian: P = X₂ X₁⁻¹.
Eigen::MatrixXd discounted_care(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B,
                                const Eigen::MatrixXd& Q, const Eigen::MatrixXd& R,
                                double log_gamma) {
  const int n = static_cast<int>(A.rows());
  const Eigen::MatrixXd At = A + 0.5 * log_gamma * Eigen::MatrixXd::Identity(n, n);
  Eigen::MatrixXd H(2 * n, 2 * n);
  H << At, -B * R.inverse() * B.transpose(), -Q, -At.transpose();
  Eigen::ComplexEigenSolver<Eigen::MatrixXd> es(H);
  Eigen::MatrixXcd stable(2 * n, n);
  int found = 0;
  for (int i = 0; i < 2 * n; ++i)
    if (es.eigenvalues()[i].real() < 0) stable.col(found++) = es.eigenvectors().col(i);
  EXPECT_EQ(found, n);
  const Eigen::MatrixXcd P = stable.bottomRows(n) * stable.topRows(n).inverse();
  return P.real();
}

struct Prop1Outcome {
  double u0_error;  // ‖u0 − K* x0‖ / ‖K* x0‖
  double k0_error;  // ‖K0 − K*‖ / ‖K*‖
};

// The DMPC actor on the point mass with V* in both its running and its heuristic cost.
Prop1Outcome run_prop1(double gamma, double horizon, double h, bool consistent,
                       ValueHessian hessian, int iterations) {
  const PM pm;
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(4, 4), B = Eigen::MatrixXd::Zero(4, 2);
  A(0, 2) = A(1, 3) = 1;
  B(2, 0) = B(3, 1) = 1;
  const Eigen::MatrixXd Q = Eigen::Vector4d(4.0, 2.0, 0.5, 0.3).asDiagonal();
  const Eigen::MatrixXd R = Eigen::Vector2d(0.5, 0.8).asDiagonal();
  const Eigen::MatrixXd P = discounted_care(A, B, Q, R, std::log(gamma));
  const Eigen::MatrixXd K_star = -R.inverse() * B.transpose() * P;

  ActorCostParams<double, 4, 2> params;
  params.mode = ActorCostMode::kRunningTerminal;
  params.hessian = hessian;
  params.discount_consistent = consistent;
  params.knot_dt = h;
  params.log_discount = std::log(gamma);
  params.input_weight[0] = R(0, 0);
  params.input_weight[1] = R(1, 1);
  for (int i = 0; i < 4; ++i) params.upright.weight[i] = params.upright.ref[i] = 0;
  QuadraticValue<double, 4> v_star;
  for (int i = 0; i < 4; ++i) {
    v_star.ref[i] = 0;
    for (int j = 0; j < 4; ++j) v_star.P(i, j) = P(i, j);
  }
  const int N = static_cast<int>(std::lround(horizon / h));
  ActorCost<PM, QuadraticValue<double, 4>> cost(pm, &params, v_star, 100.0, 0.0, 0.0, N);
  IlqrSettings<double> s;
  s.max_iterations = iterations;
  s.mu_init = s.mu_min = 0;
  s.integrator = KnotIntegrator::kRk4;
  s.tolerance = 1e-12;
  const PM::State x0{{0.7, -0.4, 0.2, 0.3}};
  std::vector<IlqrKnot<PM>> knots(N + 1);
  for (auto& kn : knots) kn.u = PM::Input::zero();
  double mu = 0;
  const IlqrResult<double> r = ilqr_solve(pm, cost, s, x0, h, knots.data(), N, mu);
  EXPECT_FALSE(r.failed);
  const Eigen::Vector2d u_star = K_star * Eigen::Vector4d(x0[0], x0[1], x0[2], x0[3]);
  Eigen::MatrixXd K0(2, 4);
  for (int a = 0; a < 2; ++a)
    for (int j = 0; j < 4; ++j) K0(a, j) = knots[0].K(a, j);
  return {(Eigen::Vector2d(knots[0].u[0], knots[0].u[1]) - u_star).norm() / u_star.norm(),
          (K0 - K_star).norm() / K_star.norm()};
}

// With V = V*, Eq. 14 in the consistent form equals q exactly, so the actor solves the
// discretization of the infinite-horizon problem: u0 and K0 approach the LQR feedback as h → 0,
// for every horizon. The literal form is exact only for γ = 1.
TEST(DmpcCosts, Proposition1ReproducesLqrFeedback) {
  for (double gamma : {1.0, 0.5}) {
    for (double horizon : {0.1, 0.5, 2.0}) {
      const Prop1Outcome coarse = run_prop1(gamma, horizon, 0.01, true, ValueHessian::kSecondOrder, 1);
      const Prop1Outcome fine = run_prop1(gamma, horizon, 0.0025, true, ValueHessian::kSecondOrder, 1);
      const Prop1Outcome literal = run_prop1(gamma, horizon, 0.0025, false, ValueHessian::kSecondOrder, 3);
      std::printf("gamma %.2f H %.1f: consistent u0 err %.2e (h=0.01) %.2e (h=0.0025), K0 err "
                  "%.2e; literal u0 err %.2e\n",
                  gamma, horizon, coarse.u0_error, fine.u0_error, fine.k0_error, literal.u0_error);
      EXPECT_LT(fine.u0_error, 0.01);
      EXPECT_LT(fine.k0_error, 0.01);
      EXPECT_LT(fine.u0_error, 0.5 * coarse.u0_error + 1e-9);  // first order in h
      if (gamma == 1.0) {
        EXPECT_NEAR(literal.u0_error, fine.u0_error, 1e-9);  // the two forms coincide
      } else if (horizon >= 0.5) {
        EXPECT_GT(literal.u0_error, 5 * fine.u0_error);  // the literal form is biased
      }
    }
  }
}

// The Gauss–Newton Hessian model changes the gains but not the stationary point: iterated to
// convergence the first input still matches the LQR feedback.
TEST(DmpcCosts, GaussNewtonConvergesToTheSameFirstInput) {
  const Prop1Outcome exact = run_prop1(0.5, 0.5, 0.0025, true, ValueHessian::kSecondOrder, 1);
  const Prop1Outcome gn = run_prop1(0.5, 0.5, 0.0025, true, ValueHessian::kGaussNewton, 30);
  EXPECT_NEAR(gn.u0_error, exact.u0_error, 1e-4);
}

template <typename System>
typename System::State sample_state(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> pos(-1.2, 1.2), small(-0.2, 0.2), vel(-0.8, 0.8);
  typename System::State x;
  for (int i = 0; i < System::kStateDim; ++i) x[i] = vel(rng);
  x[0] = pos(rng);
  x[1] = pos(rng);
  if constexpr (System::kStateDim == 10) {
    x[3] = small(rng);
    x[4] = small(rng);
  }
  return x;
}

template <typename System>
class ValueCostTest : public ::testing::Test {};
using Systems = ::testing::Types<Ballbot<double>, PointMass<double>>;
TYPED_TEST_SUITE(ValueCostTest, Systems);

// l_x and l_u of every value-based mode against central differences of the stage cost.
TYPED_TEST(ValueCostTest, StageGradientsMatchFiniteDifferences) {
  using System = TypeParam;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const ValueNetwork net = random_value_network({NX + 3, 12, 3}, 21, 5.0);
  ActorCostParams<double, NX, NU> params;
  params.knot_dt = 0.02;
  params.log_discount = std::log(0.8);
  for (int j = 0; j < NU; ++j) params.input_weight[j] = 0.1 + 0.2 * j;
  for (int i = 0; i < NX; ++i) {
    params.upright.weight[i] = 0.3 * i;
    params.upright.ref[i] = 0.01 * i;
  }
  // A tilt barrier active on part of the sampled states (|x_3|, |x_2| up to 0.2 or 0.8).
  params.tilt_barrier.index[0] = NX - 1;
  params.tilt_barrier.index[1] = 3;
  params.tilt_barrier.ref[0] = 0.02;
  params.tilt_barrier.ref[1] = -0.01;
  params.tilt_barrier.free = 0.1;
  params.tilt_barrier.weight = 40.0;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> torque(-3, 3);
  double worst = 0;
  for (ActorCostMode mode : {ActorCostMode::kTerminal, ActorCostMode::kRunningTerminal}) {
    for (bool consistent : {true, false}) {
      params.mode = mode;
      params.discount_consistent = consistent;
      ActorCost<System> cost(System{}, &params, {net.shape, net.params.data()}, 2.0, 0.1, 0.8, 25);
      for (int n = 0; n < 20; ++n) {
        const typename System::State x = sample_state<System>(rng);
        typename System::Input u;
        for (int j = 0; j < NU; ++j) u[j] = torque(rng);
        const int k = n % 25;
        CostQuadratic<double, NX, NU> q;
        typename System::Linearization lin;
        ASSERT_TRUE(System{}.linearize(x, lin));
        cost.stage_derivatives(k, x, u, lin, q);
        EXPECT_NEAR(q.l, cost.stage(k, x, u), 1e-12 * (1 + std::fabs(q.l)));
        const double step = 1e-6;
        for (int i = 0; i < NX + NU; ++i) {
          typename System::State xp = x, xm = x;
          typename System::Input up = u, um = u;
          if (i < NX) {
            xp[i] += step;
            xm[i] -= step;
          } else {
            up[i - NX] += step;
            um[i - NX] -= step;
          }
          const double fd = (cost.stage(k, xp, up) - cost.stage(k, xm, um)) / (2 * step);
          const double analytic = i < NX ? q.l_x[i] : q.l_u[i - NX];
          const double err = std::fabs(analytic - fd) / std::max(1.0, std::fabs(fd));
          worst = std::max(worst, err);
          EXPECT_LT(err, 1e-6) << System::kName << " mode " << int(mode) << " d/d" << i;
        }
        CostQuadratic<double, NX, NU> t;
        cost.terminal_derivatives(x, t);
        for (int i = 0; i < NX; ++i) {
          typename System::State xp = x, xm = x;
          xp[i] += step;
          xm[i] -= step;
          const double fd = (cost.terminal(xp) - cost.terminal(xm)) / (2 * step);
          EXPECT_LT(std::fabs(t.l_x[i] - fd) / std::max(1.0, std::fabs(fd)), 1e-6);
        }
      }
    }
  }
  std::printf("%s: worst value-cost gradient error %.2e\n", System::kName, worst);
}

// The vanilla actor's stage cost is the task's own running cost (POLO): h·√(‖p − g‖² + ε²)
// plus ½uᵀRu (dense), h·[‖p − g‖ > r] (binary), or nothing when task_running_cost is off.
TEST(DmpcCosts, TerminalModeChargesTheTaskRunningCost) {
  const ValueNetwork net = random_value_network({7, 8, 2}, 2, 1.0);
  ActorCostParams<double, 4, 2> params;
  params.mode = ActorCostMode::kTerminal;
  params.knot_dt = 0.05;
  params.input_weight[0] = params.input_weight[1] = 0.5;
  params.terminal_smoothing = 0.05;
  ActorCost<PM> cost(PM{}, &params, {net.shape, net.params.data()}, 2.0, 0.0, 0.8, 10);
  const PM::State x{0.3, 0.4, 1.0, -1.0};  // 0.5 m from the goal (0, 0.8)
  const PM::Input u{2.0, 0.0};
  const double control = 0.5 * 0.5 * 4.0;
  EXPECT_NEAR(cost.stage(3, x, u), 0.05 * (std::sqrt(0.25 + 0.0025) + control), 1e-14);
  params.task_cost = CostKind::kBinary;
  params.binary_goal_radius = 0.15;
  EXPECT_NEAR(cost.stage(3, x, u), 0.05 * (1.0 + control), 1e-14);
  params.task_running_cost = false;
  EXPECT_NEAR(cost.stage(3, x, u), 0.05 * control, 1e-14);
}

// final_running_cost = "task": once the horizon reaches the episode's end, the DMPC actor's
// stage cost and its derivatives are the task's (those of the POLO terminal mode, whose φ is then
// q_f as well); short of the end they stay Eq. 14's, the same as with the option off.
TEST(DmpcCosts, FinalTaskRunningPosesTheEpisodesRemainderExactly) {
  using Bot = Ballbot<double>;
  const ValueNetwork net = random_value_network({13, 12, 3}, 4, 1.0);
  ActorCostParams<double, 10, 3> dmpc_params, polo_params;
  dmpc_params.mode = ActorCostMode::kRunningTerminal;
  dmpc_params.knot_dt = polo_params.knot_dt = 0.02;
  for (int j = 0; j < 3; ++j) dmpc_params.input_weight[j] = polo_params.input_weight[j] = 0.1;
  polo_params = dmpc_params;
  polo_params.mode = ActorCostMode::kTerminal;
  ActorCostParams<double, 10, 3> paper_params = dmpc_params;  // the option off
  dmpc_params.final_task_running = true;
  const Bot bot;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> torque(-3, 3);
  // 0.4 s left with 20 knots of 0.02 s: the horizon reaches the end; 0.6 s left: it does not.
  for (const double time_left : {0.4, 0.6}) {
    const bool at_end = time_left < 0.5;
    const MlpValue<double> v{net.shape, net.params.data()};
    ActorCost<Bot> dmpc(bot, &dmpc_params, v, time_left, 0.1, 0.8, 20);
    ActorCost<Bot> other(bot, at_end ? &polo_params : &paper_params, v, time_left, 0.1, 0.8, 20);
    EXPECT_EQ(dmpc.final_is_exact(), at_end);
    for (int n = 0; n < 10; ++n) {
      const Bot::State x = sample_state<Bot>(rng);
      Bot::Input u;
      for (int j = 0; j < 3; ++j) u[j] = torque(rng);
      Bot::Linearization lin;
      ASSERT_TRUE(bot.linearize(x, lin));
      CostQuadratic<double, 10, 3> a, b;
      dmpc.stage_derivatives(n, x, u, lin, a);
      other.stage_derivatives(n, x, u, lin, b);
      EXPECT_EQ(dmpc.stage(n, x, u), other.stage(n, x, u));
      EXPECT_EQ(a.l, b.l);
      for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(a.l_x[i], b.l_x[i]) << i;
        for (int j = 0; j < 10; ++j) EXPECT_EQ(a.l_xx(i, j), b.l_xx(i, j)) << i << "," << j;
      }
      EXPECT_EQ(dmpc.terminal(x), other.terminal(x));
    }
  }
  // At the end, the stage cost is h·(‖p − g‖ smoothed + ½uᵀRu + l_stab), whatever V̂ says.
  ActorCost<Bot> dmpc(bot, &dmpc_params, {net.shape, net.params.data()}, 0.4, 0.0, 0.8, 20);
  Bot::State x = bot.rest_state(0.3, 0.4);  // 0.5 m from the goal (0, 0.8)
  const Bot::Input u{1.0, 0.0, 0.0};
  EXPECT_NEAR(dmpc.stage(0, x, u), 0.02 * (std::sqrt(0.25 + 0.0025) + 0.5 * 0.1), 1e-13);
}

// iLQR on a random tanh critic (not only on quadratics): every accepted iteration lowers J.
TEST(DmpcCosts, IlqrDescendsOnARandomCritic) {
  using Bot = Ballbot<double>;
  const ValueNetwork net = random_value_network({13, 12, 3}, 4, 10.0);
  ActorCostParams<double, 10, 3> params;
  params.mode = ActorCostMode::kRunningTerminal;
  params.knot_dt = 0.04;
  params.ridge = 1e-3;
  for (int j = 0; j < 3; ++j) params.input_weight[j] = 0.05;
  const Bot bot;
  const Bot::State eq = bot.rest_state(0, 0);
  const double upright[10] = {0, 0, 0, 50, 50, 0, 0, 5, 5, 5};
  for (int i = 0; i < 10; ++i) {
    params.upright.weight[i] = upright[i];
    params.upright.ref[i] = eq[i];
  }
  IlqrSettings<double> s;
  s.max_iterations = 10;
  s.input_limit = 10;
  const int N = 25;
  int accepted = 0;
  for (int trial = 0; trial < 5; ++trial) {
    ActorCost<Bot> cost(bot, &params, {net.shape, net.params.data()}, 2.5, 0.1 * trial, 0.8, N);
    std::vector<IlqrKnot<Bot>> knots(N + 1);
    for (auto& kn : knots) kn.u = Bot::Input::zero();
    double mu = s.mu_init;
    const IlqrResult<double> r =
        ilqr_solve(bot, cost, s, bot.rest_state(-0.5 + 0.25 * trial, -0.8), 0.04, knots.data(), N, mu);
    ASSERT_FALSE(r.failed);
    double previous = r.initial_cost;
    for (int it = 0; it < r.iterations; ++it) {
      EXPECT_LE(r.cost[it], previous);
      previous = r.cost[it];
    }
    EXPECT_LT(r.final_cost, r.initial_cost);
    accepted += r.accepted;
  }
  EXPECT_GT(accepted, 5);
}

}  // namespace
}  // namespace dmpc
