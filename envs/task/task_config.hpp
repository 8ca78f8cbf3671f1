// Reading the environment and task sections of a configuration (configs/default.toml documents
// every key with its default; the defaults below are the same numbers, from shared/spec/task.md).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config_reader.hpp"
#include "envs/task/episode.hpp"
#include "envs/task/task.hpp"

namespace dmpc {

struct EnvConfig {
  uint64_t seed = 1;
  std::string system = "ballbot";    // ballbot | point_mass
  int64_t batch = 32;                // parallel environments
  int64_t threads = 0;               // CPU worker threads, 0 = all cores
  double process_noise = 4e-4;       // λ in Σ = λ R⁻¹ (with R = 0.1·I: the paper's 2e-3 with R = 0.5·I)
  std::vector<double> input_weight;  // diagonal of R for the chosen system
  TaskParams<double> task;           // input_limit is the chosen system's
  // evaluation: fixed starts, one goal, no noise unless asked
  std::array<double, 2> eval_goal = {0.0, 0.8};
  std::vector<std::array<double, 2>> eval_starts;
  double eval_process_noise = 0.0;
};

// Reads `seed`, [env] and [task]; the caller calls reader.finish() once every section is read.
EnvConfig read_env_config(ConfigReader& reader);

// The task's eight evaluation starts (py = −0.8, px from −1.05 to 1.05).
std::vector<std::array<double, 2>> default_eval_starts();

// L with L Lᵀ = λ R⁻¹ for diagonal R (weights r_i > 0): L = diag(√(λ / r_i)).
template <int NU>
NoiseModel<double, NU> make_noise_model(double lambda, const std::vector<double>& input_weight) {
  NoiseModel<double, NU> noise;
  noise.enabled = lambda > 0.0;
  for (int i = 0; i < NU; ++i) noise.chol_sigma(i, i) = std::sqrt(lambda / input_weight.at(i));
  return noise;
}

// Input dimension of a system by name (2 or 3); throws ConfigError for an unknown name.
int input_dim(const std::string& system);
int state_dim(const std::string& system);
// State index of the ball's velocity x (y follows it): 5 for the Ballbot, 2 for the point mass.
int velocity_index(const std::string& system);
// The state index of the body's yaw (pitch and roll follow it), or −1 for a system without a body.
int body_index(const std::string& system);

}  // namespace dmpc
