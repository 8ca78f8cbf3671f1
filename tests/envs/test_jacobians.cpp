// One derivative check for every system: the analytic Jacobians of F(x, u) = f(x) + g(x) u against
// central differences, and f, g against F, at random states (double precision).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc {
namespace {

template <typename System>
typename System::State random_state(std::mt19937_64& rng);

template <>
Ballbot<double>::State random_state<Ballbot<double>>(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> pos(-1.5, 1.5), yaw(-M_PI, M_PI), tilt(-0.45, 0.45),
      vel(-2, 2);
  Ballbot<double>::State x;
  x[0] = pos(rng);
  x[1] = pos(rng);
  x[2] = yaw(rng);
  x[3] = tilt(rng);
  x[4] = tilt(rng);
  for (int i = 5; i < 10; ++i) x[i] = vel(rng);
  return x;
}

template <>
PointMass<double>::State random_state<PointMass<double>>(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> pos(-1.5, 1.5), vel(-2, 2);
  return PointMass<double>::State{{pos(rng), pos(rng), vel(rng), vel(rng)}};
}

// Error of an analytic entry a against a finite-difference estimate b: relative where |b| > 1,
// absolute below (entries that should vanish are then held to the same 1e-6).
double entry_error(double a, double b) { return std::fabs(a - b) / std::max(1.0, std::fabs(b)); }

template <typename System>
class JacobianTest : public ::testing::Test {};
using Systems = ::testing::Types<Ballbot<double>, PointMass<double>>;
TYPED_TEST_SUITE(JacobianTest, Systems);

TYPED_TEST(JacobianTest, AnalyticMatchesCentralDifferences) {
  using System = TypeParam;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const System sys{};
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> torque(-10, 10);
  // ≈ ε^(1/3) · scale: balances truncation (∝ step²) against round-off (∝ ε/step).
  const double step = 1e-5;
  double worst = 0;
  for (int n = 0; n < 200; ++n) {
    const typename System::State x = random_state<System>(rng);
    typename System::Input u;
    for (int i = 0; i < NU; ++i) u[i] = torque(rng);
    typename System::State xdot;
    typename System::StateMatrix A;
    typename System::InputMatrix B;
    ASSERT_TRUE(sys.flow_jacobians(x, u, xdot, A, B));
    for (int j = 0; j < NX + NU; ++j) {
      typename System::State xp = x, xm = x, fp, fm;
      typename System::Input up = u, um = u;
      if (j < NX) {
        xp[j] += step;
        xm[j] -= step;
      } else {
        up[j - NX] += step;
        um[j - NX] -= step;
      }
      ASSERT_TRUE(sys.flow(xp, up, fp));
      ASSERT_TRUE(sys.flow(xm, um, fm));
      for (int i = 0; i < NX; ++i) {
        const double fd = (fp[i] - fm[i]) / (2 * step);
        const double analytic = j < NX ? A(i, j) : B(i, j - NX);
        const double err = entry_error(analytic, fd);
        worst = std::max(worst, err);
        ASSERT_LT(err, 1e-6) << System::kName << " state " << n << " d xdot[" << i << "] / d "
                             << (j < NX ? "x[" : "u[") << (j < NX ? j : j - NX) << "]";
      }
    }
  }
  std::printf("%s: worst Jacobian error against central differences: %.3e\n", System::kName,
              worst);
}

TYPED_TEST(JacobianTest, DriftAndInputMapReassembleTheFlow) {
  using System = TypeParam;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const System sys{};
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> torque(-10, 10);
  for (int n = 0; n < 100; ++n) {
    const typename System::State x = random_state<System>(rng);
    typename System::Input u;
    for (int i = 0; i < NU; ++i) u[i] = torque(rng);
    typename System::State xdot, drift;
    typename System::InputMatrix g;
    ASSERT_TRUE(sys.flow(x, u, xdot));
    ASSERT_TRUE(sys.drift_and_input_map(x, drift, g));
    const typename System::State assembled = drift + g * u;
    for (int i = 0; i < NX; ++i) EXPECT_NEAR(assembled[i], xdot[i], 1e-11 * (1 + std::fabs(xdot[i])));
  }
}

}  // namespace
}  // namespace dmpc
