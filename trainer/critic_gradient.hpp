// The critic's minibatch objective and its exact gradient in the network's parameters, computed
// without a framework: the `native` critic engine (critic.engine; the `libtorch` engine builds the
// same objective with autograd, trainer/critic.hpp and dmpc_trainer.cpp).
//
// Why: the critic is small (3 × 24 tanh units) and its minibatches are a few hundred samples, so in
// LibTorch every operation costs far more in dispatch, autograd bookkeeping and allocation than in
// arithmetic (`perf`: 47 % of a run's CPU time in LibTorch's own code, 5 % in the matrix kernels).
// Here the whole objective is a handful of dense matrix products over the minibatch.
//
// The objective (the same terms as the libtorch engine):
//
//     L = 1/N_td Σ_{i<N_td} (V̂(z_i) − y_i)²                       TD term (the first N_td samples)
//       + w_h / N Σ_{i<N} (l̂(z_i) − q_i)²                          HJB residual (every sample)
//       + w_b / N_b Σ_b (V̂(z_b) − y_b)²                            boundary term (its own samples)
//
// with the Eq. 14 running cost of the network at z = [τ, x, g] for ẋ = f(x) + G(x) u:
//
//     l̂ = ∂_τV̂ − fᵀ∂ₓV̂ + c Σ_j r_j (G_jᵀ∂ₓV̂)² − ln(γ) V̂      (c = ½ for Eq. 14, r_j = 1/R_j)
//
// Gradient of the HJB term (forward over reverse). l̂ depends on θ through V̂ and through
// v = ∇_zV̂. With the direction δz = ∂l̂/∂v = e_τ − [0; f; 0] + 2c Σ_j r_j (G_jᵀv_x) [0; G_j; 0]
// held fixed, ∂l̂/∂θ = ∂(δzᵀ∇_zV̂)/∂θ − ln(γ) ∂V̂/∂θ, and δzᵀ∇_zV̂ = V̂' is V̂'s directional
// derivative along δz, which the network computes forward with tangents (the wall and path
// features have no parameters: they only map δz into the tangent of the network's input):
//
//     a_0 = z̃',             a'_0 = ∂z̃'/∂z · δz
//     u_l = W_l a_{l−1} + b_l,  a_l = tanh(u_l),   u'_l = W_l a'_{l−1},  a'_l = s_l ⊙ u'_l,  s_l = 1 − a_l²
//     V̂ = w_outᵀ a_d + b_out,   V̂' = w_outᵀ a'_d
//
// Each sample's loss then depends on θ through V̂ with weight α and through V̂' with weight β:
// α = 2(V̂ − y)/N_td [i < N_td] − ρ ln γ, β = ρ, ρ = 2 w_h (l̂ − q)/N (boundary samples: α only).
// Backpropagating through both chains (adjoints ā_l, ā'_l):
//
//     ā_d = α w_out,  ā'_d = β w_out,   ∂L/∂w_out = Σ α a_d + β a'_d,   ∂L/∂b_out = Σ α
//     ū'_l = ā'_l ⊙ s_l,   ū_l = ā_l ⊙ s_l − 2 ā'_l ⊙ u'_l ⊙ a_l ⊙ s_l        (s_l' = −2 a_l s_l)
//     ∂L/∂W_l = Σ ū_l a_{l−1}ᵀ + ū'_l a'_{l−1}ᵀ,   ∂L/∂b_l = Σ ū_l,
//     ā_{l−1} = W_lᵀ ū_l,   ā'_{l−1} = W_lᵀ ū'_l
//
// With the samples as the columns of matrices every line above is one matrix product or an
// element-wise operation. ∇_zV̂ itself (for l̂ and δz) is the ordinary backward pass,
// core/value_mlp.hpp's formulas batched.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/value_mlp.hpp"

namespace dmpc {

constexpr int kMaxControlInputs = 8;  // nu of the HJB term's input map
// Samples per chunk: the unit of work a thread takes, and of the gradient's summation order, so
// the result does not depend on the number of threads.
constexpr int64_t kCriticChunk = 128;

// One minibatch of the objective. Arrays are row-major, one sample per row; nothing is owned.
template <typename T>
struct CriticMinibatch {
  int64_t count = 0;             // N samples z [N, inputs]
  const T* z = nullptr;
  int64_t td_count = 0;          // the first N_td of them have TD targets y [N_td]
  const T* td_target = nullptr;

  // HJB residual (hjb_weight > 0): per sample f [N, nx], G [N, nx, nu] and q [N]; the state x of
  // z = [τ, x, g] occupies inputs 1 … nx.
  T hjb_weight = T(0);
  int nx = 0, nu = 0;
  const T* drift = nullptr;
  const T* input_map = nullptr;
  const T* task_cost = nullptr;
  const T* r_inverse = nullptr;  // [nu]: 1/R_j
  T quadratic = T(0.5);          // c
  T log_discount = T(0);         // ln γ

  // Boundary term (boundary_weight > 0): samples z_b [N_b, inputs] with values y_b [N_b].
  T boundary_weight = T(0);
  int64_t boundary_count = 0;
  const T* boundary_z = nullptr;
  const T* boundary_value = nullptr;
};

struct CriticObjectiveValue {
  double loss = 0;  // L
  double td = 0;    // its TD term
};

// L and ∂L/∂θ for the network `params` (the flat layout of core/value_mlp.hpp). grad has
// mlp_parameter_count(shape) entries in the same layout; the entries that are not trained
// (normalisation, wall segments, path parameters) are set to zero. T = float for training,
// double for the tests against autograd. With a pool, its threads share the chunks of
// kCriticChunk samples; the partial gradients are added in chunk order either way.
template <typename T>
CriticObjectiveValue critic_objective_gradient(const MlpShape& shape, const T* params, const CriticMinibatch<T>& batch,
                                               T* grad, ThreadPool* pool = nullptr);

// V̂ at n inputs (row-major [n, inputs]) into value[n]: the batched forward pass of the above,
// for the TD targets' bootstrap values.
template <typename T>
void critic_values(const MlpShape& shape, const T* params, const T* z, int64_t n, T* value);

}  // namespace dmpc
