#include "trainer/critic.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace dmpc {

ValueNetImpl::ValueNetImpl(MlpShape shape) : shape_(shape) {
  if (!mlp_shape_valid(shape)) throw std::invalid_argument("ValueNet: invalid shape");
  const int64_t n = mlp_network_inputs(shape);
  offset_ = register_buffer("offset", torch::zeros({n}));
  scale_ = register_buffer("scale", torch::ones({n}));
  if (shape.features > 0) walls_ = register_buffer("walls", torch::zeros({shape.features, 5}));
  if (shape.path_features > 0)
    path_ = register_buffer("path", torch::zeros({2 + shape.path_features + 2 * shape.path_body}));
  int64_t fan_in = n;
  for (int l = 0; l < shape.depth; ++l) {
    hidden_.push_back(register_module("hidden" + std::to_string(l),
                                      torch::nn::Linear(fan_in, shape.width)));
    fan_in = shape.width;
  }
  output_ = register_module("output", torch::nn::Linear(shape.width, 1));
}

torch::Tensor ValueNetImpl::forward(const torch::Tensor& z) {
  torch::Tensor input = z;
  if (shape_.features > 0) {
    // φ_j(p) of core/value_mlp.hpp: the smoothed distance to segment j's closest point, less r_j.
    const torch::Tensor p = z.narrow(1, 1, 2);
    std::vector<torch::Tensor> parts{z};
    for (int j = 0; j < shape_.features; ++j) {
      const torch::Tensor w = walls_[j];
      const torch::Tensor a = w.narrow(0, 0, 2), d = w.narrow(0, 2, 2) - a;
      const torch::Tensor len2 = (d * d).sum();
      // A segment of length 0 is its end point: (p − a)·d = 0 there, so t = 0.
      const torch::Tensor t = (((p - a) * d).sum(1) / len2.clamp_min(1e-30)).clamp(0.0, 1.0);
      const torch::Tensor e = p - (a + t.unsqueeze(1) * d);
      parts.push_back(((e * e).sum(1) + kWallFeatureSmoothing * kWallFeatureSmoothing).sqrt().unsqueeze(1) - w[4]);
    }
    if (shape_.path_features > 0) append_path_features(z, parts);
    input = torch::cat(parts, 1);
  }
  torch::Tensor a = (input - offset_) / scale_;
  for (auto& layer : hidden_) a = torch::tanh(layer->forward(a));
  return output_->forward(a).squeeze(-1);
}

void ValueNetImpl::append_path_features(const torch::Tensor& z, std::vector<torch::Tensor>& parts) const {
  // ψ_k(p + κ_k v [+ the lean's offset], g) of core/value_mlp.hpp. Which way is active (straight,
  // or round which waypoint) is a discrete choice, made without gradient; the length is then
  // differentiable.
  const int64_t vi = static_cast<int64_t>(path_[0].item<double>());
  const double margin = path_[1].item<double>();
  const int64_t inputs = z.size(1);
  const torch::Tensor p = z.narrow(1, 1, 2), v = z.narrow(1, 1 + vi, 2), g = z.narrow(1, inputs - 2, 2);
  const double eps2 = kWallFeatureSmoothing * kWallFeatureSmoothing;
  const auto cross = [](const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c) {
    const torch::Tensor ab = b - a, ac = c - a;
    return ab.select(-1, 0) * ac.select(-1, 1) - ab.select(-1, 1) * ac.select(-1, 0);
  };
  // The extended ends of every wall, two per wall in order: the waypoints, and pairwise the
  // segments that block the straight way.
  std::vector<torch::Tensor> ends;
  for (int j = 0; j < shape_.features; ++j) {
    const torch::Tensor w = walls_[j].detach();
    const torch::Tensor a = w.narrow(0, 0, 2), b = w.narrow(0, 2, 2);
    const torch::Tensor d = b - a, len = d.norm();
    const torch::Tensor u = len.item<double>() > 0 ? d / len : torch::tensor({1.0, 0.0}, d.options());
    const torch::Tensor reach = w[4] + margin;
    ends.push_back(a - reach * u);
    ends.push_back(b + reach * u);
  }
  for (int k = 0; k < shape_.path_features; ++k) {
    const double kappa = path_[2 + k].item<double>();
    torch::Tensor q = p + kappa * v;
    if (shape_.path_body) {
      // h Rz(yaw) ((pitch, −roll) + κ (pitch rate, −roll rate)); yaw, pitch, roll at b … b + 2.
      const int64_t b = static_cast<int64_t>(path_[2 + shape_.path_features].item<double>());
      const double h = path_[3 + shape_.path_features].item<double>();
      const torch::Tensor yaw = z.select(1, 1 + b);
      const torch::Tensor A = h * (z.select(1, 2 + b) + kappa * z.select(1, 2 + b + vi));
      const torch::Tensor B = -h * (z.select(1, 3 + b) + kappa * z.select(1, 3 + b + vi));
      const torch::Tensor c = torch::cos(yaw), sn = torch::sin(yaw);
      q = q + torch::stack({c * A - sn * B, sn * A + c * B}, 1);
    }
    torch::Tensor blocked;
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor qd = q.detach(), gd = g.detach();
      blocked = torch::zeros({z.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(z.device()));
      for (size_t j = 0; j + 1 < ends.size(); j += 2) {
        const torch::Tensor &e0 = ends[j], &e1 = ends[j + 1];
        const torch::Tensor o1 = cross(qd, gd, e0.expand_as(qd)), o2 = cross(qd, gd, e1.expand_as(qd));
        const torch::Tensor o3 = cross(e0.expand_as(qd), e1.expand_as(qd), qd),
                            o4 = cross(e0.expand_as(qd), e1.expand_as(qd), gd);
        blocked = blocked | ((o1 * o2 < 0) & (o3 * o4 < 0));
      }
    }
    const torch::Tensor straight = ((q - g).pow(2).sum(1) + eps2).sqrt();
    torch::Tensor round;
    for (const torch::Tensor& e : ends) {
      const torch::Tensor via = ((q - e).pow(2).sum(1) + eps2).sqrt() + (e - g).pow(2).sum(1).sqrt();
      round = round.defined() ? torch::minimum(round, via) : via;
    }
    parts.push_back(torch::where(blocked, round, straight).unsqueeze(1));
  }
}

