// B environments of the task stepped together on the CPU (thread pool).
//
// Buffers are struct-of-arrays in the layout the CUDA backend uses: inputs u[batch][nu];
// per-environment results stage_cost[batch], terminal_cost[batch], reason[batch].
// Environment i has id first_env_id + i: its starts, goals and noise depend on (seed, id, episode,
// step) only, so the same id gives the same trajectory in any batch size or thread count.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "envs/task/episode.hpp"
#include "envs/task/task.hpp"

namespace dmpc {

template <typename System>
class BatchEnv {
 public:
  using T = typename System::Scalar;
  static constexpr int kNx = System::kStateDim;
  static constexpr int kNu = System::kInputDim;

  BatchEnv(const System& sys, const TaskParams<T>& task, const NoiseModel<T, kNu>& noise,
           uint64_t seed, size_t batch, ThreadPool& pool, uint32_t first_env_id = 0)
      : sys_(sys), task_(task), noise_(noise), seed_(seed), first_env_id_(first_env_id),
        pool_(pool), episodes_(batch), stage_cost_(batch), terminal_cost_(batch),
        reason_(batch) {}

  size_t size() const { return episodes_.size(); }

  // Starts and goals sampled from the task's ranges with the counter (env id, episode).
  void reset(uint32_t episode) {
    pool_.parallel_for(size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const uint32_t id = first_env_id_ + static_cast<uint32_t>(i);
        const EpisodeStart<T> s = sample_episode(task_, seed_, id, episode);
        begin_episode(sys_, episodes_[i], id, episode, s.x, s.y, s.goal_x, s.goal_y, s.step, s.vx, s.vy);
      }
    });
  }

  // Given start positions (one per environment) and one goal, e.g. the evaluation set.
  void reset_to(const std::vector<std::array<T, 2>>& starts, T goal_x, T goal_y,
                uint32_t episode) {
    if (starts.size() != size())
      throw std::invalid_argument("reset_to: " + std::to_string(starts.size()) +
                                  " starts for a batch of " + std::to_string(size()));
    for (size_t i = 0; i < size(); ++i)
      begin_episode(sys_, episodes_[i], first_env_id_ + static_cast<uint32_t>(i), episode,
                    starts[i][0], starts[i][1], goal_x, goal_y);
  }

  // One control step of every environment under inputs[batch][nu]. A non-finite input is
  // rejected before anything is stepped, naming the environment and the input.
  void step(const T* inputs) {
    for (size_t i = 0; i < size(); ++i)
      for (int j = 0; j < kNu; ++j)
        if (!is_finite(inputs[i * kNu + j]))
          throw std::invalid_argument("environment " + std::to_string(i) + ": input " +
                                      std::to_string(j) + " is not finite");
    pool_.parallel_for(size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        typename System::Input u;
        for (int j = 0; j < kNu; ++j) u[j] = inputs[i * kNu + j];
        const StepOutcome<T> out = step_episode(sys_, task_, noise_, seed_, episodes_[i], u);
        stage_cost_[i] = out.stage_cost;
        terminal_cost_[i] = out.terminal_cost;
        reason_[i] = out.reason;
      }
    });
  }

  bool all_done() const {
    for (const Episode<System>& ep : episodes_)
      if (ep.reason == EndReason::kRunning) return false;
    return true;
  }

  const Episode<System>& episode(size_t i) const { return episodes_[i]; }
  bool succeeded(size_t i) const { return episode_succeeded(sys_, task_, episodes_[i]); }
  const std::vector<T>& stage_cost() const { return stage_cost_; }
  const std::vector<T>& terminal_cost() const { return terminal_cost_; }
  const std::vector<EndReason>& reason() const { return reason_; }
  const System& system() const { return sys_; }
  const TaskParams<T>& task() const { return task_; }

 private:
  System sys_;
  TaskParams<T> task_;
  NoiseModel<T, kNu> noise_;
  uint64_t seed_;
  uint32_t first_env_id_;
  ThreadPool& pool_;
  std::vector<Episode<System>> episodes_;
  std::vector<T> stage_cost_, terminal_cost_;
  std::vector<EndReason> reason_;
};

}  // namespace dmpc
