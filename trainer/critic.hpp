// The critic's value network V̂(τ, s, g) as a LibTorch module, and its bridges to the actor.
//
// The module computes exactly what core/value_mlp.hpp evaluates from a flat buffer: the wall
// features φ_j(p) and path features ψ_k appended to z when the shape has them, fixed input normalisation
// z̃ = (z − offset) / scale, `depth` tanh layers of `width` units, a linear output.
// to_flat() writes the module's parameters in that buffer's layout; load_flat() does the reverse
// (used to initialise from random_value_network, so that initialisation is a Philox function of
// the seed and independent of LibTorch's generators and version). Included by trainer/ sources
// only: this is one of the few headers that pulls in torch.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "core/value_mlp.hpp"

namespace dmpc {

class ValueNetImpl : public torch::nn::Module {
 public:
  explicit ValueNetImpl(MlpShape shape);

  // z: [batch, inputs] → V̂: [batch]
  torch::Tensor forward(const torch::Tensor& z);

  const MlpShape& shape() const { return shape_; }

 private:
  // Appends the path-length features ψ_k (core/value_mlp.hpp) of z to parts.
  void append_path_features(const torch::Tensor& z, std::vector<torch::Tensor>& parts) const;

  MlpShape shape_;
  torch::Tensor offset_, scale_;  // buffers: part of the state, not trained
  torch::Tensor walls_;           // buffer [features, 5] (x0, y0, x1, y1, r) when there are features
  torch::Tensor path_;            // buffer [2 + P (+ 2)] (velocity index, margin, κ_1 … κ_P [, yaw index, lean gain])
  std::vector<torch::nn::Linear> hidden_;
  torch::nn::Linear output_{nullptr};
};
TORCH_MODULE(ValueNet);

// The module's parameters in the layout of core/value_mlp.hpp (double).
std::vector<double> to_flat(ValueNet& net);
// Sets the module's parameters and normalisation from a flat buffer of that layout.
void load_flat(ValueNet& net, const std::vector<double>& flat);

// The native critic engine's bridge (trainer/critic_gradient.hpp) for a float32 module on the CPU:
// read_parameters writes the module's parameters and buffers into flat (mlp_parameter_count
// floats, the layout of core/value_mlp.hpp) without a conversion; write_gradient sets every
// parameter's .grad from a gradient in that layout (its untrained entries are ignored).
void read_parameters(ValueNet& net, float* flat);
void write_gradient(ValueNet& net, const float* flat);

// θ⁻ ← (1 − ρ) θ⁻ + ρ θ for every parameter (buffers are copied).
void polyak_update(ValueNet& target, ValueNet& online, double rho);

// The DMPC running cost (paper Eq. 14, the actor's ActorCost::running in LibTorch) of the module
// at inputs z = [τ, x, g] of a control-affine model ẋ = f(x) + g(x) u:
//
//   l̂ = ∂_τV̂ − fᵀ∂ₓV̂ + ½ Σ_j (gᵀ∂ₓV̂)_j² / R_j − ln(γ) V̂
//
// z must require grad and v = net(z); the result is differentiable in the module's parameters
// (double backward), for the critic's HJB-residual term. drift [n, nx], input_map [n, nx, nu],
// r_inverse [nu] on z's device and dtype.
//
// `quadratic` replaces the ½ of the third term. ½ is Eq. 14, and l̂ = q is the HJB equation of V*
// when V̂ values the control cost too (critic.control_cost). When V̂ values the task's cost only,
// the equation it satisfies for the actor's greedy input u = −R⁻¹gᵀ∂ₓV̂ is the policy's own:
// ∂_τV̂ = q + ∂ₓV̂ᵀ(f + g u), i.e. l̂ = q with quadratic = 1 (the input's drift, without its cost).
torch::Tensor eq14_running_cost(const torch::Tensor& z, const torch::Tensor& v, const torch::Tensor& drift,
                                const torch::Tensor& input_map, const torch::Tensor& r_inverse,
                                double log_discount, double quadratic = 0.5);

}  // namespace dmpc
