// The walled target-reaching task (shared/spec/task.md): arena, walls, costs, termination and
// episode sampling, as DMPC_HD functions on a plain parameter struct that can be copied to a GPU.
//
// Costs are per second; a control period of δt contributes c(s)·δt, with c evaluated at the state
// at the start of the period. An episode ends
//   - on a collision (ball centre within `robot_clearance + thickness/2` of a wall segment, or
//     outside the arena) or a fall (|pitch| or |roll| > fall_angle): terminal cost = penalty;
//   - when the episode duration T is reached: terminal cost = q_f(p(T)).
// The terminal cost is charged exactly once, on the step that ends the episode.
#pragma once

#include <cstdint>

#include "core/hd.hpp"
#include "core/philox.hpp"

namespace dmpc {

constexpr int kMaxWalls = 16;

enum class CostKind : int32_t { kDense = 0, kBinary = 1 };

// Why an episode ended. kNumericalFailure marks a state the dynamics could not integrate.
enum class EndReason : int32_t {
  kRunning = 0,
  kTimeout = 1,
  kWallCollision = 2,
  kOutOfArena = 3,
  kFall = 4,
  kNumericalFailure = 5,
};

DMPC_HD bool is_collision(EndReason r) {
  return r == EndReason::kWallCollision || r == EndReason::kOutOfArena;
}

inline const char* end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::kRunning: return "running";
    case EndReason::kTimeout: return "timeout";
    case EndReason::kWallCollision: return "wall_collision";
    case EndReason::kOutOfArena: return "out_of_arena";
    case EndReason::kFall: return "fall";
    case EndReason::kNumericalFailure: return "numerical_failure";
  }
  return "unknown";
}

template <typename T>
struct WallSegment {
  T x0, y0, x1, y1;  // centre line [m]
  T thickness;       // [m]
};

template <typename T>
struct Range {
  T lo, hi;
};

template <typename T>
struct TaskParams {
  T arena_half_x = T(1.6);  // |px| ≤ arena_half_x, |py| ≤ arena_half_y
  T arena_half_y = T(1.6);
  int32_t wall_count = 1;
  WallSegment<T> walls[kMaxWalls] = {{T(-0.6), T(0), T(0.6), T(0), T(0.1)}};
  T robot_clearance = T(0.2);  // body overhang beyond the ball centre [m]

  T duration = T(3.0);          // episode length T [s]
  T control_period = T(0.02);   // δt [s]
  int32_t steps_per_episode = 150;  // T / δt, checked when the configuration is read
  int32_t substeps = 4;         // SDE substeps per control period

  CostKind cost = CostKind::kDense;
  T binary_goal_radius = T(0.15);  // binary cost is 0 within this distance of the goal
  T success_radius = T(0.2);
  T penalty = T(20);               // collision or fall
  T fall_angle = T(0.5);           // [rad]
  T input_limit = T(10);           // |u_i| (Ballbot torque [N m] or point-mass force [N])

  Range<T> start_x = {T(-1.2), T(1.2)};
  Range<T> start_y = {T(-1.2), T(-0.5)};
  Range<T> goal_x = {T(-0.4), T(0.4)};
  Range<T> goal_y = {T(0.6), T(1.0)};

  // Exploring starts: this fraction of training episodes starts instead at rest at a uniformly
  // drawn collision-free position of the arena (at least free_start_margin clear of every wall
  // and the edge), part-way through, with the time left drawn from free_start_time_left. A time
  // left above T (up to 4 T) starts the episode before t = 0: it runs longer than T, so that the
  // critic sees what a position is worth with time to spare (training only; CPU backend).
  T free_start_fraction = T(0);
  Range<T> free_start_time_left = {T(1.0), T(3.0)};
  T free_start_margin = T(0.05);
  // ... and moving: the ball's velocity drawn with a uniform direction and a speed uniform in
  // [0, free_start_speed] (0: at rest). Data on what moving states are worth, which the actor's
  // greedy input −R⁻¹gᵀ∂V̂/∂v reads, without waiting for the actor to move there itself.
  T free_start_speed = T(0);
  // ... and, when free_start_goal_distance.hi > 0, drawn round the episode's goal instead of over
  // the arena: the distance to the goal uniform in [lo, hi], the direction uniform (positions
  // outside the arena or in a wall's zone are drawn again). Uniform in distance puts many more
  // starts near the goal than uniform in area: a reverse curriculum's data (reach the goal from
  // nearby first), for a critic that otherwise sees almost no success early on.
  Range<T> free_start_goal_distance = {T(0), T(0)};

