// The actor's costs, as Cost objects for core/ilqr.hpp (DMPC_HD, one instance per problem).
//
// Convention (every mode): with knot spacing h, N knots, horizon H = N h and discount γ per second,
//
//   J = Σ_{k=0}^{N−1} γ^(k h) · h · [ r(τ_k, x_k) + ½ u_kᵀ R u_k + l_stab(x_k) ]  +  γ^H · φ(x_N)
//
// where τ_k = τ₀ − k h is the time left at knot k, R is diagonal and l_stab is an optional
// diagonal quadratic ("stay upright": pitch, roll, their rates, the yaw rate) of the actor only.
//
// Modes:
//   quadratic         r = ½ (x − x_ref)ᵀ Q (x − x_ref),  φ = ½ (x − x_ref)ᵀ Q_f (x − x_ref)
//   terminal          r = q(x),  φ = V̂(τ₀ − H, x, g)   (the paper's "vanilla" baseline, as POLO:
//                     q is the task's own running cost, dense √(‖p − g‖² + ε²) — the smoothed
//                     distance, so that value and derivatives agree — or binary (flat, no
//                     derivatives); with task_running_cost = false, r = 0 and only φ counts)
//   running+terminal  r = Eq. 14 of the paper,  φ = V̂(τ₀ − H, x, g)   (DMPC); with
//                     final_task_running, once the horizon reaches the episode's end (φ = q_f,
//                     below) r = q(x) as in terminal mode: the remainder of the episode is then
//                     posed exactly and V̂ drops out (beyond the paper; off by default)
//
// Eq. 14 with ∂_t = −∂_τ, p = ∂_x V̂, Ξ = g R⁻¹ gᵀ:
//
//   r(τ, x) = ∂_τ V̂ − f(x)ᵀ p + ½ pᵀ Ξ(x) p  [ − ln(γ) · V̂ ]
//
// The bracket is the discount-consistent form (default): it makes r = q exactly when V̂ is the
// optimal value of the discounted problem; the literal form leaves it out.
//
// Gradient (exact). With w = R⁻¹ gᵀ p, A₀ = ∂F(x, 0)/∂x and A_w = ∂F(x, w)/∂x, so that
// A_w − A₀ = ∂(g w)/∂x at fixed w:
//
//   r_x = ∂_x∂_τ V̂ + (A_w − 2 A₀)ᵀ p + ∂²_x V̂ (g w − f)  [ − ln(γ) p ]
//
// Hessian (an approximation, since the exact one needs third derivatives of V̂ and second
// derivatives of f and g; `hessian` selects):
//   gauss_newton  r_xx ≈ ∂²_x V̂ Ξ ∂²_x V̂                       (PSD by construction; default)
//   second_order  r_xx ≈ P(−A₀ᵀ∂²_xV̂ − ∂²_xV̂ A₀ + ∂²_xV̂ Ξ ∂²_xV̂ [− ln γ ∂²_xV̂])
//                 which is exact for linear dynamics with a quadratic V̂ (Proposition 1),
//                 with P the projection onto the PSD cone;
// both plus `ridge`·I, and r_ux = 0. The heuristic's Hessian is P(∂²_x V̂).
//
// When τ₀ − H ≤ 0 (the horizon was shrunk to the end of the episode) φ is the task's terminal
// cost q_f instead: dense ‖p − g‖ (its derivatives taken on the smoothed √(‖p − g‖² + ε²)) or
// binary (flat: no derivatives).
#pragma once

#include <cstdint>

#include "core/hd.hpp"
#include "core/ilqr.hpp"
#include "core/linalg.hpp"
#include "core/value_mlp.hpp"
#include "envs/task/task.hpp"

