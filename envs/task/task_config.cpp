#include "envs/task/task_config.hpp"

#include <cmath>
#include <limits>

namespace dmpc {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

Range<double> read_range(ConfigReader& r, const std::string& key, Range<double> fallback,
                         double bound) {
  const std::vector<double> v = r.numbers(key, {fallback.lo, fallback.hi}, 2, -bound, bound);
  if (!(v[0] <= v[1])) throw ConfigError(r.source() + ": " + key + ": expected [low, high] with low ≤ high");
  return {v[0], v[1]};
}
}  // namespace

std::vector<std::array<double, 2>> default_eval_starts() {
  std::vector<std::array<double, 2>> starts;
  for (double px : {-1.05, -0.75, -0.45, -0.15, 0.15, 0.45, 0.75, 1.05}) starts.push_back({px, -0.8});
  return starts;
}

int input_dim(const std::string& system) {
  if (system == "ballbot") return 3;
  if (system == "point_mass") return 2;
  throw ConfigError("unknown system \"" + system + "\" (expected ballbot or point_mass)");
}

int state_dim(const std::string& system) {
  if (system == "ballbot") return 10;
  if (system == "point_mass") return 4;
  throw ConfigError("unknown system \"" + system + "\" (expected ballbot or point_mass)");
}

int velocity_index(const std::string& system) {
  if (system == "ballbot") return 5;  // Ballbot::kConfigDim + kPx
  if (system == "point_mass") return 2;
  throw ConfigError("unknown system \"" + system + "\" (expected ballbot or point_mass)");
}

int body_index(const std::string& system) {
  if (system == "ballbot") return 2;  // Ballbot::kYaw; pitch and roll follow it
  if (system == "point_mass") return -1;
  throw ConfigError("unknown system \"" + system + "\" (expected ballbot or point_mass)");
}

