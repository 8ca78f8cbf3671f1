// The native critic engine's objective and gradient (trainer/critic_gradient.hpp) against the
// libtorch engine's: the same network as a ValueNet module in double, the same TD, HJB-residual
// (Eq. 14 through trainer/critic.hpp eq14_running_cost, double backward) and boundary terms, the
// gradient from LibTorch autograd. Ballbot states with their drift and input map, networks with
// and without the wall and path features.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "envs/ballbot/ballbot.hpp"
#include "trainer/critic.hpp"
#include "trainer/critic_gradient.hpp"

namespace dmpc {
namespace {

using Bot = Ballbot<double>;
constexpr int NX = Bot::kStateDim, NU = Bot::kInputDim, INPUTS = NX + 3;

struct Terms {
  double hjb_weight = 0, quadratic = 0.5, discount = 1, boundary_weight = 0;
  int td = 24, extra = 0, boundary = 0;  // TD samples, HJB-only samples, boundary samples
};

// Random Ballbot inputs z = [τ, x, g] (rows) with the model's f, G at x.
void random_inputs(std::mt19937_64& rng, int n, std::vector<double>& z, std::vector<double>& f,
                   std::vector<double>& g) {
  const Bot sys{};
  std::uniform_real_distribution<double> pos(-1.4, 1.4), angle(-0.2, 0.2), rate(-1.0, 1.0), time(0.1, 3.0);
  for (int i = 0; i < n; ++i) {
    Bot::State x = sys.rest_state(pos(rng), pos(rng) - 0.5);
    for (int j = 2; j < 5; ++j) x[j] += angle(rng);
    for (int j = 5; j < NX; ++j) x[j] = rate(rng);
    Bot::State drift;
    Bot::InputMatrix input_map;
    ASSERT_TRUE(sys.drift_and_input_map(x, drift, input_map));
    z.push_back(time(rng));
    for (int j = 0; j < NX; ++j) z.push_back(x[j]);
    z.push_back(pos(rng) * 0.5);
    z.push_back(0.8 + pos(rng) * 0.3);  // goals north of the wall, starts on both sides
    for (int j = 0; j < NX; ++j) {
      f.push_back(drift[j]);
      for (int c = 0; c < NU; ++c) g.push_back(input_map(j, c));
    }
  }
}

ValueNet random_net(const MlpShape& shape, const std::vector<double>& walls, const std::vector<double>& path) {
  torch::manual_seed(7);
  ValueNet net(shape);
  net->to(torch::kFloat64);
  const int64_t n = mlp_network_inputs(shape);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.3);
  net->named_buffers()["offset"].copy_(torch::randn({n}, torch::kFloat64) * 0.3);
  net->named_buffers()["scale"].copy_(torch::rand({n}, torch::kFloat64) + 0.5);
  if (shape.features > 0)
    net->named_buffers()["walls"].copy_(torch::tensor(walls, torch::kFloat64).view({shape.features, 5}));
  if (shape.path_features > 0) net->named_buffers()["path"].copy_(torch::tensor(path, torch::kFloat64));
  return net;
}

// Autograd's gradient in the flat layout (zeros where nothing is trained).
std::vector<double> flat_gradient(ValueNet& net) {
  const MlpShape& s = net->shape();
  std::vector<double> out(static_cast<size_t>(mlp_parameter_count(s)), 0.0);
  auto named = net->named_parameters();
  const auto put = [&](const std::string& name, int offset) {
    const torch::Tensor g = named[name].grad().contiguous();
    std::copy(g.data_ptr<double>(), g.data_ptr<double>() + g.numel(), out.begin() + offset);
  };
  for (int l = 1; l <= s.depth; ++l) {
    put("hidden" + std::to_string(l - 1) + ".weight", mlp_weight_offset(s, l));
    put("hidden" + std::to_string(l - 1) + ".bias", mlp_bias_offset(s, l));
  }
  put("output.weight", mlp_output_offset(s));
  put("output.bias", mlp_output_offset(s) + s.width);
  return out;
}

// The samples, targets and model terms of one TD + HJB minibatch, in T.
template <typename T>
struct HjbSamples {
  std::vector<T> z, y, f, g, q, r_inverse;
  int64_t n = 0;

  template <typename U>
  explicit HjbSamples(const HjbSamples<U>& other)
      : z(other.z.begin(), other.z.end()), y(other.y.begin(), other.y.end()), f(other.f.begin(), other.f.end()),
        g(other.g.begin(), other.g.end()), q(other.q.begin(), other.q.end()),
        r_inverse(other.r_inverse.begin(), other.r_inverse.end()), n(other.n) {}
  HjbSamples() = default;

