#include "trainer/train_config.hpp"

#include <algorithm>
#include <cmath>

#include "core/value_mlp.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {

void default_critic_normalisation(const std::string& system, std::vector<double>& offset,
                                  std::vector<double>& scale) {
  if (system == "ballbot") {
    //         τ    px   py   yaw  pitch     roll     vx   vy   ẏaw  ṗitch ṙoll gx   gy
    offset = {1.5, 0.0, 0.0, 0.0, -0.0153, 0.0169, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8};
    scale = {1.5, 1.6, 1.6, 1.0, 0.3, 0.3, 1.0, 1.0, 2.0, 2.0, 2.0, 0.4, 0.2};
  } else {
    //         τ    px   py   vx   vy   gx   gy
    offset = {1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8};
    scale = {1.5, 1.6, 1.6, 1.5, 1.5, 0.4, 0.2};
  }
}

CriticSettings read_critic_settings(ConfigReader& r, const std::string& system) {
  CriticSettings c;
  c.width = static_cast<int32_t>(r.integer("critic.width", c.width, 1, kMaxMlpWidth));
  c.depth = static_cast<int32_t>(r.integer("critic.depth", c.depth, 1, kMaxMlpDepth));
  c.learning_rate = r.positive_number("critic.learning_rate", c.learning_rate, 10.0);
  c.learning_rate_schedule = r.choice("critic.learning_rate_schedule", c.learning_rate_schedule, {"constant", "cosine"});
  c.learning_rate_final_ratio = r.positive_number("critic.learning_rate_final_ratio", c.learning_rate_final_ratio, 1.0);
  c.weight_decay = r.number("critic.weight_decay", c.weight_decay, 0.0, 10.0);
  c.polyak = r.positive_number("critic.polyak", c.polyak, 1.0);
  c.n_step = static_cast<int32_t>(r.integer("critic.n_step", c.n_step, 1, 1000));
  c.control_cost = r.boolean("critic.control_cost", c.control_cost);
  c.wall_features = r.boolean("critic.wall_features", c.wall_features);
  c.path_lookahead = r.numbers("critic.path_lookahead", c.path_lookahead, 0, 0.0, 10.0, /*allow_empty=*/true);
  c.path_margin = r.number("critic.path_margin", c.path_margin, 0.0, 10.0);
  const double body_gain = system == "ballbot" && !c.path_lookahead.empty() ? 1.0 : 0.0;
  c.path_body_gain = r.number("critic.path_body_gain", body_gain, 0.0, 10.0);
  c.hjb_weight = r.number("critic.hjb_weight", c.hjb_weight, 0.0, 1e6);
  c.hjb_collocation = r.number("critic.hjb_collocation", c.hjb_collocation, 0.0, 100.0);
  c.hjb_boundary_weight = r.number("critic.hjb_boundary_weight", c.hjb_boundary_weight, 0.0, 1e6);
  c.hjb_form = r.choice("critic.hjb_form", c.hjb_form, {"eq14", "greedy_policy"});
  c.engine = r.choice("critic.engine", c.engine, {"auto", "libtorch", "native"});
  c.device = r.choice("critic.device", c.device, {"auto", "cpu", "cuda"});
  c.allreduce = r.choice("critic.allreduce", c.allreduce, {"auto", "mpi", "nccl"});
  c.init_output_scale = r.number("critic.init_output_scale", c.init_output_scale, 0.0, 100.0);
  std::vector<double> offset, scale;
  default_critic_normalisation(system, offset, scale);
  const size_t inputs = static_cast<size_t>(state_dim(system) + 3);
  c.input_offset = r.numbers("critic.input_offset", offset, inputs, -1e6, 1e6);
  c.input_scale = r.numbers("critic.input_scale", scale, inputs, 1e-9, 1e9);
  return c;
}

TrainSettings read_train_settings(ConfigReader& r) {
  TrainSettings t;
  t.iterations = r.integer("train.iterations", t.iterations, 1, int64_t{1} << 32);
  t.minibatches = r.integer("train.minibatches", t.minibatches, 0, 1 << 20);
  t.minibatch_size = r.integer("train.minibatch_size", t.minibatch_size, 1, 1 << 24);
  t.replay_capacity = r.integer("train.replay_capacity", t.replay_capacity, 1, int64_t{1} << 32);
  t.warmup_iterations = r.integer("train.warmup_iterations", t.warmup_iterations, 0, int64_t{1} << 32);
  t.eval_every = r.integer("train.eval_every", t.eval_every, 1, int64_t{1} << 32);
  t.checkpoint_every = r.integer("train.checkpoint_every", t.checkpoint_every, 1, int64_t{1} << 32);
  t.keep_checkpoints = r.integer("train.keep_checkpoints", t.keep_checkpoints, 1, 1000);
  t.log_every_seconds = r.positive_number("train.log_every_seconds", t.log_every_seconds, 1e6);
  return t;
}

const char* paper_settings_toml() {
  return
      "[env]\n"
      "batch = 256\n"
      "process_noise = 2e-3\n"
      "\n"
      "[env.ballbot]\n"
      "input_weight = [0.5, 0.5, 0.5]\n"
      "\n"
      "[task.start]\n"
      "free_fraction = 0.0\n"
      "free_time_left = [1.0, 3.0]\n"
      "\n"
      "[actor]\n"
      "upright_weights = [50.0, 50.0, 5.0, 5.0, 1.0]\n"
      "tilt_barrier_weight = 0.0\n"
      "tilt_free_angle = 0.3\n"
      "\n"
      "[critic]\n"
      "width = 12\n"
      "control_cost = true\n"
      "wall_features = false\n"
      "path_lookahead = []\n"
      "path_margin = 0.1\n"
      "path_body_gain = 0.0\n"
      "hjb_weight = 0.0\n"
      "hjb_collocation = 0.0\n"
      "\n"
      "[train]\n"
      "iterations = 100\n"
      "minibatches = 500\n"
      "eval_every = 5\n";
}

RunConfig read_run_config(ConfigReader& reader) {
  RunConfig c;
  c.backend = reader.choice("backend", c.backend, {"auto", "cpu", "cuda"});
  c.env = read_env_config(reader);
  c.actor = read_actor_settings(reader);
  c.critic = read_critic_settings(reader, c.env.system);
  c.train = read_train_settings(reader);
  reader.finish();
  c.resolved = reader.resolved_toml();
  return c;
}

double critic_learning_rate(const CriticSettings& critic, int64_t iteration, int64_t iterations) {
  if (critic.learning_rate_schedule == "constant" || iterations <= 1) return critic.learning_rate;
  const double progress =
      std::clamp(static_cast<double>(iteration) / static_cast<double>(iterations - 1), 0.0, 1.0);
  const double r = critic.learning_rate_final_ratio;
  return critic.learning_rate * (r + (1 - r) * 0.5 * (1 + std::cos(M_PI * progress)));
}

}  // namespace dmpc
