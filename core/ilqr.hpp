// Discrete-time iLQR / SLQ (Gauss–Newton DDP) for one problem, as DMPC_HD code.
//
// Problem over N knots with spacing h, from the measured state x₀:
//
//   minimize   Σ_{k=0}^{N−1} ℓ_k(x_k, u_k) + φ(x_N)
//   subject to x_{k+1} = F_h(x_k, u_k)       (core/discretization.hpp: euler or rk4)
//              |u_k,i| ≤ u_max
//
// The Cost object returns ℓ_k already weighted: the project's convention (core/actor_costs.hpp)
// is ℓ_k = γ^(k·h) · h · (running cost at knot k) and φ = γ^H · (terminal cost), H = N h.
//
// One iteration:
//   1. linearize F_h (A_k, B_k) and quadratize ℓ_k, φ along the nominal (x̄, ū);
//   2. Riccati backward pass with Levenberg–Marquardt regularization μ on Q_uu:
//        Q_x  = ℓ_x + Aᵀ V_x           Q_u  = ℓ_u + Bᵀ V_x
//        Q_xx = ℓ_xx + Aᵀ V_xx A       Q_uu = ℓ_uu + Bᵀ V_xx B + μ I     Q_ux = ℓ_ux + Bᵀ V_xx A
//        k = −Q_uu⁻¹ Q_u,  K = −Q_uu⁻¹ Q_ux
//      Input limits: where ū + k leaves the box, k is clipped to the bound and that input's row
//      of K is zeroed (the clamped input no longer reacts to state deviations). The value update
//      uses the general form, valid for any (k, K):
//        V_x  = Q_x + Kᵀ Q_uu k + Kᵀ Q_u + Q_uxᵀ k
//        V_xx = Q_xx + Kᵀ Q_uu K + Kᵀ Q_ux + Q_uxᵀ K          (symmetrized)
//      A Q_uu that is not positive definite multiplies μ by mu_increase and restarts the pass;
//   3. forward pass u = ū + α k + K (x − x̄) (clamped), x⁺ = F_h(x, u), for α = 1, ½, … ≥ α_min,
//      accepting the first α with the Armijo condition J(α) ≤ J − c·(−ΔJ(α)),
//      ΔJ(α) = α Σ kᵀQ_u + ½ α² Σ kᵀ Q_uu k;
//   4. on acceptance μ ← max(μ / mu_decrease, μ_min); when no α is accepted the nominal is kept
//      and μ ← μ · mu_increase. Converged when the accepted decrease is below
//      tolerance · (1 + |J|) or the expected decrease is (the nominal is stationary).
//
// μ lives in the caller's per-problem state, so a problem keeps its regularization across control
// steps. Nothing here allocates: the caller owns N + 1 IlqrKnot records per problem.
//
// ilqr_solve is made of phases that can also run separately (the GPU's knot-parallel layout runs
// them as kernels, cuda/actor_solve.cu): ilqr_begin (rollout, J), then per iteration
// ilqr_approximate_knot for every knot (independent of each other) plus φ's quadratization, and
// ilqr_step (steps 2–4 above); IlqrSolveState carries J, the result and φ's quadratization between.
#pragma once

#include <cstdint>

#include "core/discretization.hpp"
#include "core/hd.hpp"
#include "core/linalg.hpp"

