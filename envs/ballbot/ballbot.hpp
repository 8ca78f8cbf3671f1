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
// linearize() gathers the u-independent part once per state (see Linearization), so optimizers
// that need the Jacobians at several inputs at one state (the DMPC cost does) pay for it once.
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
  template <typename U>
  using Rebind = Ballbot<U>;  // the same system in another scalar type
  using State = Vec<T, kStateDim>;
  using Input = Vec<T, kInputDim>;
  using StateMatrix = Mat<T, kStateDim, kStateDim>;
  using InputMatrix = Mat<T, kStateDim, kInputDim>;

  BallbotParams<T> params;

  // Everything about the dynamics at a state x that does not depend on u, so that F(x, u) and
  // its Jacobians for any number of inputs cost a few small products each. With
  // q̈(u) = q̈₀ + G u, q̈₀ = −M⁻¹h, G = M⁻¹Jᵀ (= the lower block of g):
  //
  //   ∂q̈/∂q_k = C₀[:, k] + D_k u,   C₀[:, k] = −M⁻¹(∂h/∂q_k + (∂M/∂q_k) q̈₀),
  //                                  D_k = M⁻¹((∂J/∂q_k)ᵀ − (∂M/∂q_k) G)
  //   ∂q̈/∂q̇ = −M⁻¹ ∂h/∂q̇,           ∂q̈/∂u = G
  //
  // Columns k = px, py vanish: nothing depends on where the ball is (translation invariance).
  struct Linearization {
    Vec<T, 5> qdd0;
    Mat<T, 5, 3> G;
    Mat<T, 5, 3> C0;        // columns for yaw, pitch, roll
    Mat<T, 5, 3> D[3];      // D_k for yaw, pitch, roll
    Mat<T, 5, 5> dqdd_dqd;  // −M⁻¹ ∂h/∂q̇
  };

  DMPC_HD bool linearize(const State& x, Linearization& lin) const {
    Mat<T, 5, 5> M, dM_dq[5], dh_dq, dh_dqd;
    Vec<T, 5> h;
    Mat<T, 3, 5> J, dJ_dq[5];
    ballbot_generated::dynamics_terms(params, &x[0], &x[5], M, h, J);
    ballbot_generated::dynamics_term_derivatives(params, &x[0], &x[5], dM_dq, dh_dq, dh_dqd, dJ_dq);
    Mat<T, 5, 5> L;
    if (!cholesky(M, L)) return false;
    const Mat<T, 5, 5> Minv = cholesky_inverse(L);
    lin.qdd0 = T(-1) * (Minv * h);
    lin.G = Minv * transpose(J);
    lin.dqdd_dqd = T(-1) * (Minv * dh_dqd);
    Mat<T, 5, 3> rhs0;  // −∂h/∂q_k − (∂M/∂q_k) q̈₀ for k = yaw, pitch, roll
    for (int c = 0; c < 3; ++c) {
      const int k = kYaw + c;
      const Vec<T, 5> dMq = dM_dq[k] * lin.qdd0;
      for (int i = 0; i < 5; ++i) rhs0(i, c) = -dh_dq(i, k) - dMq[i];
      lin.D[c] = Minv * (transpose(dJ_dq[k]) + T(-1) * (dM_dq[k] * lin.G));
    }
    lin.C0 = Minv * rhs0;
    for (int i = 0; i < 5; ++i)
      if (!is_finite(lin.qdd0[i])) return false;
    return true;
  }

  // F(x, u) = f + g u and, when A and B are given, its Jacobians, from a linearization at x.
  DMPC_HD void jacobians(const Linearization& lin, const State& x, const Input& u, State& xdot,
                         StateMatrix* A, InputMatrix* B) const {
    for (int i = 0; i < 5; ++i) {
      T qdd = lin.qdd0[i];
      for (int j = 0; j < 3; ++j) qdd += lin.G(i, j) * u[j];
      xdot[i] = x[5 + i];
      xdot[5 + i] = qdd;
    }
    if (A) {
      StateMatrix& a = *A;
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 10; ++j) a(i, j) = j == 5 + i ? T(1) : T(0);
      for (int i = 0; i < 5; ++i) {
        a(5 + i, kPx) = a(5 + i, kPy) = T(0);
        for (int c = 0; c < 3; ++c) {
          T v = lin.C0(i, c);
          for (int j = 0; j < 3; ++j) v += lin.D[c](i, j) * u[j];
          a(5 + i, kYaw + c) = v;
        }
        for (int j = 0; j < 5; ++j) a(5 + i, 5 + j) = lin.dqdd_dqd(i, j);
      }
    }
    if (B) {
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 3; ++j) {
          (*B)(i, j) = T(0);
          (*B)(5 + i, j) = lin.G(i, j);
        }
    }
  }

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
    Mat<T, 5, 5> M;
    Vec<T, 5> h;
    Mat<T, 3, 5> J;
    ballbot_generated::dynamics_terms(params, &x[0], &x[5], M, h, J);
    Mat<T, 5, 5> L;
    if (!cholesky(M, L)) return false;
    Mat<T, 5, 4> rhs;  // [−h, Jᵀ] solved together
    for (int i = 0; i < 5; ++i) {
      rhs(i, 0) = -h[i];
      for (int j = 0; j < 3; ++j) rhs(i, 1 + j) = J(j, i);
    }
    const Mat<T, 5, 4> sol = cholesky_solve(L, rhs);
    for (int i = 0; i < 5; ++i) {
      drift[i] = x[5 + i];
      drift[5 + i] = sol(i, 0);
      for (int j = 0; j < 3; ++j) {
        input_map(i, j) = T(0);
        input_map(5 + i, j) = sol(i, 1 + j);
      }
    }
    for (int i = 0; i < 5; ++i)
      if (!is_finite(drift[5 + i])) return false;
    return true;
  }

  // ẋ with A = ∂ẋ/∂x and B = ∂ẋ/∂u.
  DMPC_HD bool flow_jacobians(const State& x, const Input& u, State& xdot, StateMatrix& A,
                              InputMatrix& B) const {
    Linearization lin;
    if (!linearize(x, lin)) return false;
    jacobians(lin, x, u, xdot, &A, &B);
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

  // Balancing tilt, the ball rolling with (vx, vy); no tilt rates.
  DMPC_HD State moving_state(T px, T py, T vx, T vy) const {
    State x = rest_state(px, py);
    x[kConfigDim + kPx] = vx;
    x[kConfigDim + kPy] = vy;
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
