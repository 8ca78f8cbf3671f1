// The value-MLP evaluator (core/value_mlp.hpp) against LibTorch autograd: the same network built as
// a torch::nn module in double from the flat parameter buffer, its gradient from
// torch::autograd::grad with create_graph, and the (τ, x) Hessian from a second grad of every
// gradient entry. Uses only APIs present in LibTorch 1.13 and 2.x.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/value_file.hpp"
#include "core/value_mlp.hpp"

namespace dmpc {
namespace {

// The network of core/value_mlp.hpp as a module: normalisation buffers, `depth` Linear + tanh
// layers, a Linear output; every number copied from the flat buffer.
class TorchValueNet : public torch::nn::Module {
 public:
  explicit TorchValueNet(const ValueNetwork& net) {
    const MlpShape& s = net.shape;
    const double* p = net.params.data();
    offset_ = register_buffer("offset", from_buffer(p, {s.inputs}));
    scale_ = register_buffer("scale", from_buffer(p + s.inputs, {s.inputs}));
    for (int l = 1; l <= s.depth; ++l) {
      const int fan_in = l == 1 ? s.inputs : s.width;
      torch::nn::Linear layer = register_module(
          "layer" + std::to_string(l), torch::nn::Linear(torch::nn::LinearOptions(fan_in, s.width)));
      layer->to(torch::kDouble);
      copy_into(layer, p + mlp_weight_offset(s, l), p + mlp_bias_offset(s, l), s.width, fan_in);
      layers_.push_back(layer);
    }
    out_ = register_module("out", torch::nn::Linear(torch::nn::LinearOptions(s.width, 1)));
    out_->to(torch::kDouble);
    copy_into(out_, p + mlp_output_offset(s), p + mlp_output_offset(s) + s.width, 1, s.width);
  }

  // z: [inputs] → V̂: a scalar tensor.
  torch::Tensor forward(const torch::Tensor& z) {
    torch::Tensor a = (z - offset_) / scale_;
    for (torch::nn::Linear& layer : layers_) a = torch::tanh(layer->forward(a));
    return out_->forward(a).sum();
  }

 private:
  static torch::Tensor from_buffer(const double* p, std::vector<int64_t> sizes) {
    return torch::from_blob(const_cast<double*>(p), sizes, torch::kDouble).clone();
  }
  static void copy_into(torch::nn::Linear& layer, const double* W, const double* b, int rows,
                        int cols) {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(from_buffer(W, {rows, cols}));
    layer->bias.copy_(from_buffer(b, {rows}));
  }

  torch::Tensor offset_, scale_;
  std::vector<torch::nn::Linear> layers_;
  torch::nn::Linear out_{nullptr};
};

// Glorot weights from the seed plus random biases, normalisation and output bias.
ValueNetwork random_network(MlpShape shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-1, 1);
  std::vector<double> offset(static_cast<size_t>(shape.inputs)), scale(offset.size());
  for (size_t i = 0; i < offset.size(); ++i) {
    offset[i] = 0.5 * unit(rng);
    scale[i] = std::exp(unit(rng));
  }
  ValueNetwork net = random_value_network(shape, seed, 2.0, offset, scale);
  for (int l = 1; l <= shape.depth; ++l)
    for (int k = 0; k < shape.width; ++k)
      net.params[static_cast<size_t>(mlp_bias_offset(shape, l) + k)] = 0.5 * unit(rng);
  net.params.back() = unit(rng);
  return net;
}

// |a − b| relative to |b|, floored at 1% of the object's largest entry.
double rel_error(double a, double b, double largest) {
  return std::fabs(a - b) / std::max(std::fabs(b), 1e-2 * largest);
}

template <int ND>
void expect_matches_autograd(MlpShape shape, uint64_t seed) {
  SCOPED_TRACE("inputs " + std::to_string(shape.inputs) + " width " + std::to_string(shape.width) +
               " depth " + std::to_string(shape.depth) + " ND " + std::to_string(ND));
  const ValueNetwork net = random_network(shape, seed);
  TorchValueNet module(net);
  const int n = shape.inputs;
  std::mt19937_64 rng(seed + 1000);
  std::uniform_real_distribution<double> unit(-1.5, 1.5);
  double worst_value = 0, worst_grad = 0, worst_hess = 0;
  for (int q = 0; q < 10; ++q) {
    std::vector<double> z(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) z[i] = net.params[i] + net.params[n + i] * unit(rng);

    ValueDerivatives<double, ND> d;
    value_mlp_derivatives<double, ND>(shape, net.params.data(), z.data(), d);

    const torch::Tensor zt =
        torch::from_blob(z.data(), {n}, torch::kDouble).clone().set_requires_grad(true);
    const torch::Tensor v = module.forward(zt);
    const torch::Tensor g = torch::autograd::grad({v}, {zt}, {}, /*retain_graph=*/true,
                                                  /*create_graph=*/true)[0];
    std::vector<std::vector<double>> h(ND, std::vector<double>(ND, 0.0));
    for (int i = 0; i < std::min(ND, n); ++i) {
      const torch::Tensor row = torch::autograd::grad({g[i]}, {zt}, {}, /*retain_graph=*/true,
                                                      /*create_graph=*/false,
                                                      /*allow_unused=*/true)[0];
      if (!row.defined()) continue;  // the entry does not depend on z: a zero row
      for (int j = 0; j < std::min(ND, n); ++j) h[i][j] = row[j].item<double>();
    }

    const double tv = v.item<double>();
    worst_value = std::max(worst_value, rel_error(d.value, tv, std::fabs(tv)));
    double largest_grad = 0, largest_hess = 0;
    for (int i = 0; i < n; ++i) largest_grad = std::max(largest_grad, std::fabs(g[i].item<double>()));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j) largest_hess = std::max(largest_hess, std::fabs(h[i][j]));
    ASSERT_GT(largest_grad, 0.0);
    ASSERT_GT(largest_hess, 0.0);
    for (int i = 0; i < n; ++i)
      worst_grad = std::max(worst_grad, rel_error(d.grad[i], g[i].item<double>(), largest_grad));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j)
        worst_hess = std::max(worst_hess, rel_error(d.hess[i][j], h[i][j], largest_hess));
  }
  EXPECT_LT(worst_value, 1e-6);
  EXPECT_LT(worst_grad, 1e-6);
  EXPECT_LT(worst_hess, 1e-6);
  std::printf("  inputs %2d width %2d depth %d ND %2d: worst value %.1e, gradient %.1e, Hessian %.1e\n",
              shape.inputs, shape.width, shape.depth, ND, worst_value, worst_grad, worst_hess);
}

