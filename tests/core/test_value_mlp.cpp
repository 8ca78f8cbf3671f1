// The value-MLP evaluator (core/value_mlp.hpp) and its file (core/value_file.*): the analytic
// gradient and Hessian against central differences, float against double, and the file's round
// trip and every way a file can be broken.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/value_file.hpp"
#include "core/value_mlp.hpp"

namespace dmpc {
namespace {

// A network with random weights (Glorot, from the seed), and random biases, normalisation and
// output bias on top so that every part of the formula is exercised.
ValueNetwork random_network(MlpShape shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-1, 1), log_scale(-1, 1);
  std::vector<double> offset(static_cast<size_t>(mlp_network_inputs(shape))), scale(offset.size());
  for (size_t i = 0; i < offset.size(); ++i) {
    offset[i] = 0.5 * unit(rng);
    scale[i] = std::exp(log_scale(rng));  // in [1/e, e]
  }
  // Wall segments for the features: ends within the input's reach, radius 0.1 … 0.3.
  std::vector<double> walls;
  for (int j = 0; j < shape.features; ++j)
    walls.insert(walls.end(), {unit(rng), unit(rng), unit(rng), unit(rng), 0.2 + 0.1 * unit(rng)});
  // Path features: the velocity of the system with that many inputs, margin 0.1, κ = 0, 0.4, ….
  if (shape.path_features > 0) {
    walls.push_back(shape.inputs == 13 ? 5.0 : 2.0);
    walls.push_back(0.1);
    for (int k = 0; k < shape.path_features; ++k) walls.push_back(0.4 * k);
    if (shape.path_body) walls.insert(walls.end(), {2.0, 0.5});  // the Ballbot's yaw index, h = 0.5
  }
  ValueNetwork net = random_value_network(shape, seed, 2.0, offset, scale, walls);
  for (int l = 1; l <= shape.depth; ++l)
    for (int k = 0; k < shape.width; ++k)
      net.params[static_cast<size_t>(mlp_bias_offset(shape, l) + k)] = 0.5 * unit(rng);
  net.params.back() = unit(rng);  // b_out
  return net;
}

// A raw input near the normalisation's centre: z̃ roughly in [−1.5, 1.5].
std::vector<double> random_input(const ValueNetwork& net, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(-1.5, 1.5);
  const int n = net.shape.inputs, scales = mlp_network_inputs(net.shape);
  std::vector<double> z(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) z[i] = net.params[i] + net.params[scales + i] * unit(rng);
  return z;
}

// |a − b| relative to |b|, with a floor of 1% of the object's largest entry `largest` (so that
// entries that nearly vanish are not held to a relative accuracy that differences cannot give).
double rel_error(double a, double b, double largest) {
  return std::fabs(a - b) / std::max(std::fabs(b), 1e-2 * largest);
}

struct DerivativeErrors {
  double grad = 0, hess = 0, asym = 0;
};

// Compares value_mlp_derivatives<double, ND> with central differences at `points` random inputs:
// the gradient from differences of value_mlp, the Hessian from differences of the analytic
// gradient (column j of the Hessian is the derivative of the gradient along input j).
template <int ND>
DerivativeErrors check_against_differences(MlpShape shape, uint64_t seed, int points) {
  const ValueNetwork net = random_network(shape, seed);
  const double* p = net.params.data();
  const int n = shape.inputs;
  std::mt19937_64 rng(seed + 1000);
  DerivativeErrors worst;
  for (int q = 0; q < points; ++q) {
    const std::vector<double> z = random_input(net, rng);
    ValueDerivatives<double, ND> d;
    value_mlp_derivatives<double, ND>(shape, p, z.data(), d);
    EXPECT_EQ(d.value, value_mlp<double>(shape, p, z.data()));
    for (int i = n; i < kMaxMlpInputs; ++i) EXPECT_EQ(d.grad[i], 0.0);

    // Step ≈ ε^(1/3) times the input's scale: truncation (∝ h²) against round-off (∝ ε/h).
    double fd_grad[kMaxMlpInputs] = {};
    double fd_hess[ND][ND] = {};
    for (int j = 0; j < n; ++j) {
      const double h = 1e-5 * net.params[n + j];
      std::vector<double> zp = z, zm = z;
      zp[j] += h;
      zm[j] -= h;
      fd_grad[j] = (value_mlp<double>(shape, p, zp.data()) - value_mlp<double>(shape, p, zm.data())) /
                   (2 * h);
      if (j < ND) {
        ValueDerivatives<double, ND> dp, dm;
        value_mlp_derivatives<double, ND>(shape, p, zp.data(), dp);
        value_mlp_derivatives<double, ND>(shape, p, zm.data(), dm);
        for (int i = 0; i < ND; ++i) fd_hess[i][j] = (dp.grad[i] - dm.grad[i]) / (2 * h);
      }
    }
    double largest_grad = 0, largest_hess = 0;
    for (int i = 0; i < n; ++i) largest_grad = std::max(largest_grad, std::fabs(fd_grad[i]));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j) largest_hess = std::max(largest_hess, std::fabs(fd_hess[i][j]));
    EXPECT_GT(largest_grad, 0.0);
    EXPECT_GT(largest_hess, 0.0);
    for (int i = 0; i < n; ++i)
      worst.grad = std::max(worst.grad, rel_error(d.grad[i], fd_grad[i], largest_grad));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j) {
        worst.hess = std::max(worst.hess, rel_error(d.hess[i][j], fd_hess[i][j], largest_hess));
        worst.asym = std::max(worst.asym, std::fabs(d.hess[i][j] - d.hess[j][i]));
      }
  }
  return worst;
}