namespace dmpc {

enum class ActorCostMode : int32_t { kQuadratic = 0, kTerminal = 1, kRunningTerminal = 2 };
enum class ValueHessian : int32_t { kGaussNewton = 0, kSecondOrder = 1 };

// A one-sided quadratic wall on |x_i − ref_i| beyond `free` for the listed states:
//   ½ w Σ_i max(0, |x_i − ref_i| − free)²
// (the tilt barrier: tilts up to `free` cost nothing, approaching a fall costs steeply).
template <typename T, int NX>
struct DeadZoneQuadratic {
  int32_t index[2] = {-1, -1};  // states it applies to (−1: unused)
  T ref[2] = {};
  T free = T(0.3);
  T weight = T(0);              // 0 = off

  DMPC_HD T value(const Vec<T, NX>& x) const {
    T s = T(0);
    for (int k = 0; k < 2; ++k) {
      if (index[k] < 0 || weight == T(0)) continue;
      const T e = fabs(x[index[k]] - ref[k]) - free;
      if (e > T(0)) s += T(0.5) * weight * e * e;
    }
    return s;
  }
  DMPC_HD void accumulate(const Vec<T, NX>& x, T scale, Vec<T, NX>& g, Mat<T, NX, NX>& H) const {
    for (int k = 0; k < 2; ++k) {
      if (index[k] < 0 || weight == T(0)) continue;
      const T d = x[index[k]] - ref[k];
      const T e = fabs(d) - free;
      if (e <= T(0)) continue;
      g[index[k]] += scale * weight * e * (d > T(0) ? T(1) : T(-1));
      H(index[k], index[k]) += scale * weight;
    }
  }
};

// ½ Σ w_i (x_i − ref_i)², diagonal.
template <typename T, int NX>
struct DiagonalQuadratic {
  T weight[NX] = {};
  T ref[NX] = {};

  DMPC_HD T value(const Vec<T, NX>& x) const {
    T s = T(0);
    for (int i = 0; i < NX; ++i) {
      const T d = x[i] - ref[i];
      s += T(0.5) * weight[i] * d * d;
    }
    return s;
  }
  // Adds scale·(gradient, Hessian) into (g, H).
  DMPC_HD void accumulate(const Vec<T, NX>& x, T scale, Vec<T, NX>& g, Mat<T, NX, NX>& H) const {
    for (int i = 0; i < NX; ++i) {
      g[i] += scale * weight[i] * (x[i] - ref[i]);
      H(i, i) += scale * weight[i];
    }
  }
};

// Everything a problem's cost needs besides the state: shared parameters (weights, network) and
// the per-environment context (time left, goal). Plain data, copyable to a GPU.
template <typename T, int NX, int NU>
struct ActorCostParams {
  ActorCostMode mode = ActorCostMode::kQuadratic;
  ValueHessian hessian = ValueHessian::kGaussNewton;
  bool discount_consistent = true;   // add −ln(γ)·V̂ to Eq. 14
  T knot_dt = T(0.02);               // h
  T log_discount = T(0);             // ln γ (0 for γ = 1)
  T input_weight[NU] = {};           // diagonal of R
  DiagonalQuadratic<T, NX> tracking;       // Q (quadratic mode); ref = the goal's rest state
  DiagonalQuadratic<T, NX> tracking_final; // Q_f (quadratic mode); ref = the goal's rest state
  DiagonalQuadratic<T, NX> upright;        // l_stab with its own ref (all weights 0 = off)
  DeadZoneQuadratic<T, NX> tilt_barrier;   // part of l_stab: steep beyond a free tilt (off: 0)
  T ridge = T(0);                    // added to r_xx (value modes)
  // task terminal cost used when the horizon reaches the end of the episode
  CostKind task_cost = CostKind::kDense;
  T binary_goal_radius = T(0.15);
  T terminal_smoothing = T(0.05);    // ε of the smoothed distance [m]
  bool task_running_cost = true;     // terminal mode: r = the task's running cost (else r = 0)
  bool final_task_running = false;   // running+terminal: r = the task's running cost once the
                                     // horizon reaches the episode's end (else Eq. 14 throughout)
};

// Value functions the costs can use. Inputs z = [τ, x (nx), g (2)]; derivatives as
// ValueDerivatives<T, 1 + nx> (gradient over every input, Hessian over (τ, x)), or
// ValueDerivatives<T, 0> (value and gradient only).
//
// The critic's MLP from its flat weight buffer (core/value_mlp.hpp).
template <typename T>
struct MlpValue {
  MlpShape shape{};
  const T* params = nullptr;

