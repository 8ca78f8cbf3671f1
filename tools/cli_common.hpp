// Shared pieces of the `dmpc` command line: strict number parsing, system dispatch, output.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "envs/ballbot/ballbot.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::cli {

// A user error: printed as one line "dmpc: error: <message>", exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses "a,b,c" into finite doubles; `option` names the flag in messages. `expected` < 0 accepts
// any count ≥ 1.
std::vector<double> parse_numbers(const std::string& option, const std::string& text,
                                  int expected);

// Lets "--x -0.5,1" pass its value: CLI11 would take "-0.5,1" for a short option, so a token that
// starts like a negative number and follows an option is glued to it as "--x=-0.5,1".
std::vector<std::string> join_negative_values(int argc, char** argv);

// A number with 17 significant digits (round-trips a double).
std::string format_full(double v);

// The configuration at `path` (when empty: the built-in defaults changed by the TOML text
// `defaults`, e.g. paper_settings_toml() for the benchmarks) with `--set` overrides, read for the
// named system: every command validates whole configurations the same way.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides,
                          const char* system, const char* defaults = "");

// Calls f(system) with the named system in double precision.
template <typename F>
auto with_system(const std::string& name, F&& f) {
  if (name == "ballbot") return f(Ballbot<double>{});
  if (name == "point_mass") return f(PointMass<double>{});
  throw UsageError("--env: unknown system \"" + name + "\" (expected ballbot or point_mass)");
}

// Registration of each subcommand (tools/cmd_*.cpp).
void add_dynamics_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_rollout_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_mpc_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_value_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_costmap_command(CLI::App& app);

}  // namespace dmpc::cli