template <int ND>
void expect_derivatives_match(MlpShape shape, uint64_t seed) {
  SCOPED_TRACE("inputs " + std::to_string(shape.inputs) + " width " + std::to_string(shape.width) +
               " depth " + std::to_string(shape.depth) + " ND " + std::to_string(ND));
  const DerivativeErrors e = check_against_differences<ND>(shape, seed, 20);
  EXPECT_LT(e.grad, 1e-6);
  EXPECT_LT(e.hess, 1e-6);
  EXPECT_EQ(e.asym, 0.0);  // mirrored, so exactly symmetric
  std::printf("  inputs %2d width %2d depth %d ND %2d: worst gradient error %.1e, Hessian %.1e\n",
              shape.inputs, shape.width, shape.depth, ND, e.grad, e.hess);
}

TEST(ValueMlp, ShapeAndParameterCount) {
  EXPECT_EQ(mlp_parameter_count(MlpShape{13, 12, 3}), 519);  // the paper's net
  EXPECT_EQ(mlp_parameter_count(MlpShape{2, 3, 1}), 2 * 2 + 3 * 2 + 3 + 3 + 1);
  EXPECT_EQ(mlp_weight_offset(MlpShape{13, 12, 3}, 2), 26 + 156 + 12);
  EXPECT_EQ(mlp_bias_offset(MlpShape{13, 12, 3}, 2), 26 + 156 + 12 + 144);
  EXPECT_EQ(mlp_output_offset(MlpShape{13, 12, 3}), 26 + 156 + 12 + 2 * 156);
  EXPECT_TRUE(mlp_shape_valid(MlpShape{16, 64, 4}));
  EXPECT_TRUE(mlp_shape_valid(MlpShape{1, 1, 1}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{17, 12, 3}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 65, 3}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 5}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{0, 12, 3}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, -1, 3}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 0}));
}

TEST(ValueMlp, ShapeAndParameterCountWithWallFeatures) {
  // One feature: offset and scale gain an entry each, W_1 a column, and the segment 5 numbers.
  EXPECT_EQ(mlp_network_inputs(MlpShape{13, 12, 3, 1}), 14);
  EXPECT_EQ(mlp_parameter_count(MlpShape{13, 12, 3, 1}), 519 + 2 + 12 + 5);
  EXPECT_EQ(mlp_walls_offset(MlpShape{13, 12, 3, 1}), 519 + 2 + 12);
  EXPECT_TRUE(mlp_shape_valid(MlpShape{13, 12, 3, 3}));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 3, 4}));  // 17 network inputs
  EXPECT_FALSE(mlp_shape_valid(MlpShape{7, 12, 3, 5}));   // more features than kMaxMlpFeatures
  EXPECT_FALSE(mlp_shape_valid(MlpShape{2, 12, 3, 1}));   // no position among the inputs
  EXPECT_FALSE(mlp_shape_valid(MlpShape{7, 12, 3, -1}));
}

TEST(ValueMlp, ShapeAndParameterCountWithPathFeatures) {
  // Two path features on one wall: two more inputs, and velocity index, margin and two κ.
  const MlpShape s{13, 12, 3, 1, 2};
  EXPECT_EQ(mlp_network_inputs(s), 16);
  EXPECT_EQ(mlp_path_offset(s), mlp_walls_offset(s) + 5);
  EXPECT_EQ(mlp_parameter_count(s), mlp_path_offset(s) + 4);
  EXPECT_TRUE(mlp_shape_valid(s));
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 3, 2, 2}));  // 17 network inputs
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 3, 0, 1}));  // no walls to go round
  EXPECT_FALSE(mlp_shape_valid(MlpShape{7, 12, 3, 1, 3}));   // more than kMaxPathFeatures
  EXPECT_FALSE(mlp_shape_valid(MlpShape{5, 12, 3, 1, 1}));   // no velocity among the inputs
  // Following the lean: two more parameters (yaw's index and the gain), a body among the inputs.
  const MlpShape b{13, 12, 3, 1, 2, 1};
  EXPECT_TRUE(mlp_shape_valid(b));
  EXPECT_EQ(mlp_network_inputs(b), 16);
  EXPECT_EQ(mlp_parameter_count(b), mlp_path_offset(b) + 6);
  EXPECT_FALSE(mlp_shape_valid(MlpShape{7, 12, 3, 1, 2, 1}));   // the point mass has no body
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 3, 1, 0, 1}));  // nothing to follow it
  EXPECT_FALSE(mlp_shape_valid(MlpShape{13, 12, 3, 1, 2, 2}));
}

