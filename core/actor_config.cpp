#include "core/actor_config.hpp"

#include <cmath>

#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"

namespace dmpc {

const char* actor_cost_mode_name(ActorCostMode mode) {
  switch (mode) {
    case ActorCostMode::kQuadratic: return "quadratic";
    case ActorCostMode::kTerminal: return "terminal";
    case ActorCostMode::kRunningTerminal: return "running+terminal";
  }
  return "unknown";
}

ActorCostMode actor_cost_mode_from_name(const std::string& name) {
  return name == "quadratic"  ? ActorCostMode::kQuadratic
         : name == "terminal" ? ActorCostMode::kTerminal
                              : ActorCostMode::kRunningTerminal;
}

ActorSettings read_actor_settings(ConfigReader& r) {
  ActorSettings a;
  a.mode = actor_cost_mode_from_name(r.choice(
      "actor.cost", "running+terminal", {"quadratic", "terminal", "running+terminal", "dmpc"}));
  a.horizon = r.positive_number("actor.horizon", a.horizon, 100.0);
  a.knot_dt = r.positive_number("actor.knot_dt", a.knot_dt, 10.0);
  const double knots = a.horizon / a.knot_dt;
  if (std::fabs(knots - std::round(knots)) > 1e-9 * knots || std::round(knots) < 1 ||
      std::round(knots) > 10000)
    throw ConfigError(r.source() + ": actor.horizon: " + std::to_string(a.horizon) +
                      " s is not a whole number (1 … 10000) of knots of actor.knot_dt = " +
                      std::to_string(a.knot_dt) + " s");
  a.discount = r.number("actor.discount", a.discount, 1e-6, 1.0);
  a.discount_consistent =
      r.choice("actor.running_cost_form", "consistent", {"consistent", "literal"}) == "consistent";
  a.hessian = r.choice("actor.hessian", "gauss_newton", {"gauss_newton", "second_order"}) ==
                      "second_order"
                  ? ValueHessian::kSecondOrder
                  : ValueHessian::kGaussNewton;
  a.ridge = r.number("actor.ridge", a.ridge, 0.0, 1e6);
  a.terminal_smoothing = r.positive_number("actor.terminal_smoothing", a.terminal_smoothing, 10.0);
  a.task_running_cost = r.boolean("actor.task_running_cost", a.task_running_cost);
  a.final_task_running =
      r.choice("actor.final_running_cost", "value", {"value", "task"}) == "task";
  a.upright = r.numbers("actor.upright_weights", a.upright, 5, 0.0, 1e9);
  a.tilt_barrier_weight = r.number("actor.tilt_barrier_weight", a.tilt_barrier_weight, 0.0, 1e9);
  a.tilt_free_angle = r.number("actor.tilt_free_angle", a.tilt_free_angle, 0.0, 1.5);
  a.ballbot_q = r.numbers("actor.ballbot.q", a.ballbot_q, 10, 0.0, 1e9);
  a.ballbot_qf = r.numbers("actor.ballbot.qf", a.ballbot_qf, 10, 0.0, 1e9);
  a.point_mass_q = r.numbers("actor.point_mass.q", a.point_mass_q, 4, 0.0, 1e9);
  a.point_mass_qf = r.numbers("actor.point_mass.qf", a.point_mass_qf, 4, 0.0, 1e9);

  a.gpu_layout = r.choice("actor.gpu_layout", a.gpu_layout, {"thread_per_problem", "knot_parallel"});
  a.gpu_threads_per_block = static_cast<int>(r.integer("actor.gpu_threads_per_block", a.gpu_threads_per_block, 32, 1024));
  if (a.gpu_threads_per_block % 32 != 0)
    throw ConfigError(r.source() + ": actor.gpu_threads_per_block: " + std::to_string(a.gpu_threads_per_block) +
                      " is not a multiple of 32 (a warp)");

  IlqrSettings<double>& s = a.solver;
  s.max_iterations = static_cast<int32_t>(r.integer("actor.iterations", 1, 1, 1000));
  s.integrator = r.choice("actor.integrator", "euler", {"euler", "rk4"}) == "rk4"
                     ? KnotIntegrator::kRk4
                     : KnotIntegrator::kEuler;
  s.mu_init = r.number("actor.solver.mu_init", s.mu_init, 0.0, 1e12);
  s.mu_min = r.number("actor.solver.mu_min", s.mu_min, 0.0, 1e12);
  s.mu_max = r.positive_number("actor.solver.mu_max", s.mu_max, 1e30);
  s.mu_increase = r.number("actor.solver.mu_increase", s.mu_increase, 1.000001, 1e6);
  s.mu_decrease = r.number("actor.solver.mu_decrease", s.mu_decrease, 1.0, 1e6);
  s.alpha_min = r.positive_number("actor.solver.alpha_min", s.alpha_min, 1.0);
  s.alpha_decrease = r.number("actor.solver.alpha_decrease", s.alpha_decrease, 0.01, 0.99);
  s.armijo = r.number("actor.solver.armijo", s.armijo, 0.0, 0.5);
  s.tolerance = r.number("actor.solver.tolerance", s.tolerance, 0.0, 1.0);
  return a;
}

template <typename System>
ActorCostParams<typename System::Scalar, System::kStateDim, System::kInputDim> make_cost_params(
    const System& sys, const ActorSettings& a, const std::vector<double>& input_weight,
    CostKind task_cost, double binary_goal_radius) {
  using T = typename System::Scalar;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  ActorCostParams<T, NX, NU> p;
  p.mode = a.mode;
  p.hessian = a.hessian;
  p.discount_consistent = a.discount_consistent;
  p.knot_dt = T(a.knot_dt);
  p.log_discount = T(std::log(a.discount));
  for (int j = 0; j < NU; ++j) p.input_weight[j] = T(input_weight.at(j));
  const bool ballbot = NX == Ballbot<T>::kStateDim;
  const std::vector<double>& q = ballbot ? a.ballbot_q : a.point_mass_q;
  const std::vector<double>& qf = ballbot ? a.ballbot_qf : a.point_mass_qf;
  const typename System::State rest = sys.rest_state(T(0), T(0));
  for (int i = 0; i < NX; ++i) {
    p.tracking.weight[i] = T(q.at(i));
    p.tracking_final.weight[i] = T(qf.at(i));
    p.tracking.ref[i] = p.tracking_final.ref[i] = T(0);  // replaced by the goal's rest state
    p.upright.weight[i] = T(0);
    p.upright.ref[i] = rest[i];
  }
  if (ballbot) {  // pitch, roll, pitch rate, roll rate, yaw rate
    const int index[5] = {3, 4, 8, 9, 7};
    for (int i = 0; i < 5; ++i) p.upright.weight[index[i]] = T(a.upright[i]);
    p.tilt_barrier.index[0] = 3;  // pitch
    p.tilt_barrier.index[1] = 4;  // roll
    p.tilt_barrier.ref[0] = rest[3];
    p.tilt_barrier.ref[1] = rest[4];
    p.tilt_barrier.free = T(a.tilt_free_angle);
    p.tilt_barrier.weight = T(a.tilt_barrier_weight);
  }
  p.ridge = T(a.ridge);
  p.task_cost = task_cost;
  p.binary_goal_radius = T(binary_goal_radius);
  p.terminal_smoothing = T(a.terminal_smoothing);
  p.task_running_cost = a.task_running_cost;
  p.final_task_running = a.final_task_running;
  return p;
}

template ActorCostParams<double, 10, 3> make_cost_params(const Ballbot<double>&,
                                                         const ActorSettings&,
                                                         const std::vector<double>&, CostKind,
                                                         double);
template ActorCostParams<double, 4, 2> make_cost_params(const PointMass<double>&,
                                                        const ActorSettings&,
                                                        const std::vector<double>&, CostKind,
                                                        double);
template ActorCostParams<float, 10, 3> make_cost_params(const Ballbot<float>&, const ActorSettings&,
                                                        const std::vector<double>&, CostKind,
                                                        double);
template ActorCostParams<float, 4, 2> make_cost_params(const PointMass<float>&,
                                                       const ActorSettings&,
                                                       const std::vector<double>&, CostKind,
                                                       double);

}  // namespace dmpc
