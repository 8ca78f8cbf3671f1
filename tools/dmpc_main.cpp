// `dmpc`: the command line of the project. Each subcommand lives in tools/cmd_<name>.cpp.
#include <exception>
#include <iostream>

#include "core/config_reader.hpp"
#include "tools/cli_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dmpc: Deep Value MPC at scale (Ballbot and point-mass environments)", "dmpc"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dmpc 0.1.0");
  dmpc::cli::add_train_command(app);
  dmpc::cli::add_eval_command(app);
  dmpc::cli::add_dynamics_command(app);
  dmpc::cli::add_simulate_command(app);
  dmpc::cli::add_rollout_command(app);
  dmpc::cli::add_mpc_command(app);
  dmpc::cli::add_bench_command(app);
  dmpc::cli::add_value_command(app);
  dmpc::cli::add_info_command(app);

  std::vector<std::string> args = dmpc::cli::join_negative_values(argc, argv);
  if (args.size() > 1 && args[1].rfind("-", 0) != 0) {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == args[1];
    }
    if (!found) {
      std::cerr << "dmpc: error: unknown command \"" << args[1] << "\" (expected one of " << known
                << ")\n";
      return 2;
    }
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 wants them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dmpc: error: " << e.what() << " (see dmpc --help)\n";
    return 2;
  } catch (const dmpc::cli::UsageError& e) {
    std::cerr << "dmpc: error: " << e.what() << "\n";
    return 2;
  } catch (const dmpc::ConfigError& e) {
    std::cerr << "dmpc: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "dmpc: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
