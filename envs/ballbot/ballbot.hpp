// The Ballbot as a control-affine system (shared/spec/ballbot.md).
//
//   x = [q; q̇],  q = [px, py, yaw, pitch, roll],  u = [τ1, τ2, τ3]
//   M(q) q̈ + h(q, q̇) = Jᵀ(q) τ
//   ẋ = f(x) + g(x) u,   f = [q̇; −M⁻¹h],   g = [0₅ₓ₃; M⁻¹Jᵀ]
//
// M, h, J and their partial derivatives come from the sympy generator (ballbot_generated.hpp).
// The Jacobians of F(x, u) = f + g u follow by differentiating M q̈ = Jᵀu − h:
//
//   ∂q̈/∂q_k = M⁻¹ ( (∂J/∂q_k)ᵀ u − ∂h/∂q_k − (∂M/∂q_k) q̈ )
//   ∂q̈/∂q̇   = −M⁻¹ ∂h/∂q̇
//   ∂q̈/∂u   = M⁻¹ Jᵀ
//
// Every method returns false instead of throwing when M is not positive definite (|pitch| or
// |roll| near π/2, or non-finite input), so that it can run inside a CUDA kernel.
#pragma once

#include "core/hd.hpp"
#include "core/linalg.hpp"
#include "envs/ballbot/ballbot_generated.hpp"
#include "envs/ballbot/ballbot_params.hpp"

namespace dmpc {

template <typename T>
struct Ballbot {
  static constexpr int kConfigDim = 5;
  static constexpr int kStateDim = 10;
  static constexpr int kInputDim = 3;
  static constexpr const char* kName = "ballbot";
  enum Coordinate { kPx = 0, kPy = 1, kYaw = 2, kPitch = 3, kRoll = 4 };

  using Scalar = T;
  using State = Vec<T, kStateDim>;
  using Input = Vec<T, kInputDim>;
  using StateMatrix = Mat<T, kStateDim, kStateDim>;
  using InputMatrix = Mat<T, kStateDim, kInputDim>;

  BallbotParams<T> params;

  // ẋ = f(x) + g(x) u.
  DMPC_HD bool flow(const State& x, const Input& u, State& xdot) const {
    Mat<T, 5, 5> mass_chol;
    Vec<T, 5> qdd;
    Mat<T, 3, 5> wheel_jac;
    if (!accelerations(x, u, mass_chol, qdd, wheel_jac)) return false;
    for (int i = 0; i < 5; ++i) {
      xdot[i] = x[5 + i];
      xdot[5 + i] = qdd[i];
    }
    return true;
  }

  // f(x) and g(x) separately (the value-function running cost needs Ξ = g R⁻¹ gᵀ).
  DMPC_HD bool drift_and_input_map(const State& x, State& drift, InputMatrix& input_map) const {
    Mat<T, 5, 5> mass_chol;
    Vec<T, 5> qdd;
    Mat<T, 3, 5> wheel_jac;
    if (!accelerations(x, Input::zero(), mass_chol, qdd, wheel_jac)) return false;
    const Mat<T, 5, 3> minv_jt = cholesky_solve(mass_chol, transpose(wheel_jac));
    for (int i = 0; i < 5; ++i) {
      drift[i] = x[5 + i];
      drift[5 + i] = qdd[i];
      for (int j = 0; j < 3; ++j) {
        input_map(i, j) = T(0);
        input_map(5 + i, j) = minv_jt(i, j);
      }
    }
    return true;
  }

  // ẋ with A = ∂ẋ/∂x and B = ∂ẋ/∂u.
  DMPC_HD bool flow_jacobians(const State& x, const Input& u, State& xdot, StateMatrix& A,
                              InputMatrix& B) const {
    Mat<T, 5, 5> mass_chol;
    Vec<T, 5> qdd;
    Mat<T, 3, 5> wheel_jac;
    if (!accelerations(x, u, mass_chol, qdd, wheel_jac)) return false;
    Mat<T, 5, 5> dM_dq[5];
    Mat<T, 5, 5> dh_dq, dh_dqd;
    Mat<T, 3, 5> dJ_dq[5];
    ballbot_generated::dynamics_term_derivatives(params, &x[0], &x[5], dM_dq, dh_dq, dh_dqd, dJ_dq);

    A = StateMatrix::zero();
    for (int i = 0; i < 5; ++i) {
      xdot[i] = x[5 + i];
      xdot[5 + i] = qdd[i];
      A(i, 5 + i) = T(1);
    }
    for (int k = 0; k < 5; ++k) {
      // rhs = (∂J/∂q_k)ᵀ u − ∂h/∂q_k − (∂M/∂q_k) q̈
      Vec<T, 5> rhs;
      for (int i = 0; i < 5; ++i) {
        T s = -dh_dq(i, k);
        for (int w = 0; w < 3; ++w) s += dJ_dq[k](w, i) * u[w];
        for (int j = 0; j < 5; ++j) s -= dM_dq[k](i, j) * qdd[j];
        rhs[i] = s;
      }
      const Vec<T, 5> col = cholesky_solve(mass_chol, rhs);
      for (int i = 0; i < 5; ++i) A(5 + i, k) = col[i];
    }
    const Mat<T, 5, 5> dqdd_dqd = cholesky_solve(mass_chol, T(-1) * dh_dqd);
    const Mat<T, 5, 3> minv_jt = cholesky_solve(mass_chol, transpose(wheel_jac));
    for (int i = 0; i < 5; ++i) {
      for (int j = 0; j < 5; ++j) A(5 + i, 5 + j) = dqdd_dqd(i, j);
      for (int j = 0; j < 3; ++j) {
        B(i, j) = T(0);
        B(5 + i, j) = minv_jt(i, j);
      }
    }
    return true;
  }

