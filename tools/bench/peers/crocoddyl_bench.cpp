// Peer benchmark: Crocoddyl's DDP against our iLQR on the identical Ballbot problem.
//
// Built only by tools/bench/peers/run.sh (against the Crocoddyl of a Python wheel), never by the
// project's build. The problem is our actor's `quadratic` mode (core/actor_costs.hpp):
//
//   x_{k+1} = x_k + h (f(x_k) + g(x_k) u_k)                    (explicit Euler at the knot spacing)
//   ℓ_k = h [ ½ (x − x_g)ᵀ Q (x − x_g) + ½ uᵀ R u + l_upright(x) ],   φ = ½ (x − x_g)ᵀ Q_f (x − x_g)
//
// Crocoddyl sees it through a discrete action model per knot whose calc() and calcDiff() call the
// same DMPC_HD functions our solver calls (Ballbot::linearize, discrete_step,
// discrete_linearization, ActorCost::stage / stage_derivatives / terminal), so both solvers
// do the same model work per knot and differ only in the solver around it. (Crocoddyl's
// IntegratedActionModelEuler is semi-implicit, q⁺ = q + h v⁺, a different map: not used.)
//
// Input limits are off for all solvers (Crocoddyl's DDP has none).
//
// Commands (starts file: one problem per line, x (10 numbers) then the goal (2)):
//   check  --starts F --count n --iters I            u₀ and cost after I iterations, both solvers
//   single --starts F --count n --iters I --repeats R   median solve times, one thread each
//   tol    --starts F --count n --tol t --repeats R     iterations and time to a cost within
//                                                       t·(1 + |J*|) of J* (the better optimum)
//   batch  --starts F --count B --iters I --repeats R   our BatchActor, one thread, B problems
// Compiled with -DDMPC_PEERS_OURS_ONLY it holds only `batch` and needs no Crocoddyl: run.sh builds
// it that way a second time with -march=native (our solver tuned for this CPU, as XLA tunes JAX).
// Weights: --q, --qf (10 each), --r (3), --upright (5: pitch, roll, their rates, yaw rate),
// --knots N, --knot-dt h. Output: one JSON object on stdout.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef DMPC_PEERS_OURS_ONLY
#include <crocoddyl/core/action-base.hpp>
#include <crocoddyl/core/optctrl/shooting.hpp>
#include <crocoddyl/core/solvers/ddp.hpp>
#include <crocoddyl/core/states/euclidean.hpp>
#endif

#include "core/actor_config.hpp"
#include "core/actor_costs.hpp"
#include "core/batch_actor.hpp"
#include "core/ilqr.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "tools/bench/peers/peer_problem.hpp"

namespace {

using System = dmpc::Ballbot<double>;
using Params = dmpc::ActorCostParams<double, 10, 3>;
using Cost = dmpc::ActorCost<System>;
constexpr int NX = 10, NU = 3;

struct Options {
  std::string command, starts;
  int count = 4, iters = 1, repeats = 20, knots = 50;
  double knot_dt = 0.02, tol = 1e-9;
  dmpc::peers::PeerWeights weights;
};

Options parse(int argc, char** argv) {
  if (argc < 2) throw std::runtime_error("usage: crocoddyl_bench check|single|tol|batch [options]");
  Options o;
  o.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--starts") o.starts = v;
    else if (k == "--count") o.count = std::stoi(v);
    else if (k == "--iters") o.iters = std::stoi(v);
    else if (k == "--repeats") o.repeats = std::stoi(v);
    else if (k == "--knots") o.knots = std::stoi(v);
    else if (k == "--knot-dt") o.knot_dt = std::stod(v);
    else if (k == "--tol") o.tol = std::stod(v);
    else if (!o.weights.take(k, v)) throw std::runtime_error("unknown option " + k);
  }
  o.weights.check();
  return o;
}

using Start = dmpc::peers::PeerStart;

dmpc::IlqrSettings<double> our_settings(int iters, double tolerance) {
  dmpc::IlqrSettings<double> s;
  s.max_iterations = iters;
  s.integrator = dmpc::KnotIntegrator::kEuler;
  s.input_limit = 1e30;
  s.mu_init = 0.0;  // no regularization unless Q_uu needs it (as the peers start)
  s.mu_min = 0.0;
  s.tolerance = tolerance;
  return s;
}

#ifndef DMPC_PEERS_OURS_ONLY
// ---- Crocoddyl action models over our dynamics and cost ----------------------------------------

// Crocoddyl's dynamically sized vectors as our fixed-size state and input.
System::State state_of(const Eigen::Ref<const Eigen::VectorXd>& x) {
  System::State s;
  for (int i = 0; i < NX; ++i) s[i] = x[i];
  return s;
}