  // The first td_count samples have TD targets; every sample has the HJB term.
  CriticMinibatch<T> batch(int64_t td_count, double hjb_weight, double quadratic, double log_discount) const {
    CriticMinibatch<T> b;
    b.count = n;
    b.z = z.data();
    b.td_count = td_count;
    b.td_target = y.data();
    b.hjb_weight = static_cast<T>(hjb_weight);
    b.quadratic = static_cast<T>(quadratic);
    b.nx = NX;
    b.nu = NU;
    b.drift = f.data();
    b.input_map = g.data();
    b.task_cost = q.data();
    b.r_inverse = r_inverse.data();
    b.log_discount = static_cast<T>(log_discount);
    return b;
  }
};

// Builds one minibatch, evaluates both engines, compares loss and every gradient entry; returns
// the worst relative gradient difference.
double compare_engines(const MlpShape& shape, const std::vector<double>& walls, const std::vector<double>& path,
                       const Terms& t, uint64_t seed) {
  ValueNet net = random_net(shape, walls, path);
  const std::vector<double> flat = to_flat(net);
  std::mt19937_64 rng(seed);
  const int n = t.td + t.extra;
  HjbSamples<double> samples;
  samples.n = n;
  std::vector<double> zb, fb, gb;
  random_inputs(rng, n, samples.z, samples.f, samples.g);
  random_inputs(rng, t.boundary, zb, fb, gb);
  std::normal_distribution<double> value(5.0, 3.0);
  samples.y.resize(static_cast<size_t>(t.td));
  samples.q.resize(static_cast<size_t>(n));
  std::vector<double> yb(static_cast<size_t>(t.boundary));
  for (double& v : samples.y) v = value(rng);
  for (double& v : samples.q) v = std::fabs(value(rng)) * 0.3;
  for (double& v : yb) v = value(rng);
  samples.r_inverse = {1 / 0.5, 1 / 0.7, 1 / 0.9};
  std::vector<double>&z = samples.z, &f = samples.f, &g = samples.g, &y = samples.y, &q = samples.q;

  // libtorch engine: the trainer's loss, autograd's gradient.
  const auto tensor = [](std::vector<double>& v, std::vector<int64_t> sizes) {
    return torch::from_blob(v.data(), sizes, torch::kFloat64).clone();
  };
  torch::Tensor zt = tensor(z, {n, INPUTS}).set_requires_grad(true);
  const torch::Tensor v = net->forward(zt);
  torch::Tensor loss = torch::mse_loss(v.narrow(0, 0, t.td), tensor(y, {t.td}));
  if (t.hjb_weight > 0) {
    const torch::Tensor l = eq14_running_cost(zt, v, tensor(f, {n, NX}), tensor(g, {n, NX, NU}),
                                              torch::tensor(samples.r_inverse, torch::kFloat64), std::log(t.discount),
                                              t.quadratic);
    loss = loss + t.hjb_weight * (l - tensor(q, {n})).pow(2).mean();
  }
  if (t.boundary > 0)
    loss = loss + t.boundary_weight * torch::mse_loss(net->forward(tensor(zb, {t.boundary, INPUTS})),
                                                      tensor(yb, {t.boundary}));
  net->zero_grad();
  loss.backward();
  const std::vector<double> expected = flat_gradient(net);

  // native engine
  CriticMinibatch<double> b = samples.batch(t.td, t.hjb_weight, t.quadratic, std::log(t.discount));
  b.boundary_weight = t.boundary_weight;
  b.boundary_count = t.boundary;
  b.boundary_z = zb.data();
  b.boundary_value = yb.data();
  std::vector<double> grad(flat.size(), 1.0);
  const CriticObjectiveValue got = critic_objective_gradient(shape, flat.data(), b, grad.data());

  EXPECT_NEAR(got.loss, loss.item<double>(), 1e-11 * (1 + loss.item<double>()));
  double worst = 0, largest = 0;
  for (size_t i = 0; i < grad.size(); ++i) {
    largest = std::max(largest, std::fabs(expected[i]));
    worst = std::max(worst, std::fabs(grad[i] - expected[i]) / (1e-3 + std::fabs(expected[i])));
  }
  EXPECT_GT(largest, 1e-3);  // a gradient to compare
  EXPECT_LT(worst, 1e-9) << "features " << shape.features << ", path " << shape.path_features;
  // The batched forward pass alone (the TD targets' bootstrap) is V̂ of the module.
  std::vector<double> values(static_cast<size_t>(n));
  critic_values(shape, flat.data(), z.data(), n, values.data());
  for (int i = 0; i < n; ++i) EXPECT_NEAR(values[static_cast<size_t>(i)], v[i].item<double>(), 1e-12);
  return worst;
}

const std::vector<double> kWall = {-0.6, 0.0, 0.6, 0.0, 0.25};
const std::vector<double> kTwoWalls = {-0.6, 0.0, 0.6, 0.0, 0.25, 0.3, -1.0, 0.3, -0.5, 0.2};

TEST(NativeCritic, TdLossGradientEqualsAutograd) {
  Terms t;
  const double worst = compare_engines(MlpShape{INPUTS, 12, 3}, {}, {}, t, 1);
  std::printf("  TD only, plain network: worst relative gradient difference %.1e\n", worst);
}

TEST(NativeCritic, HjbResidualGradientEqualsDoubleBackward) {
  Terms t;
  t.hjb_weight = 0.7;
  t.extra = 16;
  t.discount = 0.9;
  double worst = compare_engines(MlpShape{INPUTS, 12, 3}, {}, {}, t, 2);
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 8, 1}, {}, {}, t, 3));
  t.quadratic = 1.0;  // critic.hjb_form = "greedy_policy"
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 24, 4}, {}, {}, t, 4));
  std::printf("  HJB term, plain networks: worst relative gradient difference %.1e\n", worst);
}