TEST(ValueMlpTorch, MatchesAutograd) {
  torch::manual_seed(0);  // nothing here is random on the torch side; the weights are overwritten
  expect_matches_autograd<11>(MlpShape{13, 12, 3}, 1);  // the paper's net, (τ, x) block
  expect_matches_autograd<11>(MlpShape{13, 5, 1}, 2);
  expect_matches_autograd<11>(MlpShape{13, 64, 4}, 3);
  expect_matches_autograd<16>(MlpShape{16, 64, 4}, 4);
  expect_matches_autograd<5>(MlpShape{7, 3, 4}, 5);
}

}  // namespace
}  // namespace dmpc

// ---- the critic module and the actor's flat buffer ----------------------------------------------
#include "trainer/critic.hpp"

namespace dmpc {
namespace {

// After training-like updates, the flat buffer the actor reads evaluates to the module's output.
TEST(CriticExport, ActorValueEqualsModuleOutput) {
  torch::manual_seed(3);
  const MlpShape shape{13, 12, 3};
  ValueNet net(shape);
  // Non-trivial normalisation and parameters (as after training).
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.3);
    net->named_buffers()["offset"].copy_(torch::randn({13}));
    net->named_buffers()["scale"].copy_(torch::rand({13}) + 0.5);
  }
  const std::vector<double> flat = to_flat(net);
  ASSERT_EQ(flat.size(), static_cast<size_t>(mlp_parameter_count(shape)));
  const torch::Tensor z = torch::randn({64, 13}) * 2;
  const torch::Tensor v = net->forward(z).to(torch::kFloat64);
  const torch::Tensor zd = z.to(torch::kFloat64).contiguous();
  for (int64_t i = 0; i < 64; ++i) {
    const double actor = value_mlp<double>(shape, flat.data(), zd[i].data_ptr<double>());
    EXPECT_NEAR(actor, v[i].item<double>(), 1e-5 * (1 + std::fabs(actor)));  // float32 module
  }
  // load_flat is the inverse of to_flat.
  ValueNet copy(shape);
  load_flat(copy, flat);
  EXPECT_EQ(to_flat(copy), flat);
}