System::Input input_of(const Eigen::Ref<const Eigen::VectorXd>& u) {
  System::Input s;
  for (int j = 0; j < NU; ++j) s[j] = u[j];
  return s;
}

class BallbotKnot : public crocoddyl::ActionModelAbstract {
 public:
  BallbotKnot(std::shared_ptr<crocoddyl::StateVector> state, const Cost* cost, int k, double h)
      : crocoddyl::ActionModelAbstract(state, NU), cost_(cost), k_(k), h_(h) {}

  void calc(const std::shared_ptr<crocoddyl::ActionDataAbstract>& d,
            const Eigen::Ref<const Eigen::VectorXd>& x,
            const Eigen::Ref<const Eigen::VectorXd>& u) override {
    const System::State xs = state_of(x);
    const System::Input us = input_of(u);
    System::State xn;
    ++calls;
    if (!dmpc::discrete_step(cost_->sys, dmpc::KnotIntegrator::kEuler, xs, us, h_, xn)) {
      d->xnext.setConstant(NAN);
      d->cost = NAN;
      return;
    }
    for (int i = 0; i < NX; ++i) d->xnext[i] = xn[i];
    d->cost = cost_->stage(k_, xs, us, System::State::zero(), System::InputMatrix::zero());
  }

  void calc(const std::shared_ptr<crocoddyl::ActionDataAbstract>& d,
            const Eigen::Ref<const Eigen::VectorXd>& x) override {  // terminal use: φ
    const System::State xs = state_of(x);
    d->cost = cost_->terminal(xs);
  }

  void calcDiff(const std::shared_ptr<crocoddyl::ActionDataAbstract>& d,
                const Eigen::Ref<const Eigen::VectorXd>& x,
                const Eigen::Ref<const Eigen::VectorXd>& u) override {
    const System::State xs = state_of(x);
    const System::Input us = input_of(u);
    System::State xn;
    System::Linearization lin;
    System::StateMatrix A;
    System::InputMatrix B;
    if (!cost_->sys.linearize(xs, lin) ||
        !dmpc::discrete_linearization(cost_->sys, dmpc::KnotIntegrator::kEuler, lin, xs, us, h_,
                                      xn, A, B))
      throw std::runtime_error("linearization failed");
    dmpc::CostQuadratic<double, NX, NU> q;
    cost_->stage_derivatives(k_, xs, us, lin, q);
    for (int i = 0; i < NX; ++i) {
      d->Lx[i] = q.l_x[i];
      for (int j = 0; j < NX; ++j) {
        d->Fx(i, j) = A(i, j);
        d->Lxx(i, j) = q.l_xx(i, j);
      }
      for (int j = 0; j < NU; ++j) {
        d->Fu(i, j) = B(i, j);
        d->Lxu(i, j) = q.l_ux(j, i);
      }
    }
    for (int a = 0; a < NU; ++a) {
      d->Lu[a] = q.l_u[a];
      for (int b = 0; b < NU; ++b) d->Luu(a, b) = q.l_uu(a, b);
    }
  }

  void calcDiff(const std::shared_ptr<crocoddyl::ActionDataAbstract>& d,
                const Eigen::Ref<const Eigen::VectorXd>& x) override {  // terminal use: φ_x, φ_xx
    const System::State xs = state_of(x);
    dmpc::CostQuadratic<double, NX, NU> q;
    cost_->terminal_derivatives(xs, q);
    for (int i = 0; i < NX; ++i) {
      d->Lx[i] = q.l_x[i];
      for (int j = 0; j < NX; ++j) d->Lxx(i, j) = q.l_xx(i, j);
    }
  }

  std::shared_ptr<crocoddyl::ActionModelBase> cloneAsDouble() const override {
    return std::make_shared<BallbotKnot>(*this);
  }
  std::shared_ptr<crocoddyl::ActionModelBase> cloneAsFloat() const override {
    throw std::runtime_error("float copy not supported");
  }

  static long calls;  // running-model calc() calls: forward-pass knots, for trial counts

 private:
  const Cost* cost_;
  int k_;
  double h_;
};
long BallbotKnot::calls = 0;

struct CrocoddylProblem {
  std::shared_ptr<crocoddyl::ShootingProblem> problem;
  std::shared_ptr<crocoddyl::SolverDDP> solver;
  std::vector<Eigen::VectorXd> xs, us;  // the zero-input guess rolled out
};

