// One environment of the task: the state of an episode and its control step, generic over the
// system (Ballbot or point mass). This is the per-environment body that the CPU batch and the CUDA
// kernel both run.
//
// A control step under input u (clamped to ±input_limit):
//   1. stage cost      c(s)·δt
//   2. SDE             `substeps` Euler–Maruyama substeps of δt/substeps; Brownian increments
//                      dB = √δ · L ξ with L Lᵀ = Σ = λR⁻¹ and ξ ~ N(0, I) from Philox at
//                      (env id, episode, step, substep); without noise (L = 0) the same substeps
//                      run deterministically.
//   3. termination     on s′: collision, fall, or the last step (time-out); the terminal cost
//                      (penalty, or q_f(s′) at time-out) is charged on this step only.
// A step on a finished episode changes nothing and costs nothing.
#pragma once

#include <cstdint>

#include "core/integrators.hpp"
#include "core/linalg.hpp"
#include "core/philox.hpp"
#include "envs/task/task.hpp"

namespace dmpc {

// Lower-triangular factor L of the Brownian covariance rate Σ = λ R⁻¹ (Var[dB] = Σ dt).
template <typename T, int NU>
struct NoiseModel {
  Mat<T, NU, NU> chol_sigma = Mat<T, NU, NU>::zero();
  bool enabled = false;

  template <typename U>
  DMPC_HD NoiseModel<U, NU> cast() const {
    NoiseModel<U, NU> r;
    for (int i = 0; i < NU; ++i)
      for (int j = 0; j < NU; ++j) r.chol_sigma(i, j) = U(chol_sigma(i, j));
    r.enabled = enabled;
    return r;
  }
};

template <typename System>
struct Episode {
  using T = typename System::Scalar;
  typename System::State x;
  T goal_x, goal_y;
  uint32_t env_id;
  uint32_t episode;       // counter for the random streams
  int32_t step;           // control steps taken
  EndReason reason;       // kRunning while the episode goes on
  T total_cost;           // Σ stage costs + terminal cost
  T reach_time;           // first time within success_radius of the goal, −1 if never
};

template <typename T>
struct StepOutcome {
  T stage_cost;     // c(s)·δt
  T terminal_cost;  // penalty or q_f on the ending step, else 0
  EndReason reason; // kRunning unless this step ended the episode
};

template <typename System>
DMPC_HD void begin_episode(const System& sys, Episode<System>& ep, uint32_t env_id,
                           uint32_t episode, typename System::Scalar start_x,
                           typename System::Scalar start_y, typename System::Scalar goal_x,
                           typename System::Scalar goal_y, int32_t start_step = 0,
                           typename System::Scalar start_vx = 0, typename System::Scalar start_vy = 0) {
  ep.x = sys.moving_state(start_x, start_y, start_vx, start_vy);
  ep.goal_x = goal_x;
  ep.goal_y = goal_y;
  ep.env_id = env_id;
  ep.episode = episode;
  ep.step = start_step;
  ep.reason = EndReason::kRunning;
  ep.total_cost = typename System::Scalar(0);
  ep.reach_time = typename System::Scalar(-1);
}

// Brownian increment for one substep of length dt: √dt · L ξ.
template <typename T, int NU>
DMPC_HD Vec<T, NU> brownian_increment(const NoiseModel<T, NU>& noise, uint64_t seed,
                                      uint32_t env_id, uint32_t episode, uint32_t step,
                                      uint32_t substep, T dt) {
  static_assert(NU <= 4, "one Philox block gives four normals");
  T xi[4];
  four_normals<T>(philox4x32_10(philox_counter(env_id, episode, step, substep,
                                               RandomStream::kProcessNoise),
                                philox_key(seed)),
                  xi);
  const T scale = sqrt(dt);
  Vec<T, NU> db;
  for (int i = 0; i < NU; ++i) {
    T s = T(0);
    for (int j = 0; j <= i; ++j) s += noise.chol_sigma(i, j) * xi[j];
    db[i] = scale * s;
  }
  return db;
}

template <typename System>
DMPC_HD StepOutcome<typename System::Scalar> step_episode(
    const System& sys, const TaskParams<typename System::Scalar>& task,
    const NoiseModel<typename System::Scalar, System::kInputDim>& noise, uint64_t seed,
    Episode<System>& ep, const typename System::Input& u_raw) {
  using T = typename System::Scalar;
  constexpr int NU = System::kInputDim;
  StepOutcome<T> out{T(0), T(0), EndReason::kRunning};
  if (ep.reason != EndReason::kRunning) {
    out.reason = ep.reason;
    return out;
  }

  typename System::Input u;
  for (int i = 0; i < NU; ++i) u[i] = clamp(u_raw[i], -task.input_limit, task.input_limit);

  out.stage_cost = running_cost(task, sys.position_x(ep.x), sys.position_y(ep.x), ep.goal_x,
                                ep.goal_y) *
                   task.control_period;

  const T dt = task.control_period / T(task.substeps);
  typename System::State x = ep.x;
  bool integrated = true;
  for (int sub = 0; sub < task.substeps && integrated; ++sub) {
    typename System::Input db = System::Input::zero();
    if (noise.enabled)
      db = brownian_increment(noise, seed, ep.env_id, ep.episode, static_cast<uint32_t>(ep.step),
                              static_cast<uint32_t>(sub), dt);
    typename System::State next;
    integrated = euler_maruyama_step(sys, x, u, db, dt, next);
    x = next;
  }
  for (int i = 0; i < System::kStateDim && integrated; ++i) integrated = is_finite(x[i]);

  ep.step += 1;
  if (!integrated) {
    out.reason = EndReason::kNumericalFailure;
    out.terminal_cost = task.penalty;
  } else {
    ep.x = x;
    const T px = sys.position_x(x), py = sys.position_y(x);
    if (ep.reach_time < T(0) && goal_distance(px, py, ep.goal_x, ep.goal_y) <= task.success_radius)
      ep.reach_time = T(ep.step) * task.control_period;
    out.reason = termination(task, px, py, sys.tilt(x));
    if (out.reason != EndReason::kRunning) {
      out.terminal_cost = task.penalty;
    } else if (ep.step >= task.steps_per_episode) {
      out.reason = EndReason::kTimeout;
      out.terminal_cost = terminal_cost(task, px, py, ep.goal_x, ep.goal_y);
    }
  }
  ep.reason = out.reason;
  ep.total_cost += out.stage_cost + out.terminal_cost;
  return out;
}

// Success: the episode ran to T without termination and ended within success_radius of the goal.
template <typename System>
DMPC_HD bool episode_succeeded(const System& sys, const TaskParams<typename System::Scalar>& task,
                               const Episode<System>& ep) {
  return ep.reason == EndReason::kTimeout &&
         goal_distance(sys.position_x(ep.x), sys.position_y(ep.x), ep.goal_x, ep.goal_y) <=
             task.success_radius;
}

}  // namespace dmpc