TEST(ValueMlp, WallClearanceIsTheDistanceToTheCollisionZone) {
  const double wall[5] = {-0.6, 0.0, 0.6, 0.0, 0.25};  // the default wall, 0.05 + 0.2 m
  const double eps2 = kWallFeatureSmoothing * kWallFeatureSmoothing;
  auto phi = [&](double x, double y) { return detail::wall_clearance<double>(wall, x, y, nullptr, nullptr); };
  EXPECT_NEAR(phi(0.0, 1.0), std::sqrt(1.0 + eps2) - 0.25, 1e-15);   // beside: the normal distance
  EXPECT_NEAR(phi(0.3, -0.5), std::sqrt(0.25 + eps2) - 0.25, 1e-15);
  EXPECT_NEAR(phi(1.0, 0.0), std::sqrt(0.16 + eps2) - 0.25, 1e-15);  // beyond an end: to the end
  EXPECT_NEAR(phi(-0.9, 0.4), std::sqrt(0.09 + 0.16 + eps2) - 0.25, 1e-15);
  EXPECT_LT(phi(0.0, 0.1), 0.0);  // inside the zone: negative
  // Its gradient and Hessian against central differences, beside and beyond the ends.
  for (const auto& p : {std::array<double, 2>{0.2, 0.7}, std::array<double, 2>{-1.1, -0.3},
                        std::array<double, 2>{0.9, 0.05}, std::array<double, 2>{0.0, -0.02}}) {
    double g[2], H[2][2];
    detail::wall_clearance<double>(wall, p[0], p[1], g, H);
    const double h = 1e-6;
    for (int j = 0; j < 2; ++j) {
      const double dx = j == 0 ? h : 0, dy = j == 1 ? h : 0;
      EXPECT_NEAR(g[j], (phi(p[0] + dx, p[1] + dy) - phi(p[0] - dx, p[1] - dy)) / (2 * h), 1e-7);
      double gp[2], gm[2], Hd[2][2];
      detail::wall_clearance<double>(wall, p[0] + dx, p[1] + dy, gp, Hd);
      detail::wall_clearance<double>(wall, p[0] - dx, p[1] - dy, gm, Hd);
      for (int i = 0; i < 2; ++i) EXPECT_NEAR(H[i][j], (gp[i] - gm[i]) / (2 * h), 1e-5 * (1 + std::fabs(H[i][j])));
    }
  }
}

TEST(ValueMlp, ValueMatchesPlainForwardPass) {
  // An independent, straightforward evaluation of the documented layout.
  const MlpShape s{5, 7, 2};
  const ValueNetwork net = random_network(s, 3);
  const std::vector<double>& p = net.params;
  std::mt19937_64 rng(4);
  for (int q = 0; q < 10; ++q) {
    const std::vector<double> z = random_input(net, rng);
    std::vector<double> a(5);
    for (int i = 0; i < 5; ++i) a[i] = (z[i] - p[i]) / p[5 + i];
    size_t at = 10;
    for (int l = 0; l < 2; ++l) {
      const size_t fan_in = a.size();
      std::vector<double> next(7);
      for (size_t k = 0; k < 7; ++k) {
        double sum = p[at + 7 * fan_in + k];
        for (size_t m = 0; m < fan_in; ++m) sum += p[at + k * fan_in + m] * a[m];
        next[k] = std::tanh(sum);
      }
      at += 7 * fan_in + 7;
      a = next;
    }
    double v = p[at + 7];
    for (size_t k = 0; k < 7; ++k) v += p[at + k] * a[k];
    EXPECT_NEAR(value_mlp<double>(s, p.data(), z.data()), v, 1e-14 * std::max(1.0, std::fabs(v)));
  }
}

TEST(ValueMlp, DerivativesMatchCentralDifferences) {
  expect_derivatives_match<11>(MlpShape{13, 12, 3}, 1);  // the paper's net, (τ, x) block
  expect_derivatives_match<11>(MlpShape{13, 5, 1}, 2);
  expect_derivatives_match<11>(MlpShape{13, 64, 4}, 3);
  expect_derivatives_match<16>(MlpShape{16, 64, 4}, 4);  // every cap at once, full Hessian
  expect_derivatives_match<3>(MlpShape{7, 9, 2}, 5);     // a small leading block
  expect_derivatives_match<5>(MlpShape{7, 3, 4}, 6);     // narrow and deep, width below 4
  expect_derivatives_match<2>(MlpShape{2, 1, 1}, 7);     // one unit
}

TEST(ValueMlp, DerivativesWithWallFeaturesMatchCentralDifferences) {
  // The features enter through the position (z_1, z_2): gradient, tangents and curvature terms.
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 1}, 11);  // the paper's net with one wall
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 3}, 12);
  expect_derivatives_match<7>(MlpShape{7, 9, 2, 2}, 13);     // the point mass, two walls
  expect_derivatives_match<2>(MlpShape{7, 5, 2, 1}, 14);     // a block that holds only p_x
  expect_derivatives_match<1>(MlpShape{7, 5, 2, 1}, 15);     // … or none of p
}

