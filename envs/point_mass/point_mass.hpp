// A planar point mass: the cheap second system on the same arena and costs (shared/spec/task.md).
//
//   x = [px, py, vx, vy],  u = [Fx, Fy],  ẋ = f + g u,  f = [vx, vy, 0, 0],  g = [0₂ₓ₂; I/m]
//
// Linear, so its value functions are known in closed form for quadratic costs.
#pragma once

#include "core/hd.hpp"
#include "core/linalg.hpp"

namespace dmpc {

template <typename T>
struct PointMassParams {
  T mass = T(1);  // [kg]

  template <typename U>
  DMPC_HD PointMassParams<U> cast() const {
    PointMassParams<U> r;
    r.mass = U(mass);
    return r;
  }
};

template <typename T>
struct PointMass {
  static constexpr int kStateDim = 4;
  static constexpr int kInputDim = 2;
  static constexpr const char* kName = "point_mass";

  using Scalar = T;
  template <typename U>
  using Rebind = PointMass<U>;  // the same system in another scalar type
  using State = Vec<T, kStateDim>;
  using Input = Vec<T, kInputDim>;
  using StateMatrix = Mat<T, kStateDim, kStateDim>;
  using InputMatrix = Mat<T, kStateDim, kInputDim>;

  PointMassParams<T> params;

  DMPC_HD bool flow(const State& x, const Input& u, State& xdot) const {
    xdot[0] = x[2];
    xdot[1] = x[3];
    xdot[2] = u[0] / params.mass;
    xdot[3] = u[1] / params.mass;
    return is_finite(xdot[2]) && is_finite(xdot[3]);
  }

  DMPC_HD bool drift_and_input_map(const State& x, State& drift, InputMatrix& input_map) const {
    drift = State{{x[2], x[3], T(0), T(0)}};
    input_map = InputMatrix::zero();
    input_map(2, 0) = input_map(3, 1) = T(1) / params.mass;
    return true;
  }

  // Nothing to precompute: the dynamics are linear.
  struct Linearization {};
  DMPC_HD bool linearize(const State&, Linearization&) const { return true; }
  DMPC_HD void jacobians(const Linearization&, const State& x, const Input& u, State& xdot,
                         StateMatrix* A, InputMatrix* B) const {
    flow(x, u, xdot);
    if (A) {
      *A = StateMatrix::zero();
      (*A)(0, 2) = (*A)(1, 3) = T(1);
    }
    if (B) {
      *B = InputMatrix::zero();
      (*B)(2, 0) = (*B)(3, 1) = T(1) / params.mass;
    }
  }

  DMPC_HD bool flow_jacobians(const State& x, const Input& u, State& xdot, StateMatrix& A,
                              InputMatrix& B) const {
    A = StateMatrix::zero();
    A(0, 2) = A(1, 3) = T(1);
    B = InputMatrix::zero();
    B(2, 0) = B(3, 1) = T(1) / params.mass;
    return flow(x, u, xdot);
  }

  DMPC_HD State rest_state(T px, T py) const { return State{{px, py, T(0), T(0)}}; }
  DMPC_HD State moving_state(T px, T py, T vx, T vy) const { return State{{px, py, vx, vy}}; }
  DMPC_HD T position_x(const State& x) const { return x[0]; }
  DMPC_HD T position_y(const State& x) const { return x[1]; }
  DMPC_HD T tilt(const State&) const { return T(0); }  // a point mass cannot fall
  DMPC_HD bool in_model_domain(const State& x) const {
    for (int i = 0; i < kStateDim; ++i)
      if (!is_finite(x[i])) return false;
    return true;
  }
};

}  // namespace dmpc