EnvConfig read_env_config(ConfigReader& r) {
  EnvConfig c;
  c.seed = static_cast<uint64_t>(
      r.integer("seed", static_cast<int64_t>(c.seed), 0, std::numeric_limits<int64_t>::max()));

  c.system = r.choice("env.system", c.system, {"ballbot", "point_mass"});
  c.batch = r.integer("env.batch", c.batch, 1, int64_t{1} << 24);
  c.threads = r.integer("env.threads", c.threads, 0, 4096);
  c.process_noise = r.number("env.process_noise", c.process_noise, 0.0, 1e6);
  // Per-system input weights R (diagonal) and input limits; both sections may be present.
  const std::vector<double> ballbot_weight =
      r.numbers("env.ballbot.input_weight", {0.1, 0.1, 0.1}, 3, 1e-9, 1e9);
  const double ballbot_limit = r.positive_number("env.ballbot.input_limit", 10.0, 1e6);
  const std::vector<double> point_mass_weight =
      r.numbers("env.point_mass.input_weight", {1.0, 1.0}, 2, 1e-9, 1e9);
  const double point_mass_limit = r.positive_number("env.point_mass.input_limit", 5.0, 1e6);
  const bool ballbot = c.system == "ballbot";
  c.input_weight = ballbot ? ballbot_weight : point_mass_weight;

  TaskParams<double>& t = c.task;
  t.input_limit = ballbot ? ballbot_limit : point_mass_limit;
  t.duration = r.positive_number("task.duration", t.duration, 3600.0);
  t.control_period = r.positive_number("task.control_period", t.control_period, 10.0);
  const double steps = t.duration / t.control_period;
  if (std::fabs(steps - std::round(steps)) > 1e-9 * steps || std::round(steps) < 1 ||
      std::round(steps) > double(1 << 24))
    throw ConfigError(r.source() + ": task.duration: " + std::to_string(t.duration) +
                      " s is not a whole number (1 … 2^24) of control periods of " +
                      std::to_string(t.control_period) + " s");
  t.steps_per_episode = static_cast<int32_t>(std::round(steps));
  t.substeps = static_cast<int32_t>(r.integer("task.substeps", t.substeps, 1, 256));
  t.cost = r.choice("task.cost", "dense", {"dense", "binary"}) == "binary" ? CostKind::kBinary
                                                                          : CostKind::kDense;
  t.binary_goal_radius = r.positive_number("task.binary_goal_radius", t.binary_goal_radius, 1e3);
  t.success_radius = r.positive_number("task.success_radius", t.success_radius, 1e3);
  t.penalty = r.number("task.penalty", t.penalty, 0.0, 1e9);
  t.fall_angle = r.positive_number("task.fall_angle", t.fall_angle, 1.5);

  const std::vector<double> half =
      r.numbers("task.arena_half_extent", {t.arena_half_x, t.arena_half_y}, 2, 1e-3, 1e4);
  t.arena_half_x = half[0];
  t.arena_half_y = half[1];
  t.robot_clearance = r.number("task.robot_clearance", t.robot_clearance, 0.0, 1e3);

  if (!r.has("task.walls")) {  // the default layout, read like a given one (and so recorded)
    std::string walls = "[";
    for (int i = 0; i < t.wall_count; ++i) {
      const WallSegment<double>& w = t.walls[i];
      walls += (i ? ", " : "") + std::string("{from = [") + std::to_string(w.x0) + ", " +
               std::to_string(w.y0) + "], to = [" + std::to_string(w.x1) + ", " +
               std::to_string(w.y1) + "], thickness = " + std::to_string(w.thickness) + "}";
    }
    r.set_override("task.walls=" + walls + "]");
  }
  const int64_t walls = r.table_count("task.walls");
  if (walls > kMaxWalls)
    throw ConfigError(r.source() + ": task.walls: " + std::to_string(walls) +
                      " walls, at most " + std::to_string(kMaxWalls));
  if (walls >= 0) {
    t.wall_count = static_cast<int32_t>(walls);
    for (int64_t i = 0; i < walls; ++i) {
      const std::string w = "task.walls[" + std::to_string(i) + "]";
      for (const char* required : {"from", "to", "thickness"})
        if (!r.has(w + "." + required))
          throw ConfigError(r.source() + ": " + w + "." + required + ": missing");
      const std::vector<double> from = r.numbers(w + ".from", {}, 2, -1e4, 1e4);
      const std::vector<double> to = r.numbers(w + ".to", {}, 2, -1e4, 1e4);
      const double thickness = r.number(w + ".thickness", 0.0, 0.0, 1e3);
      t.walls[i] = {from[0], from[1], to[0], to[1], thickness};
    }
  }

  t.start_x = read_range(r, "task.start.px", t.start_x, half[0]);
  t.start_y = read_range(r, "task.start.py", t.start_y, half[1]);
  // The configuration's defaults are exploring starts throughout (README "Training"); TaskParams'
  // own defaults (none) are what the task spec's plain starts need.
  t.free_start_fraction = r.number("task.start.free_fraction", 1.0, 0.0, 1.0);
  t.free_start_time_left = read_range(r, "task.start.free_time_left", {2.0, 3.0}, 4 * t.duration);
  if (!(t.free_start_time_left.lo > 0))
    throw ConfigError(r.source() + ": task.start.free_time_left: the time left must be positive");
  t.free_start_margin = r.number("task.start.free_margin", t.free_start_margin, 0.0, 1e3);
  t.free_start_speed = r.number("task.start.free_speed", t.free_start_speed, 0.0, 10.0);
  t.free_start_goal_distance =
      read_range(r, "task.start.free_goal_distance", t.free_start_goal_distance, 1e3);
  if (t.free_start_goal_distance.lo < 0)
    throw ConfigError(r.source() + ": task.start.free_goal_distance: a distance cannot be negative");
  t.goal_x = read_range(r, "task.goal.gx", t.goal_x, half[0]);
  t.goal_y = read_range(r, "task.goal.gy", t.goal_y, half[1]);

  const std::vector<double> goal =
      r.numbers("task.eval.goal", {c.eval_goal[0], c.eval_goal[1]}, 2, -1e4, 1e4);
  c.eval_goal = {goal[0], goal[1]};
  std::vector<std::vector<double>> fallback;
  for (const auto& s : default_eval_starts()) fallback.push_back({s[0], s[1]});
  for (const auto& s : r.number_rows("task.eval.starts", fallback, 2, -1e4, 1e4))
    c.eval_starts.push_back({s[0], s[1]});
  c.eval_process_noise = r.number("task.eval.process_noise", c.eval_process_noise, 0.0, 1e6);
  return c;
}

}  // namespace dmpc