TEST(ValueMlp, DerivativesWithPathFeaturesMatchCentralDifferences) {
  // The path features enter through p, v (look-ahead) and g: every slot of the chain rule.
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 1, 2}, 16);  // the Ballbot, one wall, κ = 0, 0.4
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 2, 1}, 17);  // two walls, κ = 0
  expect_derivatives_match<7>(MlpShape{7, 9, 2, 1, 2}, 18);     // the point mass, its full Hessian
  expect_derivatives_match<3>(MlpShape{7, 5, 2, 2, 2}, 19);     // a block that holds p but not v
}

TEST(ValueMlp, DerivativesWithPathFeaturesFollowingTheLeanMatchCentralDifferences) {
  // q = p + κ v + h Rz(yaw)((pitch, −roll) + κ (rates)): eleven slots, yaw's curvature included.
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 1, 2, 1}, 20);  // the actor's (τ, x) block
  expect_derivatives_match<13>(MlpShape{13, 12, 3, 1, 2, 1}, 21);  // the goal's rows too
  expect_derivatives_match<11>(MlpShape{13, 12, 3, 2, 1, 1}, 22);  // two walls, κ = 0
  expect_derivatives_match<5>(MlpShape{13, 9, 2, 1, 2, 1}, 23);    // a block ending at roll
}

// The look-ahead point of the lean, worked out by hand: yaw = π/2 turns the lean (pitch, −roll)
// into (roll, pitch) in the world, so with h = 0.5, κ = 0.4 the point moves by
// 0.5 · Rz(π/2) ((0.1 + 0.4 · 0.5), −(−0.2 + 0.4 · 0.25)) = 0.5 · (−0.1, 0.3) = (−0.05, 0.15)
// from p + κ v.
TEST(ValueMlp, PathFeatureFollowingTheLeanLooksAheadFromTheBody) {
  const MlpShape shape{13, 4, 1, 1, 2, 1};
  ValueNetwork net = random_network(shape, 31);
  const int po = mlp_path_offset(shape), wo = mlp_walls_offset(shape);
  const double wall[5] = {-0.6, 0.0, 0.6, 0.0, 0.25};
  for (int i = 0; i < 5; ++i) net.params[static_cast<size_t>(wo + i)] = wall[i];
  net.params[static_cast<size_t>(po + 1)] = 0.1;  // margin
  net.params[static_cast<size_t>(po + 3)] = 0.4;  // κ_2 (κ_1 = 0)
  net.params[static_cast<size_t>(po + 5)] = 0.5;  // h
  const int n = mlp_network_inputs(shape);
  for (int i = 0; i < n; ++i) {  // identity normalisation: the features come out as they are
    net.params[static_cast<size_t>(i)] = 0.0;
    net.params[static_cast<size_t>(n + i)] = 1.0;
  }
  // τ, px, py, yaw, pitch, roll, vx, vy, yaw rate, pitch rate, roll rate, gx, gy
  const double z[13] = {2.0, 0.3, -0.8, M_PI / 2, 0.1, -0.2, 0.5, 1.0, 0.7, 0.5, 0.25, 0.1, 0.8};
  double normalised[kMaxMlpInputs], inv_scale[kMaxMlpInputs];
  detail::mlp_normalise<double>(shape, net.params.data(), z, normalised, inv_scale);
  const double psi0 = detail::path_length<double>(wall, 1, 0.1, 0.3 + 0.5 * (-0.2), -0.8 + 0.5 * 0.1, 0.1, 0.8,
                                                  nullptr, nullptr);
  const double psi1 = detail::path_length<double>(wall, 1, 0.1, 0.3 + 0.4 * 0.5 - 0.05, -0.8 + 0.4 * 1.0 + 0.15,
                                                  0.1, 0.8, nullptr, nullptr);
  EXPECT_NEAR(normalised[14], psi0, 1e-12);
  EXPECT_NEAR(normalised[15], psi1, 1e-12);
  EXPECT_GT(std::fabs(psi1 - psi0), 0.1);  // the look-ahead moved the point measurably
}