torch::Tensor eq14_running_cost(const torch::Tensor& z, const torch::Tensor& v, const torch::Tensor& drift,
                                const torch::Tensor& input_map, const torch::Tensor& r_inverse,
                                double log_discount, double quadratic) {
  const int64_t nx = drift.size(1);
  const torch::Tensor dz = torch::autograd::grad({v.sum()}, {z}, {}, /*retain_graph=*/true,
                                                 /*create_graph=*/true)[0];
  const torch::Tensor v_tau = dz.select(1, 0), v_x = dz.narrow(1, 1, nx);
  const torch::Tensor gtv = torch::bmm(input_map.transpose(1, 2), v_x.unsqueeze(2)).squeeze(2);  // [n, nu]
  return v_tau - (drift * v_x).sum(1) + quadratic * (gtv.pow(2) * r_inverse).sum(1) - log_discount * v;
}

namespace {
// Copies n numbers between a flat double buffer and a tensor (any float dtype, any device).
void tensor_from(torch::Tensor t, const double* src) {
  torch::NoGradGuard no_grad;
  const torch::Tensor host =
      torch::from_blob(const_cast<double*>(src), t.sizes(), torch::kFloat64).clone();
  t.copy_(host.to(t.dtype()).to(t.device()));
}
void tensor_to(const torch::Tensor& t, double* dst) {
  const torch::Tensor host = t.detach().to(torch::kCPU).to(torch::kFloat64).contiguous();
  std::copy(host.data_ptr<double>(), host.data_ptr<double>() + host.numel(), dst);
}

// Every tensor of the module with its offset in the flat layout of core/value_mlp.hpp.
std::vector<std::pair<torch::Tensor, int>> flat_layout(ValueNet& net) {
  const MlpShape& s = net->shape();
  auto named = net->named_parameters();
  auto buffers = net->named_buffers();
  std::vector<std::pair<torch::Tensor, int>> layout = {{buffers["offset"], 0},
                                                       {buffers["scale"], mlp_network_inputs(s)}};
  if (s.features > 0) layout.emplace_back(buffers["walls"], mlp_walls_offset(s));
  if (s.path_features > 0) layout.emplace_back(buffers["path"], mlp_path_offset(s));
  for (int l = 0; l < s.depth; ++l) {
    const std::string name = "hidden" + std::to_string(l);
    layout.emplace_back(named[name + ".weight"], mlp_weight_offset(s, l + 1));
    layout.emplace_back(named[name + ".bias"], mlp_bias_offset(s, l + 1));
  }
  layout.emplace_back(named["output.weight"], mlp_output_offset(s));
  layout.emplace_back(named["output.bias"], mlp_output_offset(s) + s.width);
  return layout;
}

}  // namespace

std::vector<double> to_flat(ValueNet& net) {
  std::vector<double> flat(static_cast<size_t>(mlp_parameter_count(net->shape())));
  for (const auto& [tensor, offset] : flat_layout(net)) tensor_to(tensor, flat.data() + offset);
  return flat;
}

void load_flat(ValueNet& net, const std::vector<double>& flat) {
  const MlpShape& s = net->shape();
  if (flat.size() != static_cast<size_t>(mlp_parameter_count(s)))
    throw std::invalid_argument("load_flat: " + std::to_string(flat.size()) +
                                " numbers for a network of " +
                                std::to_string(mlp_parameter_count(s)));
  for (const auto& [tensor, offset] : flat_layout(net)) tensor_from(tensor, flat.data() + offset);
}

namespace {
// A float32 CPU tensor's numbers, or an error naming what the native engine needs.
float* float_data(const torch::Tensor& t) {
  if (t.scalar_type() != torch::kFloat32 || !t.device().is_cpu() || !t.is_contiguous())
    throw std::invalid_argument("critic.engine = \"native\" needs the critic as float32 on the CPU");
  return t.data_ptr<float>();
}
}  // namespace

void read_parameters(ValueNet& net, float* flat) {
  for (const auto& [tensor, offset] : flat_layout(net)) {
    const float* src = float_data(tensor);
    std::copy(src, src + tensor.numel(), flat + offset);
  }
}

void write_gradient(ValueNet& net, const float* flat) {
  for (auto& [tensor, offset] : flat_layout(net)) {
    if (!tensor.requires_grad()) continue;  // a buffer: normalisation, walls, path parameters
    torch::Tensor& g = tensor.mutable_grad();
    if (!g.defined()) g = torch::zeros_like(tensor);
    float* dst = float_data(g);
    std::copy(flat + offset, flat + offset + tensor.numel(), dst);
  }
}

void polyak_update(ValueNet& target, ValueNet& online, double rho) {
  torch::NoGradGuard no_grad;
  auto target_params = target->parameters();
  auto online_params = online->parameters();
  for (size_t i = 0; i < target_params.size(); ++i)
    target_params[i].mul_(1.0 - rho).add_(online_params[i], rho);
  auto target_buffers = target->buffers();
  auto online_buffers = online->buffers();
  for (size_t i = 0; i < target_buffers.size(); ++i) target_buffers[i].copy_(online_buffers[i]);
}

}  // namespace dmpc
