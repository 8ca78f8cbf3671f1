// dmpc simulate --env E --x0 <...> --u <...> --dt <s> --steps <n> [--integrator rk4|euler]
//               [--noise <lambda> --seed <k>] [--config <toml>] --out traj.csv
//
// Integrates one trajectory under a constant input and writes `t,x0,...` per step (the initial
// state included) with 17 significant digits, then prints a summary. With --noise the step is
// Euler–Maruyama with Var[dB] = Σ dt, Σ = λ R⁻¹ (R from --config or the default configuration),
// and the increments come from Philox at (seed, environment 0, episode 0, step).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/actor_config.hpp"
#include "core/config_reader.hpp"
#include "core/integrators.hpp"
#include "envs/task/task_config.hpp"
#include "tools/cli_common.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::cli {

namespace {

struct SimulateOptions {
  std::string env, x0, u, integrator, out, config;
  double dt = 0.0;
  int64_t steps = 0;
  double noise = 0.0;
  int64_t seed = 0;
};

template <typename System>
int simulate(const System& sys, const SimulateOptions& o) {
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const std::vector<double> xv = parse_numbers("--x0", o.x0, NX);
  const std::vector<double> uv = parse_numbers("--u", o.u, NU);
  if (!(o.dt > 0.0) || !std::isfinite(o.dt)) throw UsageError("--dt: must be a positive number");
  if (o.steps < 1 || o.steps > (int64_t{1} << 24))
    throw UsageError("--steps: must be in [1, 16777216]");
  if (!(o.noise >= 0.0) || !std::isfinite(o.noise))
    throw UsageError("--noise: must be a finite number >= 0");
  if (o.seed < 0) throw UsageError("--seed: must be >= 0");
  const bool noisy = o.noise > 0.0;
  const std::string integrator = o.integrator.empty() ? (noisy ? "euler" : "rk4") : o.integrator;
  if (noisy && integrator != "euler")
    throw UsageError("--noise needs --integrator euler (the SDE is integrated by Euler-Maruyama)");

  const EnvConfig env = load_run_config(o.config, {}, System::kName).env;
  const NoiseModel<double, NU> noise = make_noise_model<NU>(o.noise, env.input_weight);

  typename System::State x;
  typename System::Input u;
  for (int i = 0; i < NX; ++i) x[i] = xv[i];
  for (int i = 0; i < NU; ++i) u[i] = uv[i];

  // Write beside the target and rename at the end, so a failed run leaves no half file behind.
  const std::filesystem::path out(o.out);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  const std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream csv(tmp);
  if (!csv) throw std::runtime_error("--out: cannot write " + tmp.string());
  csv << "t";
  for (int i = 0; i < NX; ++i) csv << ",x" << i;
  csv << "\n";
  auto write_row = [&](int64_t k) {
    csv << format_full(static_cast<double>(k) * o.dt);
    for (int i = 0; i < NX; ++i) csv << "," << format_full(x[i]);
    csv << "\n";
  };

  double energy_start = 0.0, energy_end = 0.0, max_tilt = 0.0;
  constexpr bool kHasEnergy = std::is_same_v<System, Ballbot<double>>;
  if constexpr (kHasEnergy) sys.energy(x, energy_start);
  write_row(0);
  for (int64_t k = 0; k < o.steps; ++k) {
    typename System::State next;
    bool ok;
    if (noisy) {
      const auto db = brownian_increment(noise, static_cast<uint64_t>(o.seed), 0, 0,
                                         static_cast<uint32_t>(k), 0, o.dt);
      ok = euler_maruyama_step(sys, x, u, db, o.dt, next);
    } else if (integrator == "rk4") {
      ok = rk4_step(sys, x, u, o.dt, next);
    } else {
      ok = euler_step(sys, x, u, o.dt, next);
    }
    if (!ok) {
      csv.close();
      std::filesystem::remove(tmp);
      throw std::runtime_error("step " + std::to_string(k) + " (t = " + format_full(static_cast<double>(k) * o.dt) +
                               " s): the dynamics could not be integrated (mass matrix not "
                               "positive definite or a non-finite state)");
    }
    x = next;
    max_tilt = std::max(max_tilt, sys.tilt(x));
    write_row(k + 1);
  }
  if constexpr (kHasEnergy) sys.energy(x, energy_end);
  csv.close();
  if (!csv) throw std::runtime_error("--out: writing " + tmp.string() + " failed");
  std::filesystem::rename(tmp, out);

  std::cout << "simulate: " << System::kName << ", " << o.steps << " steps of " << o.dt
            << " s (" << (noisy ? "euler-maruyama" : integrator) << ")";
  if (noisy) std::cout << ", noise lambda " << o.noise << ", seed " << o.seed;
  std::cout << "\n  final state: ";
  for (int i = 0; i < NX; ++i) std::cout << (i ? ", " : "") << x[i];
  std::cout << "\n";
  if constexpr (kHasEnergy) {
    std::printf("  energy T+U:  %.10g J -> %.10g J (relative change %.3e)\n", energy_start,
                energy_end, (energy_end - energy_start) / std::fabs(energy_start));
    std::printf("  max tilt:    %.4g rad\n", max_tilt);
  }
  std::cout << "  wrote " << out.string() << " (" << o.steps + 1 << " rows)\n";
  return 0;
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto o = std::make_shared<SimulateOptions>();
  CLI::App* sub = app.add_subcommand("simulate", "Integrate one trajectory under a constant input");
  sub->add_option("--env", o->env, "ballbot or point_mass")->required();
  sub->add_option("--x0", o->x0, "initial state, comma-separated")->required();
  sub->add_option("--u", o->u, "constant input, comma-separated")->required();
  sub->add_option("--dt", o->dt, "step [s]")->required();
  sub->add_option("--steps", o->steps, "number of steps")->required();
  sub->add_option("--integrator", o->integrator,
                  "rk4 (default without noise) or euler (always with noise)")
      ->check(CLI::IsMember({"rk4", "euler"}));
  sub->add_option("--noise", o->noise, "process noise lambda (Sigma = lambda R^-1); 0 = none");
  sub->add_option("--seed", o->seed, "random seed for the noise");
  sub->add_option("--config", o->config, "configuration file for R (default: built-in)");
  sub->add_option("--out", o->out, "CSV file to write")->required();
  sub->callback([o] { with_system(o->env, [&](auto sys) { return simulate(sys, *o); }); });
}

}  // namespace dmpc::cli
