// The critic's HJB-residual term (trainer/critic.hpp eq14_running_cost, LibTorch autograd) against
// the actor's running cost (core/actor_costs.hpp ActorCost::running, analytic derivatives of the
// flat network): the same Eq. 14 from the same weights, at random Ballbot states and times.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/actor_config.hpp"
#include "core/actor_costs.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "trainer/critic.hpp"

namespace dmpc {
namespace {

TEST(HjbResidual, Eq14OfTheModuleEqualsTheActorsRunningCost) {
  using Bot = Ballbot<double>;
  constexpr int NX = Bot::kStateDim, NU = Bot::kInputDim;
  torch::manual_seed(5);
  const MlpShape shape{NX + 3, 12, 3};
  ValueNet net(shape);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  net->to(torch::kFloat64);
  const std::vector<double> flat = to_flat(net);
  const Bot sys{};
  const std::vector<double> input_weight = {0.5, 0.7, 0.9};
  for (const double discount : {1.0, 0.8}) {
    ActorSettings settings;
    settings.mode = ActorCostMode::kRunningTerminal;
    settings.discount = discount;
    const auto params = make_cost_params(sys, settings, input_weight, CostKind::kDense, 0.15);
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> pos(-1.2, 1.2), angle(-0.2, 0.2), rate(-1.0, 1.0), time(0.2, 3.0);
    const int n = 32;
    torch::Tensor z = torch::empty({n, NX + 3}, torch::kFloat64), f = torch::empty({n, NX}, torch::kFloat64),
                  g = torch::empty({n, NX, NU}, torch::kFloat64);
    std::vector<double> actor(n);
    for (int i = 0; i < n; ++i) {
      Bot::State x = sys.rest_state(pos(rng), pos(rng));
      for (int j = 2; j < 5; ++j) x[j] += angle(rng);
      for (int j = 5; j < NX; ++j) x[j] = rate(rng);
      const double tau = time(rng), gx = pos(rng), gy = pos(rng);
      Bot::State drift;
      Bot::InputMatrix input_map;
      ASSERT_TRUE(sys.drift_and_input_map(x, drift, input_map));
      const ActorCost<Bot> cost(sys, &params, MlpValue<double>{shape, flat.data()}, tau, gx, gy, 50);
      actor[static_cast<size_t>(i)] = cost.running(0, x, drift, input_map);
      z[i][0] = tau;
      for (int j = 0; j < NX; ++j) {
        z[i][1 + j] = x[j];
        f[i][j] = drift[j];
        for (int c = 0; c < NU; ++c) g[i][j][c] = input_map(j, c);
      }
      z[i][NX + 1] = gx;
      z[i][NX + 2] = gy;
    }
    z.requires_grad_(true);
    const torch::Tensor v = net->forward(z);
    const torch::Tensor r_inverse = 1.0 / torch::tensor(input_weight, torch::kFloat64);
    const torch::Tensor l = eq14_running_cost(z, v, f, g, r_inverse, std::log(discount));
    double worst = 0;
    for (int i = 0; i < n; ++i) {
      const double a = actor[static_cast<size_t>(i)], t = l[i].item<double>();
      worst = std::max(worst, std::fabs(a - t) / (1 + std::fabs(a)));
      EXPECT_NEAR(t, a, 1e-9 * (1 + std::fabs(a))) << "point " << i << ", discount " << discount;
    }
    std::printf("  discount %.2f: worst relative difference %.2g\n", discount, worst);
    // The task-only form (quadratic = 1) adds ½ Σ_j (gᵀ∂ₓV̂)_j² / R_j, with ∂ₓV̂ from the flat
    // network's analytic gradient (core/value_mlp.hpp), not from autograd.
    const torch::Tensor l1 = eq14_running_cost(z, v, f, g, r_inverse, std::log(discount), 1.0);
    for (int i = 0; i < n; ++i) {
      std::vector<double> zi(NX + 3);
      for (int j = 0; j < NX + 3; ++j) zi[static_cast<size_t>(j)] = z[i][j].item<double>();
      ValueDerivatives<double, 1> d;
      value_mlp_derivatives<double, 1>(shape, flat.data(), zi.data(), d);
      double extra = 0;
      for (int c = 0; c < NU; ++c) {
        double gv = 0;
        for (int j = 0; j < NX; ++j) gv += g[i][j][c].item<double>() * d.grad[1 + j];
        extra += 0.5 * gv * gv / input_weight[static_cast<size_t>(c)];
      }
      const double expected = l[i].item<double>() + extra;
      EXPECT_NEAR(l1[i].item<double>(), expected, 1e-9 * (1 + std::fabs(expected))) << "point " << i;
    }
    // Differentiable in the parameters (double backward): the residual's gradient exists and is finite.
    net->zero_grad();
    l.pow(2).mean().backward();
    for (const auto& p : net->parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
    EXPECT_GT(net->parameters()[0].grad().abs().sum().item<double>(), 0.0);
  }
}

}  // namespace
}  // namespace dmpc