namespace dmpc {

template <typename T>
struct IlqrSettings {
  int32_t max_iterations = 1;           // per solve; 1 is the real-time iteration
  KnotIntegrator integrator = KnotIntegrator::kEuler;
  T input_limit = T(1e30);              // |u_i| ≤ input_limit
  T mu_init = T(1e-4);                  // initial Levenberg–Marquardt regularization of Q_uu
  T mu_min = T(1e-8);                   // floor after successful steps (0 allows none)
  T mu_max = T(1e10);                   // beyond this the solve gives up
  T mu_increase = T(10);                // factor on a failed backward pass or line search
  T mu_decrease = T(3);                 // divisor after an accepted step
  T alpha_min = T(3e-3);                // smallest line-search step
  T alpha_decrease = T(0.5);            // step factor between line-search trials
  T armijo = T(1e-4);                   // fraction of the expected decrease required
  T tolerance = T(1e-6);                // relative cost decrease that counts as converged
};

// Per-knot data: the nominal, its linearization and quadratization, the gains, the trial.
template <typename System>
struct IlqrKnot {
  using T = typename System::Scalar;
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  typename System::State x;  // nominal state (knot N holds the terminal state)
  typename System::Input u;  // nominal input (unused at knot N)
  typename System::StateMatrix A;
  typename System::InputMatrix B;
  Vec<T, NX> l_x;
  Vec<T, NU> l_u;
  Mat<T, NX, NX> l_xx;
  Mat<T, NU, NU> l_uu;
  Mat<T, NU, NX> l_ux;
  Mat<T, NU, NX> K;      // feedback gain
  Vec<T, NU> k;          // feed-forward step
  typename System::State x_trial;
  typename System::Input u_trial;
};

// Derivatives of one weighted stage cost ℓ_k (or of φ, with the input parts unused).
// A Cost provides
//   T stage(k, x, u, f, g)                            ℓ_k, given f(x) and g(x)
//   bool uses_dynamics()                               whether ℓ_k reads f and g
//   void stage_derivatives(k, x, u, lin, quadratic)  with lin = System::linearize(x)
//   T terminal(x) and void terminal_derivatives(x, quadratic)
template <typename T, int NX, int NU>
struct CostQuadratic {
  T l;
  Vec<T, NX> l_x;
  Vec<T, NU> l_u;
  Mat<T, NX, NX> l_xx;
  Mat<T, NU, NU> l_uu;
  Mat<T, NU, NX> l_ux;
};

constexpr int kIlqrMaxRecordedIterations = 32;

template <typename T>
struct IlqrResult {
  int32_t iterations = 0;  // iterations run
  int32_t accepted = 0;    // iterations whose step was accepted
  int32_t forward_passes = 0;  // line-search trials, all iterations together
  bool converged = false;
  bool failed = false;     // dynamics could not be evaluated, or μ exceeded mu_max
  T initial_cost = T(0);
  T final_cost = T(0);
  T cost[kIlqrMaxRecordedIterations];  // cost after each recorded iteration
};

namespace ilqr_detail {

template <typename T, int N>
DMPC_HD void symmetrize(Mat<T, N, N>& M) {
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) M(i, j) = M(j, i) = T(0.5) * (M(i, j) + M(j, i));
}

// μ after a failed backward pass or line search: × mu_increase, or from 0 up to μ_min (or 1e-6).
template <typename T>
DMPC_HD T increased_mu(T mu, const IlqrSettings<T>& s) {
  return mu > T(0) ? mu * s.mu_increase : (s.mu_min > T(0) ? s.mu_min : T(1e-6));
}

template <typename T>
DMPC_HD T clamp_input(T v, T limit) {
  return clamp(v, -limit, limit);
}

// One knot step; also returns f(x) and g(x) when the cost uses them (else they are zero and the
// cheaper combined evaluation of f + g u is used).
template <typename System, typename Cost>
DMPC_HD bool step_with_dynamics(const System& sys, const Cost& cost, KnotIntegrator integrator,
                                const typename System::State& x, const typename System::Input& u,
                                typename System::Scalar h, typename System::State& f,
                                typename System::InputMatrix& g, typename System::State& x_next) {
  if (cost.uses_dynamics())
    return sys.drift_and_input_map(x, f, g) &&
           discrete_step_given(sys, integrator, x, u, f, g, h, x_next);
  f = System::State::zero();
  g = System::InputMatrix::zero();
  return discrete_step(sys, integrator, x, u, h, x_next);
}

}  // namespace ilqr_detail

// Rolls the nominal inputs out from x0 (clamping them to the limits) and returns its cost in J.
// When the dynamics fail or leave the system's model domain at some knot (an open-loop guess on
// an unstable system tips the Ballbot over), every knot's state is set to x0 and false is
// returned: linearized about x0, the backward pass yields stabilizing feedback gains, and the
// forward pass with them then produces a feasible trajectory (an "infeasible start").
template <typename System, typename Cost>
DMPC_HD bool ilqr_rollout(const System& sys, const Cost& cost,
                          const IlqrSettings<typename System::Scalar>& s,
                          const typename System::State& x0, typename System::Scalar h,
                          IlqrKnot<System>* knots, int n, typename System::Scalar& J) {
  knots[0].x = x0;
  J = typename System::Scalar(0);
  bool ok = true;
  for (int k = 0; k < n && ok; ++k) {
    for (int i = 0; i < System::kInputDim; ++i)
      knots[k].u[i] = ilqr_detail::clamp_input(knots[k].u[i], s.input_limit);
    typename System::State f;
    typename System::InputMatrix g;
    ok = ilqr_detail::step_with_dynamics(sys, cost, s.integrator, knots[k].x, knots[k].u, h, f, g,
                                         knots[k + 1].x) &&
         sys.in_model_domain(knots[k + 1].x);
    if (ok) J += cost.stage(k, knots[k].x, knots[k].u, f, g);
  }
  if (!ok)
    for (int k = 0; k <= n; ++k) knots[k].x = x0;
  else
    J += cost.terminal(knots[n].x);
  return ok;
}

