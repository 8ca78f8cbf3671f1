// dmpc value init --env E --out <file> [--width W] [--depth D] [--seed k] [--output-scale s]
//   writes a randomly initialised value network (core/value_file.hpp) for the system's inputs
//   (time left, state, goal), e.g. to exercise `dmpc mpc --cost dmpc` before any training.
// dmpc value show --value <file>
//   validates a value network file and prints its shape as JSON.
#include <iostream>

#include "core/value_file.hpp"
#include "tools/cli_common.hpp"

namespace dmpc::cli {

void add_value_command(CLI::App& app) {
  CLI::App* value = app.add_subcommand("value", "Create or inspect value network files");
  value->require_subcommand(1);

  struct InitOptions {
    std::string env, out;
    int64_t width = 12, depth = 3, seed = 1;
    double output_scale = 1.0;
  };
  auto o = std::make_shared<InitOptions>();
  CLI::App* init = value->add_subcommand("init", "Write a randomly initialised value network");
  init->add_option("--env", o->env, "ballbot or point_mass")->required();
  init->add_option("--out", o->out, "file to write")->required();
  init->add_option("--width", o->width, "hidden units per layer")
      ->check(CLI::Range(int64_t{1}, int64_t{kMaxMlpWidth}))->capture_default_str();
  init->add_option("--depth", o->depth, "hidden tanh layers")
      ->check(CLI::Range(int64_t{1}, int64_t{kMaxMlpDepth}))->capture_default_str();
  init->add_option("--seed", o->seed, "initialisation seed")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  init->add_option("--output-scale", o->output_scale, "scale of the output layer's weights")
      ->capture_default_str();
  init->callback([o] {
    if (!std::isfinite(o->output_scale)) throw UsageError("--output-scale: must be finite");
    const int nx = with_system(o->env, [](auto sys) { return decltype(sys)::kStateDim; });
    const ValueNetwork net = random_value_network(
        {nx + 3, static_cast<int32_t>(o->width), static_cast<int32_t>(o->depth)},
        static_cast<uint64_t>(o->seed), o->output_scale);
    save_value_network(o->out, net);
    std::cout << "wrote " << o->out << ": " << net.shape.inputs << " inputs, " << net.shape.depth
              << " x " << net.shape.width << " tanh, " << net.params.size() << " parameters\n";
  });

  auto path = std::make_shared<std::string>();
  CLI::App* show = value->add_subcommand("show", "Validate a value network file, print its shape");
  show->add_option("--value", *path, "value network file")->required();
  show->callback([path] {
    const ValueNetwork net = load_value_network(*path);
    std::cout << "{\"inputs\": " << net.shape.inputs << ", \"width\": " << net.shape.width
              << ", \"depth\": " << net.shape.depth << ", \"parameters\": " << net.params.size()
              << "}\n";
  });
}

}  // namespace dmpc::cli
