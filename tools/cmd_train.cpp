// dmpc train --config configs/<name>.toml [--set key=value ...] [--backend cpu|cuda|auto]
//            [--out runs/<name>] [--resume]
//            [--stop-after N]; under `mpirun -np P` (or srun) data parallel over P processes
// dmpc eval --checkpoint <run or checkpoint dir, or a file in one> [--starts starts.csv]
//           [--goal gx,gy] [--episodes n] [--noise lambda] [--out eval.json] [--backend cpu|cuda|auto]
#include "tools/cli_common.hpp"
#include "trainer/dmpc_trainer.hpp"

namespace dmpc::cli {

void add_train_command(CLI::App& app) {
  auto r = std::make_shared<TrainRequest>();
  CLI::App* sub = app.add_subcommand("train", "Train the DMPC critic (paper Algorithm 1)");
  sub->add_option("--config", r->config, "configuration file")->capture_default_str();
  sub->add_option("--set", r->overrides, "override a key: --set train.iterations=50 (repeatable)");
  sub->add_option("--backend", r->backend, "cpu, cuda or auto: where environments and actors run (default: the configuration's backend)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  sub->add_option("--out", r->out, "run directory (default runs/<config name>)");
  sub->add_flag("--resume", r->resume, "continue the run in --out from its last checkpoint");
  sub->add_option("--stop-after", r->stop_after,
                  "stop after this many iterations (checkpointed; continue with --resume)")
      ->check(CLI::NonNegativeNumber);
  // Test-only options (not in --help): see TrainRequest.
  sub->add_option("--inject-failure", r->inject_failure,
                  "test only: RANK:ITERATION[:nan] makes that process fail in that iteration")
      ->group("");
  sub->add_option("--dump-parameters", r->dump_parameters,
                  "test only: each process writes its critic parameters to DIR/rank-R.bin every iteration")
      ->group("");
  sub->callback([r] { train(*r); });
}

void add_eval_command(CLI::App& app) {
  auto r = std::make_shared<EvalRequest>();
  auto goal = std::make_shared<std::string>();
  auto noise = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("eval", "Run the actor with a trained critic");
  sub->add_option("--checkpoint", r->checkpoint, "run directory, checkpoint directory, or a file in one")
      ->required();
  sub->add_option("--starts", r->starts_csv, "CSV of starts, px,py per line (default: the 8 evaluation starts)");
  sub->add_option("--goal", *goal, "goal gx,gy (default: the configuration's)");
  sub->add_option("--episodes", r->episodes, "episodes per start")->capture_default_str();
  sub->add_option("--noise", *noise, "process noise lambda (default: the configuration's evaluation noise)");
  sub->add_option("--out", r->out, "write per-episode results as JSON here");
  sub->add_option("--set", r->overrides,
                  "override a key of the checkpoint's configuration, e.g. --set actor.horizon=1.5");
  sub->add_option("--backend", r->backend,
                  "cpu (float64, as training evaluates), cuda (the GPU actor and environments, float32) or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))->capture_default_str();
  sub->callback([r, goal, noise] {
    if (!goal->empty()) {
      const std::vector<double> g = parse_numbers("--goal", *goal, 2);
      r->goal = {g[0], g[1]};
      r->has_goal = true;
    }
    if (!noise->empty()) {
      r->noise = parse_numbers("--noise", *noise, 1)[0];
      if (r->noise < 0) throw UsageError("--noise: must be >= 0");
      r->has_noise = true;
    }
    if (r->episodes < 1) throw UsageError("--episodes: must be at least 1");
    evaluate(*r);
  });
}

void add_costmap_command(CLI::App& app) {
  auto r = std::make_shared<CostmapRequest>();
  auto state = std::make_shared<std::string>();
  auto goal = std::make_shared<std::string>();
  auto px = std::make_shared<std::string>("-1.6,1.6");
  auto py = std::make_shared<std::string>("-1.6,1.6");
  CLI::App* sub = app.add_subcommand("costmap", "V and the DMPC running cost (Eq. 14) over ball positions, as CSV");
  sub->add_option("--checkpoint", r->checkpoint, "run directory, checkpoint directory, or a file in one")->required();
  sub->add_option("--state", *state, "the whole state x0,...; px and py are replaced by the grid's")->required();
  sub->add_option("--tau", r->tau, "time left [s]")->capture_default_str();
  sub->add_option("--goal", *goal, "goal gx,gy (default: the configuration's evaluation goal)");
  sub->add_option("--px", *px, "grid range lo,hi of px")->capture_default_str();
  sub->add_option("--py", *py, "grid range lo,hi of py")->capture_default_str();
  sub->add_option("--resolution", r->resolution, "points per axis")->capture_default_str();
  sub->add_option("--out", r->out, "CSV file: px,py,value,running_cost")->required();
  sub->callback([r, state, goal, px, py] {
    r->state = parse_numbers("--state", *state, -1);
    if (!goal->empty()) {
      const std::vector<double> g = parse_numbers("--goal", *goal, 2);
      r->goal = {g[0], g[1]};
      r->has_goal = true;
    }
    const std::vector<double> x = parse_numbers("--px", *px, 2), y = parse_numbers("--py", *py, 2);
    r->px = {x[0], x[1]};
    r->py = {y[0], y[1]};
    costmap(*r);
  });
}

}  // namespace dmpc::cli