// Warm start for the next control step: drop the first knot, repeat the last input.
template <typename System>
DMPC_HD void ilqr_shift(IlqrKnot<System>* knots, int n) {
  for (int k = 0; k + 1 < n; ++k) {
    knots[k].u = knots[k + 1].u;
    knots[k].K = knots[k + 1].K;
  }
}

// Riccati backward pass at regularization mu; false when some Q_uu is not positive definite.
// Fills K, k and the expected-decrease coefficients (Σ kᵀQ_u, Σ kᵀQ_uu k).
template <typename System>
DMPC_HD bool ilqr_backward_pass(const IlqrSettings<typename System::Scalar>& s,
                                IlqrKnot<System>* knots, int n,
                                const CostQuadratic<typename System::Scalar, System::kStateDim,
                                                    System::kInputDim>& terminal,
                                typename System::Scalar mu, typename System::Scalar& dJ1,
                                typename System::Scalar& dJ2) {
  using T = typename System::Scalar;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  Vec<T, NX> Vx = terminal.l_x;
  Mat<T, NX, NX> Vxx = terminal.l_xx;
  dJ1 = dJ2 = T(0);
  for (int t = n - 1; t >= 0; --t) {
    IlqrKnot<System>& kn = knots[t];
    // VxxA = V_xx A,  VxxB = V_xx B
    const Mat<T, NX, NX> VxxA = Vxx * kn.A;
    const Mat<T, NX, NU> VxxB = Vxx * kn.B;
    Vec<T, NX> Qx = kn.l_x;
    Vec<T, NU> Qu = kn.l_u;
    Mat<T, NX, NX> Qxx = kn.l_xx;
    Mat<T, NU, NU> Quu = kn.l_uu;
    Mat<T, NU, NX> Qux = kn.l_ux;
    for (int i = 0; i < NX; ++i) {
      T sx = T(0);
      for (int r = 0; r < NX; ++r) sx += kn.A(r, i) * Vx[r];
      Qx[i] += sx;
      for (int j = i; j < NX; ++j) {
        T sxx = T(0);
        for (int r = 0; r < NX; ++r) sxx += kn.A(r, i) * VxxA(r, j);
        Qxx(i, j) += sxx;
        if (j != i) Qxx(j, i) = Qxx(i, j);
      }
    }
    for (int a = 0; a < NU; ++a) {
      T su = T(0);
      for (int r = 0; r < NX; ++r) su += kn.B(r, a) * Vx[r];
      Qu[a] += su;
      for (int b = 0; b < NU; ++b) {
        T suu = T(0);
        for (int r = 0; r < NX; ++r) suu += kn.B(r, a) * VxxB(r, b);
        Quu(a, b) += suu;
      }
      Quu(a, a) += mu;
      for (int j = 0; j < NX; ++j) {
        T sux = T(0);
        for (int r = 0; r < NX; ++r) sux += kn.B(r, a) * VxxA(r, j);
        Qux(a, j) += sux;
      }
    }
    ilqr_detail::symmetrize(Quu);
    Mat<T, NU, NU> L;
    if (!cholesky(Quu, L)) return false;
    kn.k = T(-1) * cholesky_solve(L, Qu);
    kn.K = T(-1) * cholesky_solve(L, Qux);
    // Input limits: clip the step at the bound, and drop the feedback of a clipped input.
    for (int a = 0; a < NU; ++a) {
      const T target = kn.u[a] + kn.k[a];
      if (target > s.input_limit || target < -s.input_limit) {
        kn.k[a] = ilqr_detail::clamp_input(target, s.input_limit) - kn.u[a];
        for (int j = 0; j < NX; ++j) kn.K(a, j) = T(0);
      }
    }
    // Value update (general form, any k and K).
    const Vec<T, NU> Quu_k = Quu * kn.k;
    const Mat<T, NU, NX> Quu_K = Quu * kn.K;
    dJ1 += dot(kn.k, Qu);
    dJ2 += dot(kn.k, Quu_k);
    for (int i = 0; i < NX; ++i) {
      T v = Qx[i];
      for (int a = 0; a < NU; ++a)
        v += kn.K(a, i) * Quu_k[a] + kn.K(a, i) * Qu[a] + Qux(a, i) * kn.k[a];
      Vx[i] = v;
      for (int j = i; j < NX; ++j) {
        T m = Qxx(i, j);
        for (int a = 0; a < NU; ++a)
          m += kn.K(a, i) * Quu_K(a, j) + kn.K(a, i) * Qux(a, j) + Qux(a, i) * kn.K(a, j);
        Vxx(i, j) = m;
      }
    }
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < i; ++j) Vxx(i, j) = Vxx(j, i);
  }
  return true;
}