// ψ of core/value_mlp.hpp against the shortest way round the task's wall worked out by hand: the
// wall (−0.6, 0)–(0.6, 0), collision radius 0.25, margin 0.1, so the waypoints are (±0.95, 0).
TEST(ValueMlp, PathLengthIsTheShortestWayRoundOneWall) {
  const double wall[5] = {-0.6, 0.0, 0.6, 0.0, 0.25};
  const double eps2 = kWallFeatureSmoothing * kWallFeatureSmoothing;
  const double leg = std::sqrt(0.95 * 0.95 + 0.8 * 0.8);  // a waypoint to the goal (0, 0.8)
  double grad[4], hess[4][4];
  // Behind the middle: round either end.
  EXPECT_NEAR(detail::path_length(wall, 1, 0.1, 0.0, -0.8, 0.0, 0.8, grad, hess),
              std::sqrt(leg * leg + eps2) + leg, 1e-12);
  // Behind the right half: the line to the goal crosses the wall at x = 0.6; round the right end.
  const double near_leg = std::sqrt(0.25 * 0.25 + 0.8 * 0.8 + eps2);
  EXPECT_NEAR(detail::path_length(wall, 1, 0.1, 1.2, -0.8, 0.0, 0.8, grad, hess), near_leg + leg, 1e-12);
  EXPECT_NEAR(grad[0], 0.25 / near_leg, 1e-12);  // pointing away from the waypoint
  EXPECT_NEAR(grad[1], -0.8 / near_leg, 1e-12);
  EXPECT_NEAR(grad[2], -0.95 / leg, 1e-12);  // ∇_g: (g − e) / ‖g − e‖
  EXPECT_NEAR(grad[3], 0.8 / leg, 1e-12);
  // Beside the wall's end with a clear line: straight.
  EXPECT_NEAR(detail::path_length(wall, 1, 0.1, 1.5, 0.2, 0.0, 0.8, grad, hess),
              std::sqrt(1.5 * 1.5 + 0.6 * 0.6 + eps2), 1e-12);
  // North of the wall: straight, whatever is behind.
  EXPECT_NEAR(detail::path_length(wall, 1, 0.1, 0.0, 1.2, 0.0, 0.8, grad, hess), std::sqrt(0.16 + eps2), 1e-12);
  // Continuous across the shadow's edge (the line from the goal through the waypoint, here x = 1.9
  // at y = −0.8), up to the smoothing: ε²/2 (1/‖q − e‖ − 1/‖q − g‖) ≈ 2e-5.
  const double edge = 0.95 + 0.95 * 0.8 / 0.8;
  const double inside = detail::path_length(wall, 1, 0.1, edge - 1e-9, -0.8, 0.0, 0.8, grad, hess);
  const double outside = detail::path_length(wall, 1, 0.1, edge + 1e-9, -0.8, 0.0, 0.8, grad, hess);
  EXPECT_NEAR(inside, outside, 3e-5);
}

TEST(ValueMlp, HessianRowsBeyondTheInputsAreZero) {
  // ND may exceed the number of inputs; V̂ does not depend on the missing ones.
  const MlpShape s{3, 6, 2};
  const ValueNetwork net = random_network(s, 8);
  std::mt19937_64 rng(9);
  const std::vector<double> z = random_input(net, rng);
  ValueDerivatives<double, 5> big;
  ValueDerivatives<double, 3> exact;
  value_mlp_derivatives<double, 5>(s, net.params.data(), z.data(), big);
  value_mlp_derivatives<double, 3>(s, net.params.data(), z.data(), exact);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      if (i < 3 && j < 3) {
        EXPECT_DOUBLE_EQ(big.hess[i][j], exact.hess[i][j]);
      } else {
        EXPECT_EQ(big.hess[i][j], 0.0);
      }
    }
}

// ND = 0 (no Hessian) gives the value and gradient of the full evaluation to the last bit: the
// same operations, without the tangents and the features' curvature.
template <typename T>
void expect_gradient_only_equals_full(MlpShape shape, uint64_t seed) {
  const ValueNetwork net = random_network(shape, seed);
  const std::vector<T> params(net.params.begin(), net.params.end());
  std::mt19937_64 rng(seed + 1);
  for (int q = 0; q < 20; ++q) {
    const std::vector<double> zd = random_input(net, rng);
    const std::vector<T> z(zd.begin(), zd.end());
    ValueDerivatives<T, 0> lean;
    ValueDerivatives<T, 11> full;
    value_mlp_derivatives<T, 0>(shape, params.data(), z.data(), lean);
    value_mlp_derivatives<T, 11>(shape, params.data(), z.data(), full);
    EXPECT_EQ(lean.value, full.value);
    for (int i = 0; i < kMaxMlpInputs; ++i) EXPECT_EQ(lean.grad[i], full.grad[i]) << "input " << i;
  }
}

TEST(ValueMlp, GradientOnlyEqualsTheFullEvaluation) {
  expect_gradient_only_equals_full<double>(MlpShape{13, 12, 3}, 31);              // plain
  expect_gradient_only_equals_full<double>(MlpShape{13, 24, 3, 1, 2, 1}, 32);     // the default's critic
  expect_gradient_only_equals_full<double>(MlpShape{13, 12, 3, 2, 1}, 33);        // path features, no lean
  expect_gradient_only_equals_full<float>(MlpShape{13, 24, 3, 1, 2, 1}, 34);      // float (the GPU's)
}