  // Total mechanical energy T + U (conserved with τ = 0; used by the energy check).
  DMPC_HD bool energy(const State& x, T& total) const {
    Mat<T, 5, 5> M;
    Vec<T, 5> h;
    Mat<T, 3, 5> J;
    ballbot_generated::dynamics_terms(params, &x[0], &x[5], M, h, J);
    T kinetic = T(0);
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) kinetic += T(0.5) * x[5 + i] * M(i, j) * x[5 + j];
    total = kinetic + params.body_mass * params.gravity * com_height(x);
    return is_finite(total);
  }

  // (R c)_z: height of the body CoM above the ball centre.
  DMPC_HD T com_height(const State& x) const {
    const T sp = sin(x[kPitch]), cp = cos(x[kPitch]);
    const T sr = sin(x[kRoll]), cr = cos(x[kRoll]);
    return -sp * params.com_x + cp * sr * params.com_y + cp * cr * params.com_z;
  }

  // The balancing equilibrium at rest: the tilt that makes R·c vertical (yaw does not matter).
  //   Rx(roll) c has no y part when tan(roll) = c_y / c_z;
  //   Ry(pitch) then has no x part when tan(pitch) = −c_x / √(c_y² + c_z²).
  DMPC_HD void balancing_tilt(T& pitch, T& roll) const {
    roll = atan2(params.com_y, params.com_z);
    pitch = atan2(-params.com_x, sqrt(params.com_y * params.com_y + params.com_z * params.com_z));
  }

  DMPC_HD State rest_state(T px, T py) const {
    State x = State::zero();
    x[kPx] = px;
    x[kPy] = py;
    balancing_tilt(x[kPitch], x[kRoll]);
    return x;
  }

  DMPC_HD T position_x(const State& x) const { return x[kPx]; }
  DMPC_HD T position_y(const State& x) const { return x[kPy]; }
  // Where the Euler-angle model is trusted by optimizers: tilts well away from the singularity at
  // |pitch| = π/2 (a balancing robot has fallen long before). Rollouts stop outside it.
  static constexpr double kModelTiltLimit = 1.2;  // [rad]
  DMPC_HD bool in_model_domain(const State& x) const {
    for (int i = 0; i < kStateDim; ++i)
      if (!is_finite(x[i])) return false;
    return tilt(x) < T(kModelTiltLimit);
  }

  // Largest body tilt, compared with the task's fall angle.
  DMPC_HD T tilt(const State& x) const {
    const T p = fabs(x[kPitch]), r = fabs(x[kRoll]);
    return p > r ? p : r;
  }

  // q̈ = M⁻¹ (Jᵀ u − h), with the Cholesky factor of M and J for reuse.
  DMPC_HD bool accelerations(const State& x, const Input& u, Mat<T, 5, 5>& mass_chol,
                             Vec<T, 5>& qdd, Mat<T, 3, 5>& wheel_jac) const {
    Mat<T, 5, 5> M;
    Vec<T, 5> h;
    ballbot_generated::dynamics_terms(params, &x[0], &x[5], M, h, wheel_jac);
    if (!cholesky(M, mass_chol)) return false;
    Vec<T, 5> rhs;
    for (int i = 0; i < 5; ++i) {
      T s = -h[i];
      for (int w = 0; w < 3; ++w) s += wheel_jac(w, i) * u[w];
      rhs[i] = s;
    }
    qdd = cholesky_solve(mass_chol, rhs);
    for (int i = 0; i < 5; ++i)
      if (!is_finite(qdd[i])) return false;
    return true;
  }
};

}  // namespace dmpc