// Forward pass at step alpha into (x_trial, u_trial), with its cost in J; false if the dynamics
// fail or leave the model domain.
template <typename System, typename Cost>
DMPC_HD bool ilqr_forward_pass(const System& sys, const Cost& cost,
                               const IlqrSettings<typename System::Scalar>& s,
                               typename System::Scalar h, typename System::Scalar alpha,
                               IlqrKnot<System>* knots, int n, typename System::Scalar& J) {
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  knots[0].x_trial = knots[0].x;
  J = typename System::Scalar(0);
  for (int t = 0; t < n; ++t) {
    IlqrKnot<System>& kn = knots[t];
    for (int a = 0; a < NU; ++a) {
      typename System::Scalar v = kn.u[a] + alpha * kn.k[a];
      for (int j = 0; j < NX; ++j) v += kn.K(a, j) * (kn.x_trial[j] - kn.x[j]);
      kn.u_trial[a] = ilqr_detail::clamp_input(v, s.input_limit);
    }
    typename System::State f;
    typename System::InputMatrix g;
    if (!ilqr_detail::step_with_dynamics(sys, cost, s.integrator, kn.x_trial, kn.u_trial, h, f, g,
                                         knots[t + 1].x_trial) ||
        !sys.in_model_domain(knots[t + 1].x_trial))
      return false;
    J += cost.stage(t, kn.x_trial, kn.u_trial, f, g);
  }
  J += cost.terminal(knots[n].x_trial);
  return true;
}

// Linearizes the dynamics and quadratizes the stage cost at knot t (< n) of the nominal.
template <typename System, typename Cost>
DMPC_HD bool ilqr_approximate_knot(const System& sys, const Cost& cost,
                                   const IlqrSettings<typename System::Scalar>& s,
                                   typename System::Scalar h, IlqrKnot<System>* knots, int t) {
  IlqrKnot<System>& kn = knots[t];
  typename System::State x_next;
  typename System::Linearization lin;  // shared by the dynamics and the cost at this knot
  if (!sys.linearize(kn.x, lin) ||
      !discrete_linearization(sys, s.integrator, lin, kn.x, kn.u, h, x_next, kn.A, kn.B))
    return false;
  CostQuadratic<typename System::Scalar, System::kStateDim, System::kInputDim> q;
  cost.stage_derivatives(t, kn.x, kn.u, lin, q);
  kn.l_x = q.l_x;
  kn.l_u = q.l_u;
  kn.l_xx = q.l_xx;
  kn.l_uu = q.l_uu;
  kn.l_ux = q.l_ux;
  return true;
}

// Linearizes the dynamics and quadratizes the cost along the nominal. The knots are independent
// of one another: the GPU's knot-parallel layout runs ilqr_approximate_knot one thread per knot.
template <typename System, typename Cost>
DMPC_HD bool ilqr_approximate(const System& sys, const Cost& cost,
                              const IlqrSettings<typename System::Scalar>& s,
                              typename System::Scalar h, IlqrKnot<System>* knots, int n,
                              CostQuadratic<typename System::Scalar, System::kStateDim,
                                            System::kInputDim>& terminal) {
  for (int t = 0; t < n; ++t)
    if (!ilqr_approximate_knot(sys, cost, s, h, knots, t)) return false;
  cost.terminal_derivatives(knots[n].x, terminal);
  return true;
}

// What a solve carries from one phase to the next: kept in registers by ilqr_solve, in device
// memory between the kernels of the GPU's knot-parallel layout.
template <typename T, int NX, int NU>
struct IlqrSolveState {
  IlqrResult<T> result;
  CostQuadratic<T, NX, NU> terminal;  // φ's quadratization along the current nominal
  T J = T(0);                         // cost of the current nominal
  bool feasible = false;              // whether the nominal's rollout stayed in the model's domain
  bool done = false;                  // converged or failed: no further iterations
};