  template <typename U>
  DMPC_HD TaskParams<U> cast() const {
    TaskParams<U> r;
    r.arena_half_x = U(arena_half_x);
    r.arena_half_y = U(arena_half_y);
    r.wall_count = wall_count;
    for (int i = 0; i < kMaxWalls; ++i)
      r.walls[i] = {U(walls[i].x0), U(walls[i].y0), U(walls[i].x1), U(walls[i].y1),
                    U(walls[i].thickness)};
    r.robot_clearance = U(robot_clearance);
    r.duration = U(duration);
    r.control_period = U(control_period);
    r.steps_per_episode = steps_per_episode;
    r.substeps = substeps;
    r.cost = cost;
    r.binary_goal_radius = U(binary_goal_radius);
    r.success_radius = U(success_radius);
    r.penalty = U(penalty);
    r.fall_angle = U(fall_angle);
    r.input_limit = U(input_limit);
    r.start_x = {U(start_x.lo), U(start_x.hi)};
    r.start_y = {U(start_y.lo), U(start_y.hi)};
    r.goal_x = {U(goal_x.lo), U(goal_x.hi)};
    r.goal_y = {U(goal_y.lo), U(goal_y.hi)};
    r.free_start_fraction = U(free_start_fraction);
    r.free_start_time_left = {U(free_start_time_left.lo), U(free_start_time_left.hi)};
    r.free_start_margin = U(free_start_margin);
    r.free_start_speed = U(free_start_speed);
    r.free_start_goal_distance = {U(free_start_goal_distance.lo), U(free_start_goal_distance.hi)};
    return r;
  }
};

// Distance from point (px, py) to the segment's centre line.
template <typename T>
DMPC_HD T distance_to_segment(const WallSegment<T>& w, T px, T py) {
  const T dx = w.x1 - w.x0, dy = w.y1 - w.y0;
  const T len2 = dx * dx + dy * dy;
  T s = len2 > T(0) ? ((px - w.x0) * dx + (py - w.y0) * dy) / len2 : T(0);
  s = clamp(s, T(0), T(1));
  const T ex = px - (w.x0 + s * dx), ey = py - (w.y0 + s * dy);
  return sqrt(ex * ex + ey * ey);
}

// How far from a wall's centre line its collision zone reaches: half its thickness plus the
// body's overhang.
template <typename T>
DMPC_HD T collision_radius(const TaskParams<T>& task, const WallSegment<T>& w) {
  return T(0.5) * w.thickness + task.robot_clearance;
}

// Touching counts as a collision: the robot collides when its ball centre comes within
// (inclusive) robot_clearance of a wall's surface. A positive margin widens every wall's zone.
template <typename T>
DMPC_HD bool hits_wall(const TaskParams<T>& task, T px, T py, T margin = T(0)) {
  for (int i = 0; i < task.wall_count; ++i) {
    const WallSegment<T>& w = task.walls[i];
    if (distance_to_segment(w, px, py) <= collision_radius(task, w) + margin)
      return true;
  }
  return false;
}

// On the arena's edge is still inside; leaving it is a collision. A positive margin shrinks
// the arena.
template <typename T>
DMPC_HD bool outside_arena(const TaskParams<T>& task, T px, T py, T margin = T(0)) {
  return fabs(px) > task.arena_half_x - margin || fabs(py) > task.arena_half_y - margin;
}

template <typename T>
DMPC_HD T goal_distance(T px, T py, T gx, T gy) {
  const T dx = px - gx, dy = py - gy;
  return sqrt(dx * dx + dy * dy);
}

// Running cost q per second; the terminal cost q_f follows the same rule at T.
template <typename T>
DMPC_HD T running_cost(const TaskParams<T>& task, T px, T py, T gx, T gy) {
  const T d = goal_distance(px, py, gx, gy);
  if (task.cost == CostKind::kBinary) return d <= task.binary_goal_radius ? T(0) : T(1);
  return d;
}

template <typename T>
DMPC_HD T terminal_cost(const TaskParams<T>& task, T px, T py, T gx, T gy) {
  return running_cost(task, px, py, gx, gy);
}

