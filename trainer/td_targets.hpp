// Critic targets from one environment's episode (shared/spec/dmpc.md, "Critic"), n-step.
//
// An episode is a sequence of transitions t = 0 … T−1 with time left τ_t, state s_t, stage cost
// c_t·δt, next state s_{t+1}, and on the last one the reason it ended and its terminal cost
// (penalty, or q_f(s_T)). The paper's one-step target (n = 1) is
//
//   y_t = c_t δt + γ^δt · V̂⁻(τ_t − δt, s_{t+1}, g)     the episode goes on
//   y_t = c_t δt + penalty                              collision or fall (or the dynamics failed)
//   y_t = c_t δt + γ^δt · q_f(s_{t+1}, g)                time is up
//
// The n-step target sums n stage costs before bootstrapping, and stops at the episode's end:
//
//   y_t = Σ_{i<m} γ^(i δt) c_{t+i} δt + γ^((m−1) δt) · E_{t+m−1}        (ends within n: m ≤ n)
//   y_t = Σ_{i<n} γ^(i δt) c_{t+i} δt + γ^(n δt) · V̂⁻(τ_{t+n}, s_{t+n}, g)   (otherwise)
//
// where E is the terminal part of the last transition's one-step target (penalty, or γ^δt q_f).
// The bootstrap value needs the target network, so a target is stored as
// (partial sum, whether to bootstrap, its discount, the bootstrap input).
#pragma once

#include <cmath>
#include <vector>

#include "envs/task/task.hpp"

namespace dmpc {

struct EpisodeStep {
  double tau;            // time left at s_t
  double stage_cost;     // c_t · δt
  double terminal_cost;  // penalty or q_f on the last transition, else 0
  EndReason reason;      // kRunning except on the last transition
};

struct TdTarget {
  double partial;         // the discounted costs and, when the episode ends, its terminal part
  bool bootstrap;         // add discount · V̂⁻(τ_boot, s_boot, g)
  double discount;        // γ^(n δt) when bootstrapping
  int boot_step;          // index of s_boot: t + n (states are s_0 … s_T)
  double boot_tau;        // τ_{t+n}
};

// Targets for every transition of one episode. `gamma` per second, `dt` the control period.
inline std::vector<TdTarget> n_step_targets(const std::vector<EpisodeStep>& ep, int n, double gamma,
                                            double dt) {
  const int T = static_cast<int>(ep.size());
  const double step_discount = std::pow(gamma, dt);
  std::vector<TdTarget> out(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) {
    TdTarget y{0.0, false, 0.0, 0, 0.0};
    double discount = 1.0;
    int i = 0;
    for (; i < n && t + i < T; ++i) {
      const EpisodeStep& s = ep[static_cast<size_t>(t + i)];
      y.partial += discount * s.stage_cost;
      if (s.reason != EndReason::kRunning) {
        // Terminal part: the penalty as it is; q_f at time-out one step discounted.
        const double terminal = s.reason == EndReason::kTimeout ? step_discount * s.terminal_cost
                                                                : s.terminal_cost;
        y.partial += discount * terminal;
        break;
      }
      discount *= step_discount;
    }
    const bool ended = i < n && t + i < T;
    if (!ended) {
      // Either n steps passed, or the episode was cut short without an ending (not expected:
      // episodes run until they end). Bootstrap from s_{t+i}.
      y.bootstrap = true;
      y.discount = discount;
      y.boot_step = t + i;
      y.boot_tau = ep[static_cast<size_t>(t)].tau - i * dt;
    }
    out[static_cast<size_t>(t)] = y;
  }
  return out;
}

}  // namespace dmpc