// The default configuration's critic: one wall's clearance, two path features following the lean.
TEST(NativeCritic, FeatureNetworksWithHjbAndBoundaryTermsEqualAutograd) {
  Terms t;
  t.hjb_weight = 1.0;
  t.extra = 24;
  t.boundary = 10;
  t.boundary_weight = 0.5;
  double worst = compare_engines(MlpShape{INPUTS, 24, 3, 1, 2, 1}, kWall, {5.0, 0.05, 0.0, 0.7, 2.0, 0.5}, t, 5);
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 12, 3, 2, 1, 1}, kTwoWalls, {5.0, 0.1, 0.4, 2.0, 1.3}, t, 6));
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 12, 2, 2, 1}, kTwoWalls, {5.0, 0.1, 0.4}, t, 7));
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 12, 2, 2}, kTwoWalls, {}, t, 8));
  // Several chunks of kCriticChunk samples, the TD samples ending inside the second.
  t.td = 150;
  t.extra = 130;
  t.boundary = 140;
  worst = std::max(worst, compare_engines(MlpShape{INPUTS, 24, 3, 1, 2, 1}, kWall, {5.0, 0.05, 0.0, 0.7, 2.0, 0.5}, t, 9));
  std::printf("  wall and path features, HJB and boundary terms: worst relative gradient difference %.1e\n", worst);
}

// float (what training runs) against double: the same objective to float's precision.
TEST(NativeCritic, FloatGradientFollowsTheDoubleOne) {
  const MlpShape shape{INPUTS, 24, 3, 1, 2, 1};
  ValueNet net = random_net(shape, kWall, {5.0, 0.05, 0.0, 0.7, 2.0, 0.5});
  const std::vector<double> flat = to_flat(net);
  const std::vector<float> flat32(flat.begin(), flat.end());
  std::mt19937_64 rng(9);
  HjbSamples<double> exact_samples;
  exact_samples.n = 300;  // three chunks
  random_inputs(rng, 300, exact_samples.z, exact_samples.f, exact_samples.g);
  exact_samples.y.assign(300, 3.0);
  exact_samples.q.assign(300, 0.5);
  exact_samples.r_inverse = {2.0, 1.5, 1.1};
  const HjbSamples<float> samples(exact_samples);
  std::vector<double> grad(flat.size());
  const CriticObjectiveValue exact =
      critic_objective_gradient(shape, flat.data(), exact_samples.batch(150, 1.0, 0.5, std::log(0.95)), grad.data());
  std::vector<float> grad32(flat.size());
  const CriticObjectiveValue single =
      critic_objective_gradient(shape, flat32.data(), samples.batch(150, 1.0, 0.5, std::log(0.95)), grad32.data());
  // Threads share the chunks; the sum is taken in chunk order, so the result is bit-identical.
  ThreadPool pool(3);
  std::vector<float> threaded(flat.size());
  const CriticObjectiveValue shared =
      critic_objective_gradient(shape, flat32.data(), samples.batch(150, 1.0, 0.5, std::log(0.95)), threaded.data(), &pool);
  EXPECT_EQ(shared.loss, single.loss);
  EXPECT_EQ(threaded, grad32);
  EXPECT_NEAR(single.loss, exact.loss, 1e-4 * exact.loss);
  double norm = 0, diff = 0;
  for (size_t i = 0; i < grad.size(); ++i) {
    norm += grad[i] * grad[i];
    diff += (grad32[i] - grad[i]) * (grad32[i] - grad[i]);
  }
  EXPECT_GT(norm, 0.0);
  EXPECT_LT(std::sqrt(diff / norm), 1e-4);
  std::printf("  float against double: loss %.7g / %.7g, gradient relative difference %.1e\n", single.loss, exact.loss,
              std::sqrt(diff / norm));
}

}  // namespace
}  // namespace dmpc