// Phase 1: rolls the nominal inputs out from x0 and prices them.
template <typename System, typename Cost>
DMPC_HD void ilqr_begin(const System& sys, const Cost& cost,
                        const IlqrSettings<typename System::Scalar>& s,
                        const typename System::State& x0, typename System::Scalar h,
                        IlqrKnot<System>* knots, int n,
                        IlqrSolveState<typename System::Scalar, System::kStateDim, System::kInputDim>& st) {
  using T = typename System::Scalar;
  // An infeasible nominal (see ilqr_rollout) costs "infinity": any finite trial improves on it.
  constexpr T kInfeasible = T(1e30);
  st = IlqrSolveState<T, System::kStateDim, System::kInputDim>{};
  T J = T(0);
  st.feasible = ilqr_rollout(sys, cost, s, x0, h, knots, n, J);
  st.J = st.feasible ? J : kInfeasible;
  st.result.initial_cost = st.result.final_cost = st.J;
}

// Phase 2 of iteration `it`, after the approximation (approximated: whether it succeeded;
// st.terminal holds φ's quadratization): the backward pass with μ raised until Q_uu is positive
// definite, the line search, and the acceptance of the step. Sets st.done when the solve is over.
template <typename System, typename Cost>
DMPC_HD void ilqr_step(const System& sys, const Cost& cost,
                       const IlqrSettings<typename System::Scalar>& s, typename System::Scalar h,
                       IlqrKnot<System>* knots, int n, int it, bool approximated,
                       typename System::Scalar& mu,
                       IlqrSolveState<typename System::Scalar, System::kStateDim, System::kInputDim>& st) {
  using T = typename System::Scalar;
  IlqrResult<T>& result = st.result;
  T& J = st.J;
  result.iterations = it + 1;
  if (!approximated) {
    result.failed = st.done = true;
    return;
  }
  T dJ1 = T(0), dJ2 = T(0);
  bool backward_ok = false;
  while (mu <= s.mu_max) {
    if (ilqr_backward_pass(s, knots, n, st.terminal, mu, dJ1, dJ2)) {
      backward_ok = true;
      break;
    }
    mu = ilqr_detail::increased_mu(mu, s);
  }
  if (!backward_ok) {
    result.failed = st.done = true;
    return;
  }
  // The nominal is stationary: nothing left to gain from this model.
  if (st.feasible && -dJ1 <= s.tolerance * (T(1) + fabs(J))) {
    result.converged = st.done = true;
    if (it < kIlqrMaxRecordedIterations) result.cost[it] = J;
    return;
  }
  bool accepted = false;
  T J_new = J;
  for (T alpha = T(1); alpha >= s.alpha_min; alpha *= s.alpha_decrease) {
    ++result.forward_passes;
    if (!ilqr_forward_pass(sys, cost, s, h, alpha, knots, n, J_new)) continue;
    const T expected = -(alpha * dJ1 + T(0.5) * alpha * alpha * dJ2);
    if (is_finite(J_new) && J - J_new >= s.armijo * expected) {
      accepted = true;
      break;
    }
  }
  if (accepted) {
    for (int t = 0; t <= n; ++t) {
      knots[t].x = knots[t].x_trial;
      if (t < n) knots[t].u = knots[t].u_trial;
    }
    const T decrease = J - J_new;
    J = J_new;
    result.accepted += 1;
    mu = mu / s.mu_decrease;
    if (mu < s.mu_min) mu = s.mu_min;
    if (st.feasible && decrease <= s.tolerance * (T(1) + fabs(J))) result.converged = true;
    st.feasible = true;
  } else {
    mu = ilqr_detail::increased_mu(mu, s);
  }
  if (it < kIlqrMaxRecordedIterations) result.cost[it] = J;
  if (result.converged) st.done = true;
}

// Runs up to s.max_iterations iterations from the nominal inputs already in knots[0..n−1].u
// (a warm start or a guess). On return knots hold the best trajectory found, its gains, and
// knots[0].u is the input to apply at x0.
template <typename System, typename Cost>
DMPC_HD IlqrResult<typename System::Scalar> ilqr_solve(
    const System& sys, const Cost& cost, const IlqrSettings<typename System::Scalar>& s,
    const typename System::State& x0, typename System::Scalar h, IlqrKnot<System>* knots, int n,
    typename System::Scalar& mu) {
  IlqrSolveState<typename System::Scalar, System::kStateDim, System::kInputDim> st;
  ilqr_begin(sys, cost, s, x0, h, knots, n, st);
  for (int it = 0; it < s.max_iterations && !st.done; ++it) {
    const bool approximated = ilqr_approximate(sys, cost, s, h, knots, n, st.terminal);
    ilqr_step(sys, cost, s, h, knots, n, it, approximated, mu, st);
  }
  st.result.final_cost = st.J;
  return st.result;
}

}  // namespace dmpc