  DMPC_HD T value(const T* z) const { return value_mlp<T>(shape, params, z); }
  template <int ND>
  DMPC_HD void derivatives(const T* z, ValueDerivatives<T, ND>& out) const {
    value_mlp_derivatives<T, ND>(shape, params, z, out);
  }
};

// A time-invariant quadratic V(x) = ½ (x − ref)ᵀ P (x − ref): the closed-form optimal value of
// linear–quadratic problems (the Proposition 1 check), independent of τ and g.
template <typename T, int NX>
struct QuadraticValue {
  Mat<T, NX, NX> P;
  T ref[NX] = {};

  DMPC_HD T value(const T* z) const {
    T v = T(0);
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NX; ++j) v += T(0.5) * (z[1 + i] - ref[i]) * P(i, j) * (z[1 + j] - ref[j]);
    return v;
  }
  template <int ND>
  DMPC_HD void derivatives(const T* z, ValueDerivatives<T, ND>& out) const {
    static_assert(ND <= 1 + NX, "Hessian over at most (tau, x)");
    out.value = value(z);
    for (int i = 0; i < NX + 3; ++i) out.grad[i] = T(0);
    if constexpr (ND > 0)  // (ND = 0: value and gradient only, no hess member)
      for (int i = 0; i < ND; ++i)
        for (int j = 0; j < ND; ++j) out.hess[i][j] = (i > 0 && j > 0) ? P(i - 1, j - 1) : T(0);
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NX; ++j) out.grad[1 + i] += P(i, j) * (z[1 + j] - ref[j]);
  }
};

// Knots of the horizon from time left τ: N_τ = min(N, ⌊τ/h⌋), at least 1 (the horizon shrinks at
// the episode's end). τ/h is meant to be a whole number whenever the control period is a multiple
// of h; the margin of a thousandth of a knot keeps float rounding (τ = T − k·δt computed with or
// without a fused multiply-add: 40.99999 or 41.00001) from losing a knot, and is far below the
// smallest real remainder.
template <typename T>
DMPC_HD int actor_horizon_knots(T tau, T knot_dt, int capacity) {
  const int fit = static_cast<int>(floor(tau / knot_dt + T(1e-3)));
  return fit < 1 ? 1 : (fit < capacity ? fit : capacity);
}

template <typename System, typename Value = MlpValue<typename System::Scalar>>
struct ActorCost {
  using T = typename System::Scalar;
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  static constexpr int ND = 1 + NX;  // value inputs differentiated twice: (τ, x)
  using Quadratic = CostQuadratic<T, NX, NU>;

  System sys;
  const ActorCostParams<T, NX, NU>* params;
  Value value_fn;
  T tau0;      // time left at knot 0
  T goal_x, goal_y;
  int32_t knots;  // N
  DiagonalQuadratic<T, NX> tracking, tracking_final;  // the params' weights about the goal

  DMPC_HD ActorCost(const System& system, const ActorCostParams<T, NX, NU>* p, const Value& v,
                    T time_left, T gx, T gy, int32_t n)
      : sys(system), params(p), value_fn(v), tau0(time_left), goal_x(gx), goal_y(gy), knots(n),
        tracking(p->tracking), tracking_final(p->tracking_final) {
    const typename System::State ref = sys.rest_state(gx, gy);
    for (int i = 0; i < NX; ++i) tracking.ref[i] = tracking_final.ref[i] = ref[i];
  }

  DMPC_HD bool uses_dynamics() const { return params->mode == ActorCostMode::kRunningTerminal; }