CrocoddylProblem make_crocoddyl(const Cost& cost, const Start& s, int n, double h) {
  auto state = std::make_shared<crocoddyl::StateVector>(NX);
  std::vector<std::shared_ptr<crocoddyl::ActionModelAbstract>> running;
  for (int k = 0; k < n; ++k) running.push_back(std::make_shared<BallbotKnot>(state, &cost, k, h));
  auto terminal = std::make_shared<BallbotKnot>(state, &cost, n, h);
  Eigen::VectorXd x0(NX);
  for (int i = 0; i < NX; ++i) x0[i] = s.x[i];
  CrocoddylProblem c;
  c.problem = std::make_shared<crocoddyl::ShootingProblem>(x0, running, terminal);
  c.problem->set_nthreads(1);
  c.solver = std::make_shared<crocoddyl::SolverDDP>(c.problem);
  c.solver->set_reg_min(0.0);  // regularization as ours and diffilqrax: none unless needed
  c.solver->set_th_stop(1e-300);  // run the iterations asked for (it must be > 0)
  c.us.assign(n, Eigen::VectorXd::Zero(NU));
  c.xs.assign(n + 1, x0);
  c.problem->rollout(c.us, c.xs);
  return c;
}

#endif  // DMPC_PEERS_OURS_ONLY

// Ours: one problem from the zero guess; returns u₀ and the final cost.
struct Solution {
  double u0[NU];
  double cost;
  int iterations;
};

[[maybe_unused]] Solution solve_ours(const Cost& cost, const Start& s, int n, double h,
                    const dmpc::IlqrSettings<double>& settings,
                    std::vector<dmpc::IlqrKnot<System>>& knots) {
  for (int k = 0; k <= n; ++k) {
    knots[k].u = System::Input::zero();
    knots[k].K = dmpc::Mat<double, NU, NX>::zero();
  }
  double mu = settings.mu_init;
  const dmpc::IlqrResult<double> r = dmpc::ilqr_solve(cost.sys, cost, settings, s.x, h, knots.data(), n, mu);
  Solution out{};
  for (int j = 0; j < NU; ++j) out.u0[j] = knots[0].u[j];
  out.cost = r.final_cost;
  out.iterations = r.iterations;
  return out;
}

#ifndef DMPC_PEERS_OURS_ONLY
Solution solve_crocoddyl(CrocoddylProblem& c, int iters) {
  c.solver->solve(c.xs, c.us, static_cast<std::size_t>(iters), true, 0.0);
  Solution out{};
  for (int j = 0; j < NU; ++j) out.u0[j] = c.solver->get_us()[0][j];
  out.cost = c.solver->get_cost();
  out.iterations = static_cast<int>(c.solver->get_iter());
  return out;
}
#endif  // DMPC_PEERS_OURS_ONLY

template <typename F>
double median_seconds(int repeats, F&& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::string u_json(const double* u) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "[%.17g, %.17g, %.17g]", u[0], u[1], u[2]);
  return buf;
}