// The critic module's features (torch ops) against the actor's analytic chain rule
// (core/value_mlp.hpp): value, gradient and (τ, x) Hessian at 20 random inputs, in double.
// `walls` fills the walls buffer; `path` (empty without path features) the path buffer.
void expect_features_agree(const MlpShape& shape, const std::vector<double>& walls, const std::vector<double>& path) {
  torch::manual_seed(5);
  ValueNet net(shape);
  net->to(torch::kFloat64);
  const int64_t n = mlp_network_inputs(shape);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.3);
    net->named_buffers()["offset"].copy_(torch::randn({n}, torch::kFloat64) * 0.3);
    net->named_buffers()["scale"].copy_(torch::rand({n}, torch::kFloat64) + 0.5);
    net->named_buffers()["walls"].copy_(torch::tensor(walls, torch::kFloat64).view({shape.features, 5}));
    if (!path.empty()) net->named_buffers()["path"].copy_(torch::tensor(path, torch::kFloat64));
  }
  const std::vector<double> flat = to_flat(net);
  ASSERT_EQ(flat.size(), static_cast<size_t>(mlp_parameter_count(shape)));
  EXPECT_EQ(flat[static_cast<size_t>(mlp_walls_offset(shape) + 4)], walls[4]);  // wall[0].radius
  if (!path.empty()) {
    EXPECT_EQ(flat[static_cast<size_t>(mlp_path_offset(shape) + 2)], path[2]);
  }
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> unit(-1, 1);
  double worst_value = 0, worst_grad = 0, worst_hess = 0;
  int blocked = 0;
  for (int q = 0; q < 20; ++q) {
    std::vector<double> z(13);
    z[0] = 1.5 + 1.5 * unit(rng);
    for (int i = 1; i < 13; ++i) z[i] = (i <= 2 ? 1.5 : 0.5) * unit(rng);
    z[12] += 0.8;  // goals north of the first wall, starts on either side: both ways are taken
    if (z[2] < 0) ++blocked;
    ValueDerivatives<double, 11> d;
    value_mlp_derivatives<double, 11>(shape, flat.data(), z.data(), d);
    const torch::Tensor zt =
        torch::from_blob(z.data(), {1, 13}, torch::kFloat64).clone().set_requires_grad(true);
    const torch::Tensor v = net->forward(zt).sum();
    const torch::Tensor g = torch::autograd::grad({v}, {zt}, {}, true, true)[0][0];
    worst_value = std::max(worst_value, std::fabs(d.value - v.item<double>()) / (1 + std::fabs(d.value)));
    for (int i = 0; i < 13; ++i)
      worst_grad = std::max(worst_grad, std::fabs(d.grad[i] - g[i].item<double>()) / (1 + std::fabs(d.grad[i])));
    for (int i = 0; i < 11; ++i) {
      const torch::Tensor row = torch::autograd::grad({g[i]}, {zt}, {}, true, false, true)[0];
      for (int j = 0; j < 11; ++j) {
        const double h = row.defined() ? row[0][j].item<double>() : 0.0;
        worst_hess = std::max(worst_hess, std::fabs(d.hess[i][j] - h) / (1 + std::fabs(h)));
      }
    }
  }
  EXPECT_GT(blocked, 0);
  EXPECT_LT(worst_value, 1e-12);
  EXPECT_LT(worst_grad, 1e-10);
  EXPECT_LT(worst_hess, 1e-9);
  std::printf("  features %d, path features %d: worst value %.1e, gradient %.1e, Hessian %.1e\n", shape.features,
              shape.path_features, worst_value, worst_grad, worst_hess);
  // load_flat is the inverse of to_flat, the segments and path parameters included.
  ValueNet copy(shape);
  copy->to(torch::kFloat64);
  load_flat(copy, flat);
  EXPECT_EQ(to_flat(copy), flat);
}

const std::vector<double> kTwoWalls = {-0.6, 0.0, 0.6, 0.0, 0.25, 0.3, -1.0, 0.3, -0.5, 0.2};

TEST(CriticExport, WallFeaturesAgreeWithAutogradOfTheModule) {
  expect_features_agree(MlpShape{13, 12, 3, 2}, kTwoWalls, {});
}

// The path features: which way is active is chosen without gradient in the module, the length is
// differentiated; the analytic chain rule through q = p + κ v must give the same derivatives.
TEST(CriticExport, PathFeaturesAgreeWithAutogradOfTheModule) {
  expect_features_agree(MlpShape{13, 12, 3, 2, 1}, kTwoWalls, {5.0, 0.1, 0.4});
  expect_features_agree(MlpShape{13, 12, 3, 1, 2}, {-0.6, 0.0, 0.6, 0.0, 0.25}, {5.0, 0.05, 0.0, 0.7});
}

// The look-ahead point following the Ballbot's lean (path_body): yaw rotates it, pitch, roll and
// their rates move it, each with its exact first and second derivatives.
TEST(CriticExport, PathFeaturesFollowingTheLeanAgreeWithAutogradOfTheModule) {
  expect_features_agree(MlpShape{13, 12, 3, 1, 2, 1}, {-0.6, 0.0, 0.6, 0.0, 0.25},
                        {5.0, 0.05, 0.0, 0.7, 2.0, 0.5});
  expect_features_agree(MlpShape{13, 12, 3, 2, 1, 1}, kTwoWalls, {5.0, 0.1, 0.4, 2.0, 1.3});
}

TEST(CriticExport, PolyakMovesTheTargetByRho) {
  torch::manual_seed(4);
  const MlpShape shape{7, 8, 2};
  ValueNet target(shape), online(shape);
  const std::vector<double> before = to_flat(target), other = to_flat(online);
  polyak_update(target, online, 0.25);
  const std::vector<double> after = to_flat(target);
  const int first_weight = mlp_weight_offset(shape, 1);  // normalisation is copied, not averaged
  for (size_t i = static_cast<size_t>(first_weight); i < after.size(); ++i)
    EXPECT_NEAR(after[i], 0.75 * before[i] + 0.25 * other[i], 1e-6);
}

}  // namespace
}  // namespace dmpc