// Largest |a − b| over the largest |b|, for value, gradient and Hessian together.
template <int ND>
double float_vs_double(MlpShape shape, uint64_t seed, int points) {
  const ValueNetwork net = random_network(shape, seed);
  const std::vector<float> pf(net.params.begin(), net.params.end());
  std::mt19937_64 rng(seed + 1);
  double worst = 0;
  for (int q = 0; q < points; ++q) {
    const std::vector<double> z = random_input(net, rng);
    const std::vector<float> zf(z.begin(), z.end());
    ValueDerivatives<double, ND> d;
    ValueDerivatives<float, ND> f;
    value_mlp_derivatives<double, ND>(shape, net.params.data(), z.data(), d);
    value_mlp_derivatives<float, ND>(shape, pf.data(), zf.data(), f);
    EXPECT_EQ(f.value, value_mlp<float>(shape, pf.data(), zf.data()));
    double scale_v = std::fabs(d.value), scale_g = 0, scale_h = 0;
    for (int i = 0; i < shape.inputs; ++i) scale_g = std::max(scale_g, std::fabs(d.grad[i]));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j) scale_h = std::max(scale_h, std::fabs(d.hess[i][j]));
    worst = std::max(worst, std::fabs(f.value - d.value) / std::max(scale_v, 1.0));
    for (int i = 0; i < shape.inputs; ++i)
      worst = std::max(worst, std::fabs(f.grad[i] - d.grad[i]) / scale_g);
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j)
        worst = std::max(worst, std::fabs(f.hess[i][j] - d.hess[i][j]) / scale_h);
  }
  return worst;
}

TEST(ValueMlp, FloatAgreesWithDoubleToFloatPrecision) {
  // Float rounds the parameters and every operation (ε = 6e-8); through a few layers of sums the
  // results should stay within a few hundred ε of double, relative to each object's size.
  const double tol = 1e-5;
  const double e1 = float_vs_double<11>(MlpShape{13, 12, 3}, 11, 50);
  const double e2 = float_vs_double<11>(MlpShape{13, 64, 4}, 12, 50);
  const double e3 = float_vs_double<3>(MlpShape{5, 5, 1}, 13, 50);
  std::printf("  float vs double, largest difference / size: %.1e, %.1e, %.1e\n", e1, e2, e3);
  EXPECT_LT(e1, tol);
  EXPECT_LT(e2, tol);
  EXPECT_LT(e3, tol);
  const double e4 = float_vs_double<11>(MlpShape{13, 12, 3, 1, 2, 1}, 14, 50);  // the lean's features
  std::printf("  with path features following the lean: %.1e\n", e4);
  EXPECT_LT(e4, tol);
}

// ---- random initialisation --------------------------------------------------------------------

TEST(ValueNetworkInit, DeterministicGlorotWithZeroBiases) {
  const MlpShape s{13, 12, 3};
  const ValueNetwork a = random_value_network(s, 42, 0.5);
  const ValueNetwork b = random_value_network(s, 42, 0.5);
  const ValueNetwork c = random_value_network(s, 43, 0.5);
  ASSERT_EQ(a.params.size(), 519u);
  EXPECT_EQ(a.params, b.params);
  EXPECT_NE(a.params, c.params);
  for (int i = 0; i < 13; ++i) {
    EXPECT_EQ(a.params[i], 0.0);
    EXPECT_EQ(a.params[13 + i], 1.0);
  }
  for (int l = 1; l <= 3; ++l) {
    const int fan_in = l == 1 ? 13 : 12;
    const double limit = std::sqrt(6.0 / (fan_in + 12));
    double largest = 0, sum = 0;
    for (int i = mlp_weight_offset(s, l); i < mlp_bias_offset(s, l); ++i) {
      largest = std::max(largest, std::fabs(a.params[i]));
      sum += a.params[i];
    }
    EXPECT_LE(largest, limit);
    EXPECT_GT(largest, 0.8 * limit);  // spread over the interval, not squeezed
    EXPECT_LT(std::fabs(sum) / (12 * fan_in), 0.2 * limit);
    for (int k = 0; k < 12; ++k) EXPECT_EQ(a.params[mlp_bias_offset(s, l) + k], 0.0);
  }
  const double out_limit = 0.5 * std::sqrt(6.0 / 13);
  for (int k = 0; k < 12; ++k) EXPECT_LE(std::fabs(a.params[mlp_output_offset(s) + k]), out_limit);
  EXPECT_EQ(a.params.back(), 0.0);
}

TEST(ValueNetworkInit, RejectsBadArguments) {
  EXPECT_THROW(random_value_network(MlpShape{13, 65, 3}, 1, 1.0), std::invalid_argument);
  EXPECT_THROW(random_value_network(MlpShape{3, 4, 1}, 1, 1.0, {0, 0}), std::invalid_argument);
  EXPECT_THROW(random_value_network(MlpShape{3, 4, 1}, 1, 1.0, {}, {1, 0, 1}),
               std::invalid_argument);
}

// ---- the file ---------------------------------------------------------------------------------

class ValueFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("dmpc_value_file_" + std::to_string(::getpid()) + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::vector<uint8_t> read_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  }
  static void write_bytes(const std::string& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }

  // The message of the std::runtime_error that loading `p` throws ("" when it loads).
  static std::string load_error(const std::string& p) {
    try {
      load_value_network(p);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  std::filesystem::path dir_;
};

// An independent writer of the documented format, so the tests can build files the library
// would refuse to write (wrong counts, bad shapes, NaNs) with a correct checksum.
std::vector<uint8_t> encode_raw(int32_t inputs, int32_t width, int32_t depth, uint64_t count,
                                const std::vector<double>& params) {
  std::vector<uint8_t> b = {'D', 'M', 'P', 'C', 'V', 'A', 'L', '1'};
  auto le = [&b](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  le(static_cast<uint32_t>(inputs), 4);
  le(static_cast<uint32_t>(width), 4);
  le(static_cast<uint32_t>(depth), 4);
  le(count, 8);
  for (double v : params) {
    uint64_t u;
    std::memcpy(&u, &v, 8);
    le(u, 8);
  }
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t byte : b) h = (h ^ byte) * 0x100000001b3ull;
  le(h, 8);
  return b;
}

std::vector<uint8_t> encode_raw(const ValueNetwork& net) {
  return encode_raw(net.shape.inputs, net.shape.width, net.shape.depth, net.params.size(),
                    net.params);
}

TEST_F(ValueFileTest, RoundTripIsBitExactAndMatchesTheDocumentedFormat) {
  const ValueNetwork net = random_network(MlpShape{13, 12, 3}, 21);
  const std::string p = path("v.bin");
  save_value_network(p, net);
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
  const std::vector<uint8_t> bytes = read_bytes(p);
  EXPECT_EQ(bytes.size(), 28u + 8u * 519u + 8u);
  EXPECT_EQ(bytes, encode_raw(net));

  const ValueNetwork back = load_value_network(p);
  EXPECT_EQ(back.shape.inputs, 13);
  EXPECT_EQ(back.shape.width, 12);
  EXPECT_EQ(back.shape.depth, 3);
  ASSERT_EQ(back.params.size(), net.params.size());
  EXPECT_EQ(std::memcmp(back.params.data(), net.params.data(), 8 * net.params.size()), 0);

  // Saving again replaces the file.
  const ValueNetwork other = random_network(MlpShape{4, 3, 1}, 22);
  save_value_network(p, other);
  EXPECT_EQ(load_value_network(p).params, other.params);
}

TEST_F(ValueFileTest, NetworkWithPathFeaturesRoundTripsInTheThirdFormat) {
  const ValueNetwork net = random_network(MlpShape{13, 12, 3, 1, 2}, 25);
  const std::string p = path("path.bin");
  save_value_network(p, net);
  const std::vector<uint8_t> bytes = read_bytes(p);
  ASSERT_EQ(bytes.size(), 36u + 8u * net.params.size() + 8u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "DMPCVAL3");
  EXPECT_EQ(bytes[20], 1);  // features
  EXPECT_EQ(bytes[24], 2);  // path features
  const ValueNetwork back = load_value_network(p);
  EXPECT_EQ(back.shape.features, 1);
  EXPECT_EQ(back.shape.path_features, 2);
  EXPECT_EQ(back.params, net.params);
  // A velocity index outside the state is refused and named.
  ValueNetwork bad = net;
  bad.params[static_cast<size_t>(mlp_path_offset(bad.shape))] = 9;
  try {
    save_value_network(path("bad.bin"), bad);
    ADD_FAILURE() << "a velocity index outside the state was saved";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("path.velocity_index"), std::string::npos) << e.what();
  }
}

TEST_F(ValueFileTest, NetworkWithPathFeaturesFollowingTheLeanRoundTripsInTheFourthFormat) {
  const ValueNetwork net = random_network(MlpShape{13, 12, 3, 1, 2, 1}, 26);
  const std::string p = path("body.bin");
  save_value_network(p, net);
  const std::vector<uint8_t> bytes = read_bytes(p);
  ASSERT_EQ(bytes.size(), 40u + 8u * net.params.size() + 8u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "DMPCVAL4");
  EXPECT_EQ(bytes[24], 2);  // path features
  EXPECT_EQ(bytes[28], 1);  // path_body
  const ValueNetwork back = load_value_network(p);
  EXPECT_EQ(back.shape.path_body, 1);
  EXPECT_EQ(back.params, net.params);
  // A yaw index that leaves the lean's rates outside the state is refused and named.
  ValueNetwork bad = net;
  bad.params[static_cast<size_t>(mlp_path_offset(bad.shape) + 4)] = 3;
  try {
    save_value_network(path("bad.bin"), bad);
    ADD_FAILURE() << "a yaw index without room for the rates was saved";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("path.body_index"), std::string::npos) << e.what();
  }
}