  DMPC_HD T discount(int k) const {
    return params->log_discount == T(0) ? T(1) : exp(params->log_discount * T(k) * params->knot_dt);
  }
  DMPC_HD T horizon() const { return T(knots) * params->knot_dt; }
  // The horizon reaches the episode's end when under a thousandth of a knot is left after it. The
  // margin is far above rounding (τ₀ and H are sums of float knot lengths: a contracted
  // multiply-add on the GPU leaves 1e-8 where the CPU's separate operations leave 0) and far
  // below a knot, the smallest nonzero remainder the shrinking horizon leaves.
  DMPC_HD bool terminal_is_task_cost() const { return tau0 - horizon() <= T(1e-3) * params->knot_dt; }
  // With final_task_running, a horizon that reaches the episode's end poses the episode's remainder
  // exactly (the task's running cost, its q_f, the model): V̂ has nothing left to approximate.
  DMPC_HD bool final_is_exact() const {
    return params->mode == ActorCostMode::kRunningTerminal && params->final_task_running &&
           terminal_is_task_cost();
  }

  DMPC_HD void value_input(T tau, const typename System::State& x, T* z) const {
    z[0] = tau;
    for (int i = 0; i < NX; ++i) z[1 + i] = x[i];
    z[1 + NX] = goal_x;
    z[2 + NX] = goal_y;
  }

