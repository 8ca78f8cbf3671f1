// dmpc dynamics --env ballbot|point_mass --x <nx numbers> --u <nu numbers>
// Prints ẋ = f(x) + g(x)u as one line of comma-separated numbers (17 significant digits).
#include <iostream>

#include "tools/cli_common.hpp"

namespace dmpc::cli {

void add_dynamics_command(CLI::App& app) {
  struct Options {
    std::string env, x, u;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("dynamics", "Print xdot = f(x) + g(x) u for one state");
  sub->add_option("--env", opts->env, "ballbot or point_mass")->required();
  sub->add_option("--x", opts->x, "state, comma-separated")->required();
  sub->add_option("--u", opts->u, "input, comma-separated")->required();
  sub->callback([opts] {
    with_system(opts->env, [&](auto sys) {
      using System = decltype(sys);
      const std::vector<double> xv = parse_numbers("--x", opts->x, System::kStateDim);
      const std::vector<double> uv = parse_numbers("--u", opts->u, System::kInputDim);
      typename System::State x, xdot;
      typename System::Input u;
      for (int i = 0; i < System::kStateDim; ++i) x[i] = xv[i];
      for (int i = 0; i < System::kInputDim; ++i) u[i] = uv[i];
      if (!sys.flow(x, u, xdot))
        throw std::runtime_error("the dynamics are undefined at this state (mass matrix not "
                                 "positive definite: |pitch| or |roll| too close to pi/2?)");
      std::string line;
      for (int i = 0; i < System::kStateDim; ++i) line += (i ? "," : "") + format_full(xdot[i]);
      std::cout << line << "\n";
      return 0;
    });
  });
}

}  // namespace dmpc::cli