TEST_F(ValueFileTest, NetworkWithWallFeaturesRoundTripsInTheSecondFormat) {
  const ValueNetwork net = random_network(MlpShape{13, 12, 3, 2}, 24);
  const std::string p = path("walls.bin");
  save_value_network(p, net);
  const std::vector<uint8_t> bytes = read_bytes(p);
  ASSERT_EQ(bytes.size(), 32u + 8u * net.params.size() + 8u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "DMPCVAL2");
  EXPECT_EQ(bytes[20], 2);  // features, after depth
  const ValueNetwork back = load_value_network(p);
  EXPECT_EQ(back.shape.inputs, 13);
  EXPECT_EQ(back.shape.features, 2);
  ASSERT_EQ(back.params.size(), net.params.size());
  EXPECT_EQ(std::memcmp(back.params.data(), net.params.data(), 8 * net.params.size()), 0);
  // A negative collision radius is refused and named.
  ValueNetwork bad = net;
  bad.params[static_cast<size_t>(mlp_walls_offset(bad.shape) + 9)] = -0.1;
  try {
    save_value_network(path("bad.bin"), bad);
    ADD_FAILURE() << "a negative radius was saved";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("wall[1].radius"), std::string::npos) << e.what();
  }
}

TEST_F(ValueFileTest, SaveRefusesInvalidNetworks) {
  ValueNetwork net = random_network(MlpShape{4, 3, 1}, 23);
  net.params.pop_back();
  EXPECT_THROW(save_value_network(path("a.bin"), net), std::invalid_argument);
  net = random_network(MlpShape{4, 3, 1}, 23);
  net.params[5] = 0;  // scale[1]
  EXPECT_THROW(save_value_network(path("a.bin"), net), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(path("a.bin")));
  EXPECT_THROW(save_value_network(path("no/such/dir/a.bin"), random_network(MlpShape{4, 3, 1}, 1)),
               std::runtime_error);
}

TEST_F(ValueFileTest, EveryBrokenFileNamesItsProblem) {
  const ValueNetwork net = random_network(MlpShape{13, 12, 3}, 24);
  const std::vector<uint8_t> good = encode_raw(net);
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expected;  // a piece of the message
  };
  std::vector<Case> cases;

  std::vector<uint8_t> b = good;
  b[7] = '9';  // "DMPCVAL9": neither format
  cases.push_back({"magic", b, "wrong magic"});
  cases.push_back({"other", {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, "wrong magic"});
  for (size_t cut : {size_t{0}, size_t{5}, size_t{12}, size_t{35}, size_t{28 + 8 * 100}, good.size() - 1}) {
    cases.push_back({"cut_" + std::to_string(cut),
                     std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(cut)),
                     "truncated"});
  }
  b = good;
  b.push_back(0);
  cases.push_back({"trailing", b, "trailing data"});
  b = good;
  b[28 + 8 * 40 + 3] ^= 0x10;  // one bit of a weight
  cases.push_back({"bitflip", b, "checksum mismatch"});
  b = good;
  b[9] ^= 0x01;  // inputs 13 → 12 without fixing the checksum
  cases.push_back({"header_bitflip", b, "checksum mismatch"});

  std::vector<double> short_params(net.params.begin(), net.params.end() - 1);
  cases.push_back({"count", encode_raw(13, 12, 3, 518, short_params),
                   "parameter count 518 does not match the shape (inputs 13, width 12, depth 3 "
                   "needs 519)"});
  cases.push_back({"wide", encode_raw(13, 65, 3, 4, {1, 1, 1, 1}), "invalid shape"});
  cases.push_back({"deep", encode_raw(13, 12, 5, 4, {1, 1, 1, 1}), "invalid shape"});
  cases.push_back({"inputs", encode_raw(17, 12, 3, 4, {1, 1, 1, 1}), "invalid shape"});
  cases.push_back({"zero_width", encode_raw(13, 0, 3, 4, {1, 1, 1, 1}), "invalid shape"});
  cases.push_back({"negative", encode_raw(-1, 12, 3, 4, {1, 1, 1, 1}), "invalid shape"});

  std::vector<double> p = net.params;
  const int w2 = mlp_weight_offset(net.shape, 2);
  p[static_cast<size_t>(w2 + 12 * 3 + 7)] = std::numeric_limits<double>::quiet_NaN();
  cases.push_back({"nan", encode_raw(13, 12, 3, 519, p), "W_2[3][7]) is not finite"});
  p = net.params;
  p.back() = std::numeric_limits<double>::infinity();
  cases.push_back({"inf", encode_raw(13, 12, 3, 519, p), "(b_out) is not finite"});
  p = net.params;
  p[13 + 3] = 0.0;
  cases.push_back({"scale_zero", encode_raw(13, 12, 3, 519, p), "scale[3] = 0 is not positive"});
  p[13 + 3] = -2.0;
  cases.push_back({"scale_negative", encode_raw(13, 12, 3, 519, p), "scale[3] = -2 is not positive"});

  for (const Case& c : cases) {
    const std::string file = path(c.name + ".bin");
    write_bytes(file, c.bytes);
    const std::string msg = load_error(file);
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": " << msg;
    if (std::getenv("DMPC_SHOW_ERRORS")) std::printf("  %s\n", msg.c_str());
  }

  const std::string missing = path("missing.bin");
  EXPECT_EQ(load_error(missing), missing + ": cannot open the value-network file");
  // The intact bytes load.
  write_bytes(path("good.bin"), good);
  EXPECT_EQ(load_error(path("good.bin")), "");
}

}  // namespace
}  // namespace dmpc