int run(const Options& o) {
  const System sys{};
  const Params params = dmpc::peers::quadratic_params(sys, o.weights, o.knot_dt);
  const std::vector<Start> starts = dmpc::peers::read_starts(o.starts, o.count);
  const int n = o.knots;
  const double h = o.knot_dt;
  std::vector<dmpc::IlqrKnot<System>> knots(static_cast<size_t>(n + 1));
  [[maybe_unused]] auto cost_for = [&](const Start& s) { return Cost(sys, &params, dmpc::MlpValue<double>{}, 1e6, s.gx, s.gy, n); };

#ifndef DMPC_PEERS_OURS_ONLY
  if (o.command == "check") {
    std::printf("{\"command\": \"check\", \"iters\": %d, \"problems\": [", o.iters);
    for (size_t i = 0; i < starts.size(); ++i) {
      const Cost cost = cost_for(starts[i]);
      const Solution ours = solve_ours(cost, starts[i], n, h, our_settings(o.iters, 0.0), knots);
      CrocoddylProblem c = make_crocoddyl(cost, starts[i], n, h);
      const Solution croc = solve_crocoddyl(c, o.iters);
      std::printf("%s{\"ours_u0\": %s, \"ours_cost\": %.17g, \"crocoddyl_u0\": %s, \"crocoddyl_cost\": %.17g}",
                  i ? ", " : "", u_json(ours.u0).c_str(), ours.cost, u_json(croc.u0).c_str(), croc.cost);
    }
    std::printf("]}\n");
    return 0;
  }

  if (o.command == "single" || o.command == "tol") {
    std::vector<double> ours_t, croc_t, ours_it, croc_it, ours_trials, croc_trials;
    for (const Start& s : starts) {
      const Cost cost = cost_for(s);
      CrocoddylProblem c = make_crocoddyl(cost, s, n, h);
      int ours_iters = o.iters, croc_iters = o.iters;
      if (o.command == "tol") {
        // J*: the lower of the two solvers' costs after 50 iterations; then the fewest iterations
        // that bring each within tol·(1 + |J*|) of it.
        const double j_ours = solve_ours(cost, s, n, h, our_settings(50, 0.0), knots).cost;
        const double j_croc = solve_crocoddyl(c, 50).cost;
        const double j_star = std::min(j_ours, j_croc);
        const double bound = j_star + o.tol * (1.0 + std::fabs(j_star));
        ours_iters = croc_iters = -1;
        for (int k = 1; k <= 50 && (ours_iters < 0 || croc_iters < 0); ++k) {
          if (ours_iters < 0 && solve_ours(cost, s, n, h, our_settings(k, 0.0), knots).cost <= bound) ours_iters = k;
          if (croc_iters < 0 && solve_crocoddyl(c, k).cost <= bound) croc_iters = k;
        }
        if (ours_iters < 0 || croc_iters < 0) throw std::runtime_error("a solver did not reach the tolerance in 50 iterations");
      }
      const dmpc::IlqrSettings<double> st = our_settings(ours_iters, 0.0);
      ours_t.push_back(median_seconds(o.repeats, [&] { solve_ours(cost, s, n, h, st, knots); }));
      BallbotKnot::calls = 0;
      croc_t.push_back(median_seconds(o.repeats, [&] { solve_crocoddyl(c, croc_iters); }));
      // forward-pass knots per solve: (calls − initial rollout) over the runs, per iteration
      // calc() sweeps per solve, less the one over the initial guess (ours rolls it out too)
      croc_trials.push_back((static_cast<double>(BallbotKnot::calls) / (o.repeats + 1) / n - 1.0) / croc_iters);
      dmpc::IlqrResult<double> r;
      {
        for (int k = 0; k <= n; ++k) knots[k].u = System::Input::zero();
        double mu = st.mu_init;
        r = dmpc::ilqr_solve(cost.sys, cost, st, s.x, h, knots.data(), n, mu);
      }
      ours_trials.push_back(static_cast<double>(r.forward_passes) / r.iterations);
      ours_it.push_back(ours_iters);
      croc_it.push_back(croc_iters);
    }
    auto list = [](const std::vector<double>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        char b[32];
        std::snprintf(b, sizeof b, "%s%.6g", i ? ", " : "", v[i]);
        s += b;
      }
      return s + "]";
    };
    std::printf("{\"command\": \"%s\", \"knots\": %d, \"knot_dt\": %g, \"repeats\": %d, \"tol\": %g, "
                "\"ours_seconds\": %s, \"crocoddyl_seconds\": %s, \"ours_iterations\": %s, "
                "\"crocoddyl_iterations\": %s, \"ours_trials_per_iteration\": %s, "
                "\"crocoddyl_trials_per_iteration\": %s}\n",
                o.command.c_str(), n, h, o.repeats, o.tol, list(ours_t).c_str(), list(croc_t).c_str(),
                list(ours_it).c_str(), list(croc_it).c_str(), list(ours_trials).c_str(),
                list(croc_trials).c_str());
    return 0;
  }

#endif  // DMPC_PEERS_OURS_ONLY

  if (o.command == "batch") {
    dmpc::ActorSettings a;
    a.mode = dmpc::ActorCostMode::kQuadratic;
    a.knot_dt = h;
    a.horizon = h * n;
    a.solver = our_settings(o.iters, 0.0);
    dmpc::ThreadPool pool(1);
    const size_t B = starts.size();
    dmpc::BatchActor<System> actor(sys, a, params, 1e30, B, pool);
    std::vector<System::State> x(B);
    std::vector<double> tau(B, 1e6), goal(2 * B), u0(B * NU);
    for (size_t i = 0; i < B; ++i) {
      x[i] = starts[i].x;
      goal[2 * i] = starts[i].gx;
      goal[2 * i + 1] = starts[i].gy;
    }
    const double t = median_seconds(o.repeats, [&] {
      for (size_t i = 0; i < B; ++i) actor.reset(i);  // the same zero guess every solve
      actor.solve(x.data(), tau.data(), goal.data(), u0.data());
    });
    long iterations = 0;
    for (size_t i = 0; i < B; ++i) iterations += actor.result(i).iterations;
    std::printf("{\"command\": \"batch\", \"batch\": %zu, \"iters\": %d, \"threads\": 1, \"repeats\": %d, "
                "\"seconds\": %.6g, \"mean_iterations\": %.4g, \"u0_first\": %s}\n",
                B, o.iters, o.repeats, t, static_cast<double>(iterations) / static_cast<double>(B),
                u_json(u0.data()).c_str());
    return 0;
  }
  throw std::runtime_error("unknown command " + o.command);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crocoddyl_bench: error: %s\n", e.what());
    return 2;
  }
}
