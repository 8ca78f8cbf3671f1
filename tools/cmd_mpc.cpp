// dmpc mpc --env E --x0 <...> --goal gx,gy --tau <s> --horizon <s> --knot-dt <s> --iters <I>
//          --cost quadratic|terminal|dmpc [--Q ..] [--R ..] [--Qf ..] [--gamma g]
//          [--value <file>] [--config <toml>] [--integrator euler|rk4]
//
// Solves one MPC problem from a zero initial guess and prints one JSON object: u0 (first input),
// K0 (first feedback gain, row-major nu×nx), cost (the initial cost, then after each iteration),
// iterations, converged, solve_seconds. Unset weights come from the configuration: R is the
// environment's input weight, Q and Q_f are actor.<system>.q/qf, upright weights actor.upright_weights.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/actor_config.hpp"
#include "core/actor_costs.hpp"
#include "core/ilqr.hpp"
#include "core/value_file.hpp"
#include "envs/task/task_config.hpp"
#include "tools/cli_common.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::cli {

namespace {

struct MpcOptions {
  std::string env, x0, goal = "0,0", cost, Q, R, Qf, value, config, integrator;
  double tau = 0, horizon = 0, knot_dt = 0, gamma = 1.0;
  int64_t iters = 0;
};

template <typename System>
int run_mpc(const System& sys, const MpcOptions& o) {
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const std::vector<double> xv = parse_numbers("--x0", o.x0, NX);
  const std::vector<double> goal = parse_numbers("--goal", o.goal, 2);
  if (!(o.tau > 0) || !std::isfinite(o.tau)) throw UsageError("--tau: must be a positive number");
  if (!(o.horizon > 0) || !std::isfinite(o.horizon))
    throw UsageError("--horizon: must be a positive number");
  if (!(o.knot_dt > 0) || !std::isfinite(o.knot_dt))
    throw UsageError("--knot-dt: must be a positive number");
  if (!(o.gamma > 0 && o.gamma <= 1)) throw UsageError("--gamma: must be in (0, 1]");
  if (o.iters < 1 || o.iters > kIlqrMaxRecordedIterations)
    throw UsageError("--iters: must be in [1, " + std::to_string(kIlqrMaxRecordedIterations) + "]");

  const RunConfig run = load_run_config(o.config, {}, System::kName);
  const EnvConfig& env = run.env;
  ActorSettings a = run.actor;
  a.mode = actor_cost_mode_from_name(o.cost);
  a.horizon = o.horizon;
  a.knot_dt = o.knot_dt;
  const double knot_count = o.horizon / o.knot_dt;
  if (std::fabs(knot_count - std::round(knot_count)) > 1e-9 * knot_count ||
      std::round(knot_count) > 10000)
    throw UsageError("--horizon: " + format_full(o.horizon) +
                     " is not a whole number (at most 10000) of --knot-dt " + format_full(o.knot_dt));
  a.discount = o.gamma;
  a.solver.max_iterations = static_cast<int32_t>(o.iters);
  a.solver.tolerance = 1e-9;
  if (!o.integrator.empty())
    a.solver.integrator = o.integrator == "rk4" ? KnotIntegrator::kRk4 : KnotIntegrator::kEuler;
  std::vector<double> R = env.input_weight;
  if (!o.R.empty()) R = parse_numbers("--R", o.R, NU);
  for (double r : R)
    if (!(r > 0)) throw UsageError("--R: every weight must be > 0");
  std::vector<double>& q = NX == 10 ? a.ballbot_q : a.point_mass_q;
  std::vector<double>& qf = NX == 10 ? a.ballbot_qf : a.point_mass_qf;
  if (!o.Q.empty()) q = parse_numbers("--Q", o.Q, NX);
  if (!o.Qf.empty()) qf = parse_numbers("--Qf", o.Qf, NX);
  for (double w : q) if (w < 0) throw UsageError("--Q: weights must be >= 0");
  for (double w : qf) if (w < 0) throw UsageError("--Qf: weights must be >= 0");

  ValueNetwork net{};
  if (a.mode != ActorCostMode::kQuadratic) {
    if (o.value.empty()) throw UsageError("--cost " + o.cost + " needs --value <weights file>");
    net = load_value_network(o.value);
    if (net.shape.inputs != NX + 3)
      throw UsageError("--value: " + o.value + " takes " + std::to_string(net.shape.inputs) +
                       " inputs, " + System::kName + " needs " + std::to_string(NX + 3) +
                       " (time left, state, goal)");
  }
  const auto params = make_cost_params(sys, a, R, env.task.cost, env.task.binary_goal_radius);
  IlqrSettings<double> s = a.solver;
  s.input_limit = env.task.input_limit;
  typename System::State x0;
  for (int i = 0; i < NX; ++i) x0[i] = xv[i];

  const int capacity = a.knots();
  const int n = actor_horizon_knots(o.tau, o.knot_dt, capacity);
  std::vector<IlqrKnot<System>> knots(static_cast<size_t>(n + 1));
  for (auto& kn : knots) kn.u = System::Input::zero();
  const ActorCost<System> cost(sys, &params, {net.shape, net.params.data()}, o.tau, goal[0], goal[1], n);
  double mu = s.mu_init;
  const auto t0 = std::chrono::steady_clock::now();
  const IlqrResult<double> r = ilqr_solve(sys, cost, s, x0, o.knot_dt, knots.data(), n, mu);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.failed && r.accepted == 0)
    throw std::runtime_error("the solver failed: the dynamics could not be evaluated or the "
                             "regularization exceeded its maximum");