// Why the state (px, py, tilt) ends an episode, or kRunning. Collisions take precedence over falls.
template <typename T>
DMPC_HD EndReason termination(const TaskParams<T>& task, T px, T py, T tilt) {
  if (outside_arena(task, px, py)) return EndReason::kOutOfArena;
  if (hits_wall(task, px, py)) return EndReason::kWallCollision;
  if (tilt > task.fall_angle) return EndReason::kFall;
  return EndReason::kRunning;
}

template <typename T>
DMPC_HD T sample_range(const Range<T>& r, uint32_t bits) {
  return r.lo + (r.hi - r.lo) * uniform_open01<T>(bits);
}

// A direction in the plane, uniform on [0, 2π).
template <typename T>
DMPC_HD T sample_angle(uint32_t bits) {
  return T(6.283185307179586) * uniform_open01<T>(bits);
}

// Where and when an episode starts, and its goal.
template <typename T>
struct EpisodeStart {
  T x, y;            // start position (balancing)
  T vx = T(0), vy = T(0);  // start velocity of the ball (exploring starts only; else at rest)
  T goal_x, goal_y;
  int32_t step = 0;  // control steps already elapsed: the episode has T − step·δt left
};

// True when (px, py) is at least `margin` clear of every wall's collision zone and of the edge.
template <typename T>
DMPC_HD bool clear_of_obstacles(const TaskParams<T>& task, T px, T py, T margin) {
  return !outside_arena(task, px, py, margin) && !hits_wall(task, px, py, margin);
}

// Start and goal of a training episode, drawn with the counter (env id, episode): the same for
// every batch size, thread count and backend. The first Philox block gives the task's start and
// goal; with exploring starts, further blocks decide whether this episode starts elsewhere and
// where (rejection sampling of a free position, at most 16 tries, else the task's start).
template <typename T>
DMPC_HD EpisodeStart<T> sample_episode(const TaskParams<T>& task, uint64_t seed, uint32_t env_id,
                                       uint32_t episode) {
  const PhiloxCounter bits = philox4x32_10(
      philox_counter(env_id, episode, 0, 0, RandomStream::kEpisodeSample), philox_key(seed));
  EpisodeStart<T> s;
  s.x = sample_range(task.start_x, bits.c[0]);
  s.y = sample_range(task.start_y, bits.c[1]);
  s.goal_x = sample_range(task.goal_x, bits.c[2]);
  s.goal_y = sample_range(task.goal_y, bits.c[3]);
  if (!(task.free_start_fraction > T(0))) return s;
  for (uint32_t attempt = 1; attempt <= 16; ++attempt) {
    const PhiloxCounter free = philox4x32_10(
        philox_counter(env_id, episode, attempt, 0, RandomStream::kEpisodeSample), philox_key(seed));
    if (attempt == 1 && !(uniform_open01<T>(free.c[0]) < task.free_start_fraction)) return s;
    T px, py;
    if (task.free_start_goal_distance.hi > T(0)) {  // round the goal, uniform in distance
      const T distance = sample_range(task.free_start_goal_distance, free.c[1]);
      const T direction = sample_angle<T>(free.c[2]);
      px = s.goal_x + distance * cos(direction);
      py = s.goal_y + distance * sin(direction);
    } else {  // uniform over the arena
      px = sample_range(Range<T>{-task.arena_half_x, task.arena_half_x}, free.c[1]);
      py = sample_range(Range<T>{-task.arena_half_y, task.arena_half_y}, free.c[2]);
    }
    if (!clear_of_obstacles(task, px, py, task.free_start_margin)) continue;
    const T time_left = sample_range(task.free_start_time_left, free.c[3]);
    const int32_t step =
        clamp(static_cast<int32_t>(floor((task.duration - time_left) / task.control_period)),
              -3 * task.steps_per_episode, task.steps_per_episode - 1);
    s.x = px;
    s.y = py;
    s.step = step;
    if (task.free_start_speed > T(0)) {
      // A separate Philox block (field 1 = 1), so the positions above do not depend on the speed.
      const PhiloxCounter motion = philox4x32_10(
          philox_counter(env_id, episode, attempt, 1, RandomStream::kEpisodeSample), philox_key(seed));
      const T speed = task.free_start_speed * uniform_open01<T>(motion.c[0]);
      const T heading = sample_angle<T>(motion.c[1]);
      s.vx = speed * cos(heading);
      s.vy = speed * sin(heading);
    }
    return s;
  }
  return s;
}

}  // namespace dmpc
