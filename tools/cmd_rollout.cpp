// dmpc rollout --config <toml> [--set key=value ...] [--policy zero|random] [--episodes N]
//              [--eval] [--json]
//
// Runs batches of task episodes with a fixed, model-free policy on the batched CPU environment and
// prints what happened: how episodes ended, success rate, mean cost, throughput. It exercises the
// whole environment path (configuration, sampling, SDE, walls, costs) before any learning exists.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "core/actor_config.hpp"
#include "core/config_reader.hpp"
#include "envs/batch_env.hpp"
#include "envs/task/task_config.hpp"
#include "tools/cli_common.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::cli {

namespace {

struct RolloutOptions {
  std::string config = "configs/default.toml";
  std::vector<std::string> overrides;
  std::string policy = "zero";
  int64_t episodes = 1;
  bool eval = false;
  bool json = false;
};


template <typename System>
int rollout(const System& sys, const EnvConfig& cfg, const RolloutOptions& o) {
  using T = typename System::Scalar;
  constexpr int NU = System::kInputDim;
  ThreadPool pool(static_cast<size_t>(cfg.threads));
  const double lambda = o.eval ? cfg.eval_process_noise : cfg.process_noise;
  const size_t batch = o.eval ? cfg.eval_starts.size() : static_cast<size_t>(cfg.batch);
  BatchEnv<System> env(sys, cfg.task, make_noise_model<NU>(lambda, cfg.input_weight), cfg.seed,
                       batch, pool);

  std::map<EndReason, int64_t> ended;
  int64_t successes = 0, env_steps = 0, episodes = 0;
  double cost_sum = 0.0, length_sum = 0.0;
  std::vector<T> inputs(batch * NU, T(0));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t e = 0; e < o.episodes; ++e) {
    if (o.eval) {
      env.reset_to(cfg.eval_starts, cfg.eval_goal[0], cfg.eval_goal[1], static_cast<uint32_t>(e));
    } else {
      env.reset(static_cast<uint32_t>(e));
    }
    while (!env.all_done()) {
      if (o.policy == "random") {
        for (size_t i = 0; i < batch; ++i) {
          const Episode<System>& ep = env.episode(i);
          const PhiloxCounter bits = philox4x32_10(
              philox_counter(ep.env_id, ep.episode, static_cast<uint32_t>(ep.step), 0,
                             RandomStream::kPolicy),
              philox_key(cfg.seed));
          for (int j = 0; j < NU; ++j)
            inputs[i * NU + j] = cfg.task.input_limit * (T(2) * uniform_open01<T>(bits.c[j]) - T(1));
        }
      }
      for (size_t i = 0; i < batch; ++i) env_steps += env.episode(i).reason == EndReason::kRunning;
      env.step(inputs.data());
    }
    for (size_t i = 0; i < batch; ++i) {
      const Episode<System>& ep = env.episode(i);
      ++ended[ep.reason];
      successes += env.succeeded(i);
      cost_sum += ep.total_cost;
      length_sum += ep.step * cfg.task.control_period;
      ++episodes;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto share = [&](EndReason r) {
    return episodes ? static_cast<double>(ended[r]) / static_cast<double>(episodes) : 0.0;
  };
  const EndReason reasons[] = {EndReason::kTimeout, EndReason::kWallCollision,
                               EndReason::kOutOfArena, EndReason::kFall,
                               EndReason::kNumericalFailure};
  if (o.json) {
    std::printf("{\"system\": \"%s\", \"policy\": \"%s\", \"episodes\": %lld, \"batch\": %zu, "
                "\"threads\": %zu, \"success_rate\": %.6g, ",
                System::kName, o.policy.c_str(), static_cast<long long>(episodes), batch,
                pool.size(), static_cast<double>(successes) / static_cast<double>(episodes));
    for (EndReason r : reasons) std::printf("\"%s_rate\": %.6g, ", end_reason_name(r), share(r));
    std::printf("\"mean_cost\": %.6g, \"mean_length_s\": %.6g, \"env_steps\": %lld, "
                "\"env_steps_per_second\": %.6g}\n",
                cost_sum / static_cast<double>(episodes), length_sum / static_cast<double>(episodes),
                static_cast<long long>(env_steps), static_cast<double>(env_steps) / seconds);
    return 0;
  }
  std::printf("rollout: %s, %zu environments x %lld episode(s), policy %s, %s cost, noise %g%s\n",
              System::kName, batch, static_cast<long long>(o.episodes), o.policy.c_str(),
              cfg.task.cost == CostKind::kBinary ? "binary" : "dense", lambda,
              o.eval ? ", evaluation starts" : "");
  std::printf("  %-18s %8s %8s\n", "ended by", "count", "share");
  for (EndReason r : reasons)
    std::printf("  %-18s %8lld %7.1f%%\n", end_reason_name(r), static_cast<long long>(ended[r]),
                100.0 * share(r));
  std::printf("  success rate %.1f%%, mean episode cost %.4g, mean length %.3g s\n",
              100.0 * static_cast<double>(successes) / static_cast<double>(episodes),
              cost_sum / static_cast<double>(episodes), length_sum / static_cast<double>(episodes));
  std::printf("  %lld environment steps in %.3g s: %.4g steps/s on %zu thread(s)\n",
              static_cast<long long>(env_steps), seconds,
              static_cast<double>(env_steps) / seconds, pool.size());
  return 0;
}

}  // namespace

void add_rollout_command(CLI::App& app) {
  auto o = std::make_shared<RolloutOptions>();
  CLI::App* sub = app.add_subcommand(
      "rollout", "Run task episodes in parallel with a fixed policy and summarise them");
  sub->add_option("--config", o->config, "configuration file")->capture_default_str();
  sub->add_option("--set", o->overrides, "override a key: --set task.cost=binary (repeatable)");
  sub->add_option("--policy", o->policy, "zero or random (uniform within the input limits)")
      ->check(CLI::IsMember({"zero", "random"}))
      ->capture_default_str();
  sub->add_option("--episodes", o->episodes, "episodes per environment")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_flag("--eval", o->eval, "use the evaluation starts and goal (task.eval)");
  sub->add_flag("--json", o->json, "print one JSON object instead of the table");
  sub->callback([o] {
    ConfigReader reader = ConfigReader::from_file(o->config);
    for (const std::string& s : o->overrides) reader.set_override(s);
    const EnvConfig cfg = read_run_config(reader).env;
    with_system(cfg.system, [&](auto sys) { return rollout(sys, cfg, *o); });
  });
}

}  // namespace dmpc::cli