  std::string out = "{\"u0\": [";
  for (int j = 0; j < NU; ++j) out += (j ? ", " : "") + format_full(knots[0].u[j]);
  out += "], \"K0\": [";
  for (int a_ = 0; a_ < NU; ++a_)
    for (int j = 0; j < NX; ++j) out += (a_ || j ? ", " : "") + format_full(knots[0].K(a_, j));
  // null: the zero guess left the model domain (an infeasible start, see core/ilqr.hpp)
  out += "], \"cost\": [" + (r.initial_cost >= 1e30 ? std::string("null") : format_full(r.initial_cost));
  for (int it = 0; it < r.iterations; ++it) out += ", " + format_full(r.cost[it]);
  out += "], \"iterations\": " + std::to_string(r.iterations);
  out += ", \"converged\": " + std::string(r.converged ? "true" : "false");
  out += ", \"knots\": " + std::to_string(n);
  out += ", \"solve_seconds\": " + format_full(seconds) + "}";
  std::cout << out << "\n";
  return 0;
}

}  // namespace

void add_mpc_command(CLI::App& app) {
  auto o = std::make_shared<MpcOptions>();
  CLI::App* sub = app.add_subcommand("mpc", "Solve one MPC problem and print the result as JSON");
  sub->add_option("--env", o->env, "ballbot or point_mass")->required();
  sub->add_option("--x0", o->x0, "initial state, comma-separated")->required();
  sub->add_option("--goal", o->goal, "goal position gx,gy")->capture_default_str();
  sub->add_option("--tau", o->tau, "time left in the episode [s]")->required();
  sub->add_option("--horizon", o->horizon, "MPC horizon H [s]")->required();
  sub->add_option("--knot-dt", o->knot_dt, "knot spacing h [s]")->required();
  sub->add_option("--iters", o->iters, "iLQR iterations")->required();
  sub->add_option("--cost", o->cost, "quadratic, terminal or dmpc")
      ->required()
      ->check(CLI::IsMember({"quadratic", "terminal", "dmpc"}));
  sub->add_option("--Q", o->Q, "state weights (quadratic cost), nx numbers");
  sub->add_option("--R", o->R, "input weights, nu numbers");
  sub->add_option("--Qf", o->Qf, "terminal state weights (quadratic cost), nx numbers");
  sub->add_option("--gamma", o->gamma, "discount per second, (0, 1]")->capture_default_str();
  sub->add_option("--value", o->value, "value network file (terminal and dmpc costs)");
  sub->add_option("--integrator", o->integrator, "knot integrator: euler or rk4")
      ->check(CLI::IsMember({"euler", "rk4"}));
  sub->add_option("--config", o->config, "configuration for the other settings (default: built-in)");
  sub->callback([o] { with_system(o->env, [&](auto sys) { return run_mpc(sys, *o); }); });
}

}  // namespace dmpc::cli
