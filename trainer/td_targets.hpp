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
#include <cstdint>
#include <vector>

#include "core/hd.hpp"
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

// The target of transition t of an episode of `length` transitions; at(k) gives transition k's
// stage_cost, terminal_cost and reason (an EpisodeStep, or a view of the GPU's records), so the
// CPU trainer and the GPU kernel (cuda/replay_insert) compute targets with this one routine.
// step_discount = γ^δt.
template <typename T>
struct NStepTarget {
  T partial;
  bool bootstrap;
  T discount;
  int boot_step;
  T boot_tau;
};

template <typename T, typename At>
DMPC_HD NStepTarget<T> n_step_target(const At& at, int length, int t, int n, T step_discount, T tau_t, T dt) {
  NStepTarget<T> y{T(0), false, T(0), 0, T(0)};
  T discount = T(1);
  int i = 0;
  for (; i < n && t + i < length; ++i) {
    const auto s = at(t + i);
    y.partial += discount * T(s.stage_cost);
    if (s.reason != EndReason::kRunning) {
      // Terminal part: the penalty as it is; q_f at time-out one step discounted.
      const T terminal = s.reason == EndReason::kTimeout ? step_discount * T(s.terminal_cost) : T(s.terminal_cost);
      y.partial += discount * terminal;
      break;
    }
    discount *= step_discount;
  }
  if (!(i < n && t + i < length)) {
    // Either n steps passed, or the episode was cut short without an ending (not expected:
    // episodes run until they end). Bootstrap from s_{t+i}.
    y.bootstrap = true;
    y.discount = discount;
    y.boot_step = t + i;
    y.boot_tau = tau_t - T(i) * dt;
  }
  return y;
}

// The ring slot of the g-th (0-based) of `total` transitions appended to a replay ring of
// `capacity` whose next write position is `next`, or −1 when it does not survive (more arrived
// than the ring holds: only the newest `capacity` are kept). The ring ends as if the transitions
// had been appended one by one (next moves on by `total`), whether they are written in parallel
// (cuda/device_rollout) or in chunks (ReplayBuffer::add).
DMPC_HD int64_t replay_slot(int64_t g, int64_t total, int64_t next, int64_t capacity) {
  const int64_t skip = total > capacity ? total - capacity : 0;
  return g < skip ? -1 : (next + g) % capacity;
}

// Targets for every transition of one episode. `gamma` per second, `dt` the control period.
inline std::vector<TdTarget> n_step_targets(const std::vector<EpisodeStep>& ep, int n, double gamma,
                                            double dt) {
  const int T = static_cast<int>(ep.size());
  const double step_discount = std::pow(gamma, dt);
  const auto at = [&](int k) -> const EpisodeStep& { return ep[static_cast<size_t>(k)]; };
  std::vector<TdTarget> out(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) {
    const NStepTarget<double> y =
        n_step_target(at, T, t, n, step_discount, ep[static_cast<size_t>(t)].tau, dt);
    out[static_cast<size_t>(t)] = {y.partial, y.bootstrap, y.discount, y.boot_step, y.boot_tau};
  }
  return out;
}

}  // namespace dmpc
