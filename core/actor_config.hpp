// The [actor] section of a configuration: the MPC actor's horizon, cost and solver settings.
// configs/default.toml documents every key; the defaults below are the same numbers.
#pragma once

#include <string>
#include <vector>

#include "core/actor_costs.hpp"
#include "core/config_reader.hpp"
#include "core/ilqr.hpp"

namespace dmpc {

struct ActorSettings {
  ActorCostMode mode = ActorCostMode::kRunningTerminal;
  double horizon = 1.0;   // H [s]
  double knot_dt = 0.02;  // h [s]
  double discount = 1.0;  // γ per second
  bool discount_consistent = true;
  ValueHessian hessian = ValueHessian::kGaussNewton;
  double ridge = 1e-3;
  double terminal_smoothing = 0.05;
  bool task_running_cost = true;   // terminal mode: the task's running cost along the horizon (POLO)
  bool final_task_running = false; // running+terminal: the task's running cost once H reaches T
  // Ballbot "stay upright" weights: pitch, roll, pitch rate, roll rate, yaw rate (actor only)
  std::vector<double> upright = {1.0, 1.0, 0.1, 0.1, 0.1};
  // Ballbot tilt barrier: ½ w max(0, |pitch or roll − balance| − free)² (0 = off)
  double tilt_barrier_weight = 5000.0;
  double tilt_free_angle = 0.35;
  // quadratic mode: Q and Q_f per state, about the goal's rest state
  std::vector<double> ballbot_q = {100, 100, 400, 0, 0, 40, 40, 40, 20, 20};
  std::vector<double> ballbot_qf = {100, 100, 400, 0, 0, 40, 40, 40, 20, 20};
  std::vector<double> point_mass_q = {10, 10, 1, 1};
  std::vector<double> point_mass_qf = {10, 10, 1, 1};
  IlqrSettings<double> solver;  // iterations, integrator, regularization, line search
  // GPU backend only (cuda/actor_solve.hpp): how the batched solves map onto threads
  std::string gpu_layout = "thread_per_problem";  // or "knot_parallel"
  int gpu_threads_per_block = 64;
  int knots() const { return static_cast<int>(std::lround(horizon / knot_dt)); }
};

// Reads [actor]; the caller calls reader.finish() once every section is read.
ActorSettings read_actor_settings(ConfigReader& reader);

const char* actor_cost_mode_name(ActorCostMode mode);
// "quadratic", "terminal", "running+terminal" or its alias "dmpc" (callers validate the name).
ActorCostMode actor_cost_mode_from_name(const std::string& name);

// The cost parameters for a system: R from the environment's input weights (the same R as in
// Σ = λ R⁻¹), input limit from the task.
template <typename System>
ActorCostParams<typename System::Scalar, System::kStateDim, System::kInputDim> make_cost_params(
    const System& sys, const ActorSettings& a, const std::vector<double>& input_weight,
    CostKind task_cost, double binary_goal_radius);

}  // namespace dmpc
