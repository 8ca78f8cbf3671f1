// Discrete dynamics of the MPC model over one knot interval h, and its exact linearization.
//
//   euler:  x⁺ = x + h F(x, u)                    A_d = I + h ∂F/∂x,  B_d = h ∂F/∂u
//   rk4:    x⁺ = x + h/6 (k1 + 2k2 + 2k3 + k4)    A_d, B_d by differentiating every stage:
//           k_i = F(x_i, u),  ∂k_i/∂x = A_i ∂x_i/∂x,  ∂k_i/∂u = A_i ∂x_i/∂u + B_i
//
// The rollout and the linearization call the same integrator, so A_d, B_d are the exact
// Jacobians of the map the optimizer actually rolls out.
#pragma once

#include "core/hd.hpp"
#include "core/integrators.hpp"
#include "core/linalg.hpp"

namespace dmpc {

enum class KnotIntegrator : int32_t { kEuler = 0, kRk4 = 1 };

template <typename System>
DMPC_HD bool discrete_step(const System& sys, KnotIntegrator integrator,
                           const typename System::State& x, const typename System::Input& u,
                           typename System::Scalar h, typename System::State& x_next) {
  return integrator == KnotIntegrator::kRk4 ? rk4_step(sys, x, u, h, x_next)
                                            : euler_step(sys, x, u, h, x_next);
}

// The same step when f(x) and g(x) are already known (the costs need them too): F = f + g u.
template <typename System>
DMPC_HD bool discrete_step_given(const System& sys, KnotIntegrator integrator,
                                 const typename System::State& x, const typename System::Input& u,
                                 const typename System::State& f,
                                 const typename System::InputMatrix& g, typename System::Scalar h,
                                 typename System::State& x_next) {
  const typename System::State k1 = f + g * u;
  if (integrator == KnotIntegrator::kEuler) {
    x_next = x + h * k1;
    return true;
  }
  return rk4_step_from(sys, x, u, k1, h, x_next);
}

// `lin` is the system's linearization at x (System::linearize), shared with the cost.
template <typename System>
DMPC_HD bool discrete_linearization(const System& sys, KnotIntegrator integrator,
                                    const typename System::Linearization& lin,
                                    const typename System::State& x,
                                    const typename System::Input& u, typename System::Scalar h,
                                    typename System::State& x_next,
                                    typename System::StateMatrix& A_d,
                                    typename System::InputMatrix& B_d) {
  using T = typename System::Scalar;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  using SM = typename System::StateMatrix;
  using IM = typename System::InputMatrix;
  typename System::State k1;
  SM A1;
  IM B1;
  sys.jacobians(lin, x, u, k1, &A1, &B1);
  if (integrator == KnotIntegrator::kEuler) {
    for (int i = 0; i < NX; ++i) {
      x_next[i] = x[i] + h * k1[i];
      for (int j = 0; j < NX; ++j) A_d(i, j) = h * A1(i, j) + (i == j ? T(1) : T(0));
      for (int j = 0; j < NU; ++j) B_d(i, j) = h * B1(i, j);
    }
    return true;
  }
  // RK4: carry (dk/dx, dk/du) of each stage; stage inputs x_i = x + c_i h k_{i−1}.
  const T c[3] = {T(0.5) * h, T(0.5) * h, h};
  const T w[4] = {h / T(6), h / T(3), h / T(3), h / T(6)};
  typename System::State k = k1;
  SM dk_dx = A1;
  IM dk_du = B1;
  x_next = x + w[0] * k1;
  A_d = SM::identity() + w[0] * dk_dx;
  B_d = w[0] * dk_du;
  for (int stage = 1; stage < 4; ++stage) {
    const typename System::State xs = x + c[stage - 1] * k;
    SM dxs_dx = SM::identity() + c[stage - 1] * dk_dx;
    IM dxs_du = c[stage - 1] * dk_du;
    SM As;
    IM Bs;
    if (!sys.flow_jacobians(xs, u, k, As, Bs)) return false;
    dk_dx = As * dxs_dx;
    dk_du = As * dxs_du + Bs;
    x_next = x_next + w[stage] * k;
    A_d = A_d + w[stage] * dk_dx;
    B_d = B_d + w[stage] * dk_du;
  }
  return true;
}

}  // namespace dmpc
