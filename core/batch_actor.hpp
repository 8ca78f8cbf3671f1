// B independent MPC problems solved on the CPU thread pool: the actor of every environment.
//
// Problem i is solved from its state x[i], time left tau[i] and goal goal[i] over
//   N_i = min(N, ⌊τ_i / h⌋) knots (at least 1): the horizon shrinks at the end of the episode,
// where the terminal cost becomes the task's q_f (core/actor_costs.hpp). Each problem keeps its
// trajectory, gains and Levenberg–Marquardt μ between calls: shift() moves the warm start on by
// one control period. Problems never share data, so results do not depend on the thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/actor_config.hpp"
#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "core/thread_pool.hpp"

namespace dmpc {

// The iLQR settings an actor configuration asks for, in scalar type T (the CPU and GPU actors').
template <typename T>
IlqrSettings<T> make_ilqr_settings(const ActorSettings& settings, double input_limit) {
  IlqrSettings<T> s;
  s.max_iterations = settings.solver.max_iterations;
  s.integrator = settings.solver.integrator;
  s.input_limit = T(input_limit);
  s.mu_init = T(settings.solver.mu_init);
  s.mu_min = T(settings.solver.mu_min);
  s.mu_max = T(settings.solver.mu_max);
  s.mu_increase = T(settings.solver.mu_increase);
  s.mu_decrease = T(settings.solver.mu_decrease);
  s.alpha_min = T(settings.solver.alpha_min);
  s.alpha_decrease = T(settings.solver.alpha_decrease);
  s.armijo = T(settings.solver.armijo);
  s.tolerance = T(settings.solver.tolerance);
  return s;
}

template <typename System, typename Value = MlpValue<typename System::Scalar>>
class BatchActor {
 public:
  using T = typename System::Scalar;
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  using Params = ActorCostParams<T, NX, NU>;

  BatchActor(const System& sys, const ActorSettings& settings, const Params& params,
             double input_limit, size_t batch, ThreadPool& pool)
      : sys_(sys), params_(params), pool_(pool), knots_(settings.knots()),
        knot_dt_(T(settings.knot_dt)), solver_(make_ilqr_settings<T>(settings, input_limit)),
        knots_storage_(batch * static_cast<size_t>(knots_ + 1)), mu_(batch), results_(batch) {
    for (size_t i = 0; i < batch; ++i) reset(i);
  }

  size_t size() const { return mu_.size(); }
  int knots() const { return knots_; }
  const IlqrSettings<T>& solver_settings() const { return solver_; }

  // The value function the value-based costs use (e.g. the target network's flat buffer).
  void set_value(const Value& value) { value_ = value; }

  // Zero initial guess and fresh regularization for problem i (a new episode).
  void reset(size_t i) {
    for (int k = 0; k <= knots_; ++k) {
      IlqrKnot<System>& kn = knot(i, k);
      kn.u = System::Input::zero();
      kn.K = Mat<T, NU, NX>::zero();
    }
    mu_[i] = solver_.mu_init;
  }

  // Solves every problem (or those with active[i] != 0 when a mask is given). x[B], tau[B],
  // goal[B][2]; writes the first inputs to u0[B][nu].
  void solve(const typename System::State* x, const T* tau, const T* goal, T* u0,
             const uint8_t* active = nullptr) {
    pool_.parallel_for(size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i)
        if (!active || active[i])
          solve_one(i, x[i], tau[i], goal[2 * i], goal[2 * i + 1], u0 + i * NU);
    });
  }

  // Replaces the cost parameters (e.g. to leave the warm-up's quadratic cost).
  void set_params(const Params& params) { params_ = params; }

  // Moves every warm start on by `periods` knots (the control period over h, rounded).
  void shift(int periods) {
    pool_.parallel_for(size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i)
        for (int p = 0; p < periods; ++p) ilqr_shift(&knot(i, 0), knots_);
    });
  }

  const IlqrResult<T>& result(size_t i) const { return results_[i]; }
  const IlqrKnot<System>& knot(size_t i, int k) const {
    return knots_storage_[i * static_cast<size_t>(knots_ + 1) + static_cast<size_t>(k)];
  }
  int horizon_knots(T tau) const { return actor_horizon_knots(tau, knot_dt_, knots_); }

 private:
  IlqrKnot<System>& knot(size_t i, int k) {
    return knots_storage_[i * static_cast<size_t>(knots_ + 1) + static_cast<size_t>(k)];
  }

  void solve_one(size_t i, const typename System::State& x, T tau, T gx, T gy, T* u0) {
    const int n = horizon_knots(tau);
    const ActorCost<System, Value> cost(sys_, &params_, value_, tau, gx, gy, n);
    results_[i] = ilqr_solve(sys_, cost, solver_, x, knot_dt_, &knot(i, 0), n, mu_[i]);
    for (int j = 0; j < NU; ++j) u0[j] = knot(i, 0).u[j];
  }

  System sys_;
  Params params_;
  ThreadPool& pool_;
  int knots_;
  T knot_dt_;
  IlqrSettings<T> solver_;
  Value value_{};
  std::vector<IlqrKnot<System>> knots_storage_;
  std::vector<T> mu_;
  std::vector<IlqrResult<T>> results_;
};

}  // namespace dmpc
