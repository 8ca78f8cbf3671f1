// Integrators for control-affine systems ẋ = f(x) + g(x) u with the input held over a step.
//
// A System provides State, Input and `bool flow(x, u, xdot)`; integrators return false when the
// system does (a singular mass matrix, a non-finite value), leaving the output unspecified.
#pragma once

#include "core/hd.hpp"
#include "core/linalg.hpp"

namespace dmpc {

// Classic fourth-order Runge–Kutta over dt with u held constant, given k1 = F(x, u).
template <typename System>
DMPC_HD bool rk4_step_from(const System& sys, const typename System::State& x,
                           const typename System::Input& u, const typename System::State& k1,
                           typename System::Scalar dt, typename System::State& x_next) {
  using T = typename System::Scalar;
  typename System::State k2, k3, k4;
  if (!sys.flow(x + (T(0.5) * dt) * k1, u, k2)) return false;
  if (!sys.flow(x + (T(0.5) * dt) * k2, u, k3)) return false;
  if (!sys.flow(x + dt * k3, u, k4)) return false;
  for (int i = 0; i < System::kStateDim; ++i)
    x_next[i] = x[i] + dt / T(6) * (k1[i] + T(2) * k2[i] + T(2) * k3[i] + k4[i]);
  return true;
}

template <typename System>
DMPC_HD bool rk4_step(const System& sys, const typename System::State& x,
                      const typename System::Input& u, typename System::Scalar dt,
                      typename System::State& x_next) {
  typename System::State k1;
  return sys.flow(x, u, k1) && rk4_step_from(sys, x, u, k1, dt, x_next);
}

// Explicit Euler over dt (the deterministic part of Euler–Maruyama).
template <typename System>
DMPC_HD bool euler_step(const System& sys, const typename System::State& x,
                        const typename System::Input& u, typename System::Scalar dt,
                        typename System::State& x_next) {
  typename System::State xdot;
  if (!sys.flow(x, u, xdot)) return false;
  x_next = x + dt * xdot;
  return true;
}

// One Euler–Maruyama step of ds = (f + g u) dt + g dB with a given Brownian increment dB:
//
//   x' = x + (f + g u) δ + g dB = x + δ · (f + g (u + dB/δ))
//
// The second form needs one evaluation of the dynamics (one solve with M on the Ballbot) because
// the noise enters through the same input map g as the control.
template <typename System>
DMPC_HD bool euler_maruyama_step(const System& sys, const typename System::State& x,
                                 const typename System::Input& u,
                                 const typename System::Input& brownian_increment,
                                 typename System::Scalar dt, typename System::State& x_next) {
  typename System::Input u_eff;
  for (int i = 0; i < System::kInputDim; ++i) u_eff[i] = u[i] + brownian_increment[i] / dt;
  return euler_step(sys, x, u_eff, dt, x_next);
}

}  // namespace dmpc
