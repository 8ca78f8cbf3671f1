// `dmpc`: the command line of the project. Each subcommand lives in tools/cmd_<name>.cpp.
#include <exception>
#include <iostream>

#include "core/config_reader.hpp"
#include "tools/cli_common.hpp"
#include "trainer/distributed.hpp"

namespace {
// In a job of several processes an error on one of them ends the job (MPI_Abort), with the
// message marked as that rank's; a single process prints it and returns the exit status.
int fail(const std::string& message, int code) {
  dmpc::abort_job_if_distributed(message, code);
  std::cerr << "dmpc: error: " << message << "\n";
  dmpc::finalize_distributed();
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dmpc: Deep Value MPC at scale (Ballbot and point-mass environments)", "dmpc"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dmpc 0.1.0");
  dmpc::cli::add_train_command(app);
  dmpc::cli::add_eval_command(app);
  dmpc::cli::add_costmap_command(app);
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
    return fail(std::string(e.what()) + " (see dmpc --help)", 2);
  } catch (const dmpc::cli::UsageError& e) {
    return fail(e.what(), 2);
  } catch (const dmpc::ConfigError& e) {
    return fail(e.what(), 2);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  dmpc::finalize_distributed();
  return 0;
}