  // r(τ_k, x) of the mode (without control and upright terms), given f(x) and g(x).
  DMPC_HD T running(int k, const typename System::State& x, const typename System::State& f,
                    const typename System::InputMatrix& g) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    if (p.mode == ActorCostMode::kQuadratic) return tracking.value(x);
    if (p.mode == ActorCostMode::kTerminal)
      return p.task_running_cost ? task_running(x, nullptr, nullptr) : T(0);
    if (final_is_exact()) return task_running(x, nullptr, nullptr);
    ValueDerivatives<T, 0> v;  // value and gradient suffice here
    T z[NX + 3];
    value_input(tau0 - T(k) * p.knot_dt, x, z);
    value_fn.template derivatives<0>(z, v);
    T r = v.grad[0];
    for (int i = 0; i < NX; ++i) r -= f[i] * v.grad[1 + i];
    for (int j = 0; j < NU; ++j) {
      T gp = T(0);
      for (int i = 0; i < NX; ++i) gp += g(i, j) * v.grad[1 + i];
      r += T(0.5) * gp * gp / p.input_weight[j];
    }
    if (p.discount_consistent) r -= p.log_discount * v.value;
    return r;
  }

  // ℓ_k given f(x) and g(x) (the optimizer's rollouts compute them for the step anyway).
  DMPC_HD T stage(int k, const typename System::State& x, const typename System::Input& u,
                  const typename System::State& f, const typename System::InputMatrix& g) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    T control = T(0);
    for (int j = 0; j < NU; ++j) control += T(0.5) * p.input_weight[j] * u[j] * u[j];
    return discount(k) * p.knot_dt *
           (running(k, x, f, g) + control + p.upright.value(x) + p.tilt_barrier.value(x));
  }

  DMPC_HD T stage(int k, const typename System::State& x, const typename System::Input& u) const {
    typename System::State f;
    typename System::InputMatrix g;
    if (!sys.drift_and_input_map(x, f, g)) return T(1e30);
    return stage(k, x, u, f, g);
  }

  DMPC_HD void stage_derivatives(int k, const typename System::State& x,
                                 const typename System::Input& u,
                                 const typename System::Linearization& lin, Quadratic& q) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    q.l_x = Vec<T, NX>::zero();
    q.l_xx = Mat<T, NX, NX>::zero();
    q.l_ux = Mat<T, NU, NX>::zero();
    q.l_uu = Mat<T, NU, NU>::zero();
    T r = T(0);
    if (p.mode == ActorCostMode::kQuadratic) {
      r = tracking.value(x);
      tracking.accumulate(x, T(1), q.l_x, q.l_xx);
    } else if (final_is_exact()) {  // running+terminal with the horizon at the episode's end
      r = task_running(x, &q.l_x, &q.l_xx);
    } else if (p.mode == ActorCostMode::kRunningTerminal) {
      r = value_running_derivatives(k, x, lin, q.l_x, q.l_xx);
    } else if (p.mode == ActorCostMode::kTerminal && p.task_running_cost) {
      r = task_running(x, &q.l_x, &q.l_xx);
    }
    r += p.upright.value(x) + p.tilt_barrier.value(x);
    p.upright.accumulate(x, T(1), q.l_x, q.l_xx);
    p.tilt_barrier.accumulate(x, T(1), q.l_x, q.l_xx);
    T control = T(0);
    for (int j = 0; j < NU; ++j) {
      control += T(0.5) * p.input_weight[j] * u[j] * u[j];
      q.l_u[j] = p.input_weight[j] * u[j];
      q.l_uu(j, j) = p.input_weight[j];
    }
    const T w = discount(k) * p.knot_dt;
    q.l = w * (r + control);
    q.l_x = w * q.l_x;
    q.l_u = w * q.l_u;
    q.l_xx = w * q.l_xx;
    q.l_uu = w * q.l_uu;
  }

  DMPC_HD T terminal(const typename System::State& x) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    const T w = discount(knots);
    if (p.mode == ActorCostMode::kQuadratic) return w * tracking_final.value(x);
    if (terminal_is_task_cost()) return w * task_terminal(x, nullptr, nullptr);
    T z[NX + 3];
    value_input(tau0 - horizon(), x, z);
    return w * value_fn.value(z);
  }

  DMPC_HD void terminal_derivatives(const typename System::State& x, Quadratic& q) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    const T w = discount(knots);
    q.l_x = Vec<T, NX>::zero();
    q.l_xx = Mat<T, NX, NX>::zero();
    if (p.mode == ActorCostMode::kQuadratic) {
      q.l = tracking_final.value(x);
      tracking_final.accumulate(x, T(1), q.l_x, q.l_xx);
    } else if (terminal_is_task_cost()) {
      q.l = task_terminal(x, &q.l_x, &q.l_xx);
    } else {
      ValueDerivatives<T, ND> v;
      T z[NX + 3];
      value_input(tau0 - horizon(), x, z);
      value_fn.derivatives(z, v);
      q.l = v.value;
      for (int i = 0; i < NX; ++i) {
        q.l_x[i] = v.grad[1 + i];
        for (int j = 0; j < NX; ++j) q.l_xx(i, j) = v.hess[1 + i][1 + j];
      }
      project_psd(q.l_xx, T(0));
    }
    q.l = w * q.l;
    q.l_x = w * q.l_x;
    q.l_xx = w * q.l_xx;
  }

 private:
  // Eq. 14 and its derivatives at knot k; returns r, accumulates r_x and the r_xx model.
  DMPC_HD T value_running_derivatives(int k, const typename System::State& x,
                                      const typename System::Linearization& lin, Vec<T, NX>& r_x,
                                      Mat<T, NX, NX>& r_xx) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    ValueDerivatives<T, ND> v;
    T z[NX + 3];
    value_input(tau0 - T(k) * p.knot_dt, x, z);
    value_fn.derivatives(z, v);

    // f, A₀ and g = ∂F/∂u from the dynamics at u = 0.
    typename System::State f;
    typename System::StateMatrix A0;
    typename System::InputMatrix g;
    sys.jacobians(lin, x, System::Input::zero(), f, &A0, &g);

    Vec<T, NX> grad;  // p = ∂_x V̂
    Mat<T, NX, NX> H;  // ∂²_x V̂
    for (int i = 0; i < NX; ++i) {
      grad[i] = v.grad[1 + i];
      for (int j = 0; j < NX; ++j) H(i, j) = v.hess[1 + i][1 + j];
    }
    typename System::Input w;  // w = R⁻¹ gᵀ p
    for (int j = 0; j < NU; ++j) {
      T gp = T(0);
      for (int i = 0; i < NX; ++i) gp += g(i, j) * grad[i];
      w[j] = gp / p.input_weight[j];
    }
    const typename System::State gw = g * w;
    typename System::State unused_f;
    typename System::StateMatrix Aw;
    sys.jacobians(lin, x, w, unused_f, &Aw, nullptr);

    const T c = p.discount_consistent ? -p.log_discount : T(0);
    T r = v.grad[0] + c * v.value;
    for (int i = 0; i < NX; ++i) r += grad[i] * (T(0.5) * gw[i] - f[i]);

    // r_x = ∂_x∂_τV̂ + (A_w − 2A₀)ᵀp + H (g w − f) + c p
    for (int i = 0; i < NX; ++i) {
      T s = v.hess[0][1 + i] + c * grad[i];
      for (int j = 0; j < NX; ++j)
        s += (Aw(j, i) - T(2) * A0(j, i)) * grad[j] + H(i, j) * (gw[j] - f[j]);
      r_x[i] += s;
    }

    // Gauss–Newton part H Ξ H = (H g) R⁻¹ (H g)ᵀ.
    Mat<T, NX, NU> Hg = H * g;
    Mat<T, NX, NX> model;
    for (int i = 0; i < NX; ++i)
      for (int j = i; j < NX; ++j) {
        T s = T(0);
        for (int a = 0; a < NU; ++a) s += Hg(i, a) * Hg(j, a) / p.input_weight[a];
        model(i, j) = model(j, i) = s;
      }
    if (p.hessian == ValueHessian::kSecondOrder) {
      const Mat<T, NX, NX> HA = H * A0;
      for (int i = 0; i < NX; ++i)
        for (int j = 0; j < NX; ++j) model(i, j) += c * H(i, j) - HA(i, j) - HA(j, i);
      project_psd(model, T(0));
    }
    for (int i = 0; i < NX; ++i) {
      model(i, i) += p.ridge;
      for (int j = 0; j < NX; ++j) r_xx(i, j) += model(i, j);
    }
    return r;
  }

  // The task's running cost q as the actor models it: dense on the smoothed distance
  // √(‖p − g‖² + ε²) (value and derivatives of the same function), binary as it is (flat).
  // Derivatives are added into (g, H) when they are given.
  DMPC_HD T task_running(const typename System::State& x, Vec<T, NX>* g, Mat<T, NX, NX>* H) const {
    const ActorCostParams<T, NX, NU>& p = *params;
    const T dx = x[0] - goal_x, dy = x[1] - goal_y;
    const T d2 = dx * dx + dy * dy;
    if (p.task_cost == CostKind::kBinary) return sqrt(d2) <= p.binary_goal_radius ? T(0) : T(1);
    const T eps = p.terminal_smoothing;
    const T s = sqrt(d2 + eps * eps);
    if (g && H) {
      (*g)[0] += dx / s;
      (*g)[1] += dy / s;
      (*H)(0, 0) += (T(1) - dx * dx / (s * s)) / s;
      (*H)(1, 1) += (T(1) - dy * dy / (s * s)) / s;
      (*H)(0, 1) += -dx * dy / (s * s * s);
      (*H)(1, 0) += -dx * dy / (s * s * s);
    }
    return s;
  }

  // q_f at the end of the episode: the exact distance (or the binary rule), with the derivatives
  // of the smoothed distance added into (g, H) when they are given.
  DMPC_HD T task_terminal(const typename System::State& x, Vec<T, NX>* g, Mat<T, NX, NX>* H) const {
    if (g && H) task_running(x, g, H);
    const T dist = goal_distance(x[0], x[1], goal_x, goal_y);
    if (params->task_cost == CostKind::kBinary) return dist <= params->binary_goal_radius ? T(0) : T(1);
    return dist;
  }
};

}  // namespace dmpc
